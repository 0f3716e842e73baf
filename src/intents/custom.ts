/**
 * Custom sentences in YAML, close to Home Assistant's custom_sentences files:
 *
 * ```yaml
 * language: en                      # optional; otherwise each sentence's language is detected
 * intents:
 *   WaterPlants:
 *     sentences: ["water the {plant}", "给{plant}浇水"]
 *     response: "Watering the {plant}"          # or {en: "...", zh: "..."}
 *     slots: {kind: garden}                     # fixed slots, optional
 *   PartyMode:
 *     sentences: {en: ["party time"], zh: ["开派对"]}
 *     response: {en: "Let's party", zh: "派对开始"}
 *     requires: {domain: light, capability: color}   # optional target filter
 *     target: all                               # entities | none | all
 * lists:
 *   plant: [roses, {in: "(tomato|tomatoes)", out: tomato}]   # or {values: [...]}
 *   level: {range: {from: 1, to: 10}}
 * expansion_rules:
 *   water: "(water|sprinkle)"
 * ```
 * Errors name the line of the offending entry.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { IntentError } from './errors';
import { hasHan } from './normalize';
import type { IntentCapabilityName, IntentLanguage, IntentSentenceGroup, IntentSlotList } from './types';

/** One custom sentence group for one language, with the YAML line of each sentence. */
export interface CustomGroup {
  language: IntentLanguage;
  group: IntentSentenceGroup;
  lines: number[];
}

/** Parsed custom sentences. */
export interface CustomSentences {
  groups: CustomGroup[];
  lists: Record<string, IntentSlotList>;
  listLines: Record<string, number>;
  rules: Record<string, string>;
  ruleLines: Record<string, number>;
}

const LANGUAGES: readonly IntentLanguage[] = ['en', 'zh'];
const CAPABILITIES: readonly IntentCapabilityName[] = ['onOff', 'brightness', 'colorTemp', 'color', 'position', 'setpoint'];
const TARGETS = ['entities', 'none', 'all'] as const;

/**
 * Parse custom sentences YAML.
 * @throws IntentError('yaml_syntax' | 'yaml_schema') with `line` set when known.
 */
export function parseCustomSentences(text: string): CustomSentences {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const firstError = doc.errors[0];
  if (firstError) {
    const line = firstError.linePos?.[0]?.line ?? (firstError.pos ? lineCounter.linePos(firstError.pos[0]).line : undefined);
    throw new IntentError('yaml_syntax', `custom sentences${line ? ` line ${line}` : ''}: ${firstError.message.split('\n')[0] ?? ''}`, {
      line,
      cause: firstError,
    });
  }
  const lineOf = (node: unknown): number | undefined => {
    const range = (node as Node | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  const fail = (node: unknown, message: string): never => {
    const line = lineOf(node);
    throw new IntentError('yaml_schema', `custom sentences${line ? ` line ${line}` : ''}: ${message}`, { line });
  };

  const out: CustomSentences = { groups: [], lists: {}, listLines: {}, rules: {}, ruleLines: {} };
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return out;
  if (!isMap(root)) return fail(root, 'expected a mapping with "intents", "lists" and/or "expansion_rules"');

  let defaultLanguage: IntentLanguage | undefined;
  for (const pair of root.items) {
    const key = scalarString(pair.key);
    if (key === 'language') {
      const value = scalarString(pair.value);
      const language = normaliseLanguage(value);
      if (!language) fail(pair.value, `language must be "en" or "zh", not ${JSON.stringify(value)}`);
      defaultLanguage = language;
    } else if (key !== 'intents' && key !== 'lists' && key !== 'expansion_rules') {
      fail(pair.key, `unknown key "${String(key)}" (expected intents, lists, expansion_rules, language)`);
    }
  }

  const rules = root.get('expansion_rules', true);
  if (rules !== undefined && rules !== null) {
    if (!isMap(rules)) return fail(rules, 'expansion_rules must map rule names to templates');
    for (const pair of rules.items) {
      const name = scalarString(pair.key);
      const body = scalarString(pair.value);
      if (!name || body === undefined) fail(pair.key, 'an expansion rule needs a name and a template string');
      out.rules[name as string] = body as string;
      out.ruleLines[name as string] = lineOf(pair.value) ?? lineOf(pair.key) ?? 0;
    }
  }

  const lists = root.get('lists', true);
  if (lists !== undefined && lists !== null) {
    if (!isMap(lists)) return fail(lists, 'lists must map list names to values or a range');
    for (const pair of lists.items) {
      const name = scalarString(pair.key);
      if (!name) fail(pair.key, 'a list needs a name');
      out.lists[name as string] = parseList(pair.value, name as string, fail);
      out.listLines[name as string] = lineOf(pair.key) ?? 0;
    }
  }

  const intents = root.get('intents', true);
  if (intents !== undefined && intents !== null) {
    if (!isMap(intents)) return fail(intents, 'intents must map intent names to {sentences, response}');
    for (const pair of intents.items) {
      const intent = scalarString(pair.key);
      if (!intent) fail(pair.key, 'an intent needs a name');
      const body = pair.value;
      // HA style `data: [ {sentences...}, ... ]` or a single group.
      const groupsNode = isMap(body) && body.has('data') ? body.get('data', true) : body;
      const groupNodes = isSeq(groupsNode) ? groupsNode.items : [groupsNode];
      if (isSeq(groupsNode) && groupNodes.length === 0) fail(groupsNode, `intent ${intent}: data is empty`);
      for (const groupNode of groupNodes) {
        out.groups.push(...parseGroup(intent as string, groupNode, defaultLanguage, fail, lineOf));
      }
    }
  }
  return out;
}

type Fail = (node: unknown, message: string) => never;

function parseGroup(
  intent: string,
  node: unknown,
  defaultLanguage: IntentLanguage | undefined,
  fail: Fail,
  lineOf: (node: unknown) => number | undefined,
): CustomGroup[] {
  if (!isMap(node)) return fail(node, `intent ${intent}: expected {sentences, response}`);
  for (const pair of node.items) {
    const key = scalarString(pair.key);
    if (!['sentences', 'response', 'slots', 'requires', 'target'].includes(key ?? '')) {
      fail(pair.key, `intent ${intent}: unknown key "${String(key)}" (expected sentences, response, slots, requires, target)`);
    }
  }
  const sentencesNode = node.get('sentences', true);
  if (sentencesNode === undefined) fail(node, `intent ${intent}: "sentences" is missing`);
  // language -> [{sentence, line}]
  const byLanguage = new Map<IntentLanguage, { sentence: string; line: number }[]>();
  const add = (language: IntentLanguage, item: unknown): void => {
    const sentence = scalarString(item);
    if (sentence === undefined || sentence.trim() === '') fail(item, `intent ${intent}: a sentence must be a non-empty string`);
    const list = byLanguage.get(language) ?? [];
    list.push({ sentence: sentence as string, line: lineOf(item) ?? 0 });
    byLanguage.set(language, list);
  };
  if (isSeq(sentencesNode)) {
    for (const item of sentencesNode.items) add(defaultLanguage ?? (hasHan(scalarString(item) ?? '') ? 'zh' : 'en'), item);
  } else if (isMap(sentencesNode)) {
    for (const pair of sentencesNode.items) {
      const language = normaliseLanguage(scalarString(pair.key));
      if (!language) fail(pair.key, `intent ${intent}: sentence language must be "en" or "zh"`);
      if (!isSeq(pair.value)) fail(pair.value, `intent ${intent}: sentences of a language must be a list`);
      for (const item of (pair.value as { items: unknown[] }).items) add(language as IntentLanguage, item);
    }
  } else if (isScalar(sentencesNode) && typeof sentencesNode.value === 'string') {
    add(defaultLanguage ?? (hasHan(sentencesNode.value) ? 'zh' : 'en'), sentencesNode);
  } else {
    fail(sentencesNode, `intent ${intent}: sentences must be a list of strings`);
  }

  const responses = new Map<IntentLanguage, string>();
  const responseNode = node.get('response', true);
  if (responseNode !== undefined && responseNode !== null) {
    if (isMap(responseNode)) {
      for (const pair of responseNode.items) {
        const language = normaliseLanguage(scalarString(pair.key));
        const text = scalarString(pair.value);
        if (!language || text === undefined) fail(pair.key, `intent ${intent}: response must be a string or {en: ..., zh: ...}`);
        responses.set(language as IntentLanguage, text as string);
      }
    } else {
      const text = scalarString(responseNode);
      if (text === undefined) fail(responseNode, `intent ${intent}: response must be a string or {en: ..., zh: ...}`);
      for (const language of LANGUAGES) responses.set(language, text as string);
    }
  }

  const slots: Record<string, string | number> = {};
  const slotsNode = node.get('slots', true);
  if (slotsNode !== undefined && slotsNode !== null) {
    if (!isMap(slotsNode)) return fail(slotsNode, `intent ${intent}: slots must map names to values`);
    for (const pair of slotsNode.items) {
      const name = scalarString(pair.key);
      const value = isScalar(pair.value) ? pair.value.value : undefined;
      if (!name || (typeof value !== 'string' && typeof value !== 'number')) fail(pair.key, `intent ${intent}: a slot value must be a string or number`);
      slots[name as string] = value as string | number;
    }
  }

  let requires: IntentSentenceGroup['requires'];
  const requiresNode = node.get('requires', true);
  if (requiresNode !== undefined && requiresNode !== null) {
    if (!isMap(requiresNode)) return fail(requiresNode, `intent ${intent}: requires must be {domain, capability}`);
    requires = {};
    for (const pair of requiresNode.items) {
      const key = scalarString(pair.key);
      if (key === 'domain' || key === 'domains') {
        const values = isSeq(pair.value) ? pair.value.items.map(scalarString) : [scalarString(pair.value)];
        if (values.some((v) => !v)) fail(pair.value, `intent ${intent}: requires.domain must be a name or a list of names`);
        requires.domains = values as string[];
      } else if (key === 'capability') {
        const value = scalarString(pair.value) as IntentCapabilityName | undefined;
        if (!value || !CAPABILITIES.includes(value)) fail(pair.value, `intent ${intent}: capability must be one of ${CAPABILITIES.join(', ')}`);
        requires.capability = value;
      } else {
        fail(pair.key, `intent ${intent}: unknown requirement "${String(key)}" (expected domain, capability)`);
      }
    }
  }

  let target: IntentSentenceGroup['target'];
  const targetNode = node.get('target', true);
  if (targetNode !== undefined && targetNode !== null) {
    const value = scalarString(targetNode);
    if (!TARGETS.includes(value as (typeof TARGETS)[number])) fail(targetNode, `intent ${intent}: target must be one of ${TARGETS.join(', ')}`);
    target = value as IntentSentenceGroup['target'];
  }

  const groups: CustomGroup[] = [];
  for (const [language, items] of byLanguage) {
    const group: IntentSentenceGroup = { intent, sentences: items.map((i) => i.sentence) };
    if (Object.keys(slots).length > 0) group.slots = { ...slots };
    if (requires) group.requires = { ...requires };
    if (target) group.target = target;
    const response = responses.get(language);
    if (response !== undefined) group.response = response;
    groups.push({ language, group, lines: items.map((i) => i.line) });
  }
  return groups;
}

function parseList(node: unknown, name: string, fail: Fail): IntentSlotList {
  let valuesNode: unknown = node;
  if (isMap(node)) {
    const range = node.get('range', true) ?? (node.has('from') ? node : undefined);
    if (range !== undefined) {
      if (!isMap(range)) return fail(range, `list ${name}: range must be {from, to}`);
      const from = numberValue(range.get('from', true));
      const to = numberValue(range.get('to', true));
      const step = numberValue(range.get('step', true));
      if (from === undefined || to === undefined || from > to) fail(range, `list ${name}: range needs numbers from <= to`);
      return step === undefined ? { kind: 'range', from: from as number, to: to as number } : { kind: 'range', from: from as number, to: to as number, step };
    }
    valuesNode = node.get('values', true);
  }
  if (!isSeq(valuesNode)) return fail(node, `list ${name}: expected a list of values, {values: [...]} or {range: {from, to}}`);
  const values = valuesNode.items.map((item) => {
    if (isMap(item)) {
      const said = scalarString(item.get('in', true));
      const outNode = item.get('out', true);
      const out = isScalar(outNode) ? outNode.value : undefined;
      if (!said) fail(item, `list ${name}: a value needs "in"`);
      if (outNode !== undefined && typeof out !== 'string' && typeof out !== 'number') fail(item, `list ${name}: "out" must be a string or number`);
      return out === undefined ? { in: said as string } : { in: said as string, out: out as string | number };
    }
    const said = scalarString(item);
    if (!said) fail(item, `list ${name}: values must be strings or {in, out}`);
    return { in: said as string };
  });
  if (values.length === 0) fail(valuesNode, `list ${name} is empty`);
  return { kind: 'values', values };
}

function scalarString(node: unknown): string | undefined {
  if (!isScalar(node)) return undefined;
  const value = node.value;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function numberValue(node: unknown): number | undefined {
  return isScalar(node) && typeof node.value === 'number' ? node.value : undefined;
}

function normaliseLanguage(value: string | undefined): IntentLanguage | undefined {
  if (!value) return undefined;
  const lower = value.toLowerCase();
  if (lower === 'en' || lower.startsWith('en-')) return 'en';
  if (lower === 'zh' || lower.startsWith('zh-')) return 'zh';
  return undefined;
}
