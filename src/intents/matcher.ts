/**
 * IntentMatcher: text in, intent with slots and resolved target entities out, in well under a
 * millisecond for typical sentences. Templates of both languages are compiled once; the
 * catalogue's names and areas live in token tries that {@link IntentMatcher.rebuild} refreshes
 * without recompiling any template.
 *
 * Choosing between parses: a custom sentence beats a built-in one; an exact entity name beats an
 * area plus a device word ("turn on the kitchen light" is the entity "Kitchen Light" when it
 * exists, all lights in the kitchen otherwise); a parse whose targets do not exist or lack the
 * capability is dropped, so an unknown name is a miss and goes to the LLM.
 */
import { BUILTIN_EN } from './builtin-en';
import { BUILTIN_ZH } from './builtin-zh';
import { parseCustomSentences, type CustomSentences } from './custom';
import { IntentError } from './errors';
import { SkipWords, hasHan, tokenize } from './normalize';
import { spellEnglishNumber } from './numbers';
import { joinNames, renderResponse } from './response';
import {
  RuleSet,
  SlotListIndex,
  TokenTreeBuilder,
  compileTemplate,
  newMatchState,
  runTemplate,
  type CompiledTemplate,
  type ListEntry,
  type SlotCapture,
  type TokenNode,
} from './template';
import type { IntentCatalogue, IntentEntity, IntentLanguage, IntentLanguagePack, IntentMatch, IntentSentenceGroup } from './types';

/** Options of {@link IntentMatcher}. */
export interface IntentMatcherOptions {
  /** Languages to match (and their built-in sentences). */
  languages: IntentLanguage[];
  catalogue: IntentCatalogue;
  /** Custom sentences, lists and expansion rules as YAML (see custom.ts). */
  custom?: string;
  /** Leave out the built-in home intents (only custom sentences). Default false. */
  noBuiltins?: boolean;
  /** Work budget of one match call (template steps); bounds worst-case latency. Default 50,000. */
  stepBudget?: number;
}

/** What the caller knows about where the sentence was spoken. */
export interface MatchContext {
  /** Area of the voice device: "turn on the lights" then means the lights of this area. */
  area?: string;
}

/** A compiled sentence with the group it belongs to. */
export interface CompiledSentence {
  template: CompiledTemplate;
  group: IntentSentenceGroup;
  custom: boolean;
  /** The group's target mode after defaults. */
  target: 'entities' | 'none' | 'all';
}

/** Everything of one language. */
export interface LanguageRuntime {
  language: IntentLanguage;
  skip: SkipWords;
  rules: RuleSet;
  lists: SlotListIndex;
  sentences: CompiledSentence[];
}

const PACKS: Readonly<Record<IntentLanguage, IntentLanguagePack>> = { en: BUILTIN_EN, zh: BUILTIN_ZH };
const CATALOGUE_LISTS = ['name', 'area'] as const;

interface Candidate {
  sentence: CompiledSentence;
  captures: SlotCapture[];
}

interface Resolved {
  match: IntentMatch;
  score: number;
}

/** Matches sentences against built-in and custom intent templates. */
export class IntentMatcher {
  private readonly catalogue: IntentCatalogue;
  private readonly runtimes = new Map<IntentLanguage, LanguageRuntime>();
  private readonly stepBudget: number;
  private entitiesById = new Map<string, IntentEntity>();
  private allEntities: IntentEntity[] = [];

  /**
   * Compile templates and load the catalogue.
   * @throws IntentError for malformed custom YAML or templates (with the YAML line when known).
   */
  constructor(opts: IntentMatcherOptions) {
    if (!Array.isArray(opts.languages) || opts.languages.length === 0) {
      throw new IntentError('bad_option', 'languages must list at least one of "en", "zh"');
    }
    for (const language of opts.languages) {
      if (!(language in PACKS)) throw new IntentError('bad_option', `unsupported language "${String(language)}" (expected "en" or "zh")`);
    }
    this.catalogue = opts.catalogue;
    this.stepBudget = opts.stepBudget ?? 50_000;
    const custom = opts.custom ? parseCustomSentences(opts.custom) : undefined;
    for (const language of new Set(opts.languages)) {
      this.runtimes.set(language, buildRuntime(PACKS[language], custom, opts.noBuiltins ?? false));
    }
    this.rebuild();
  }

  /** Languages this matcher serves, in the order given. */
  get languages(): IntentLanguage[] {
    return [...this.runtimes.keys()];
  }

  /** @internal compiled sentences and lists of a language (grammar generation, tests). */
  runtime(language: IntentLanguage): LanguageRuntime | undefined {
    return this.runtimes.get(language);
  }

  /** Entities as of the last {@link rebuild}. */
  entities(): readonly IntentEntity[] {
    return this.allEntities;
  }

  /** Re-read the catalogue (names, aliases, areas). Call when devices appear, change or go. */
  rebuild(): void {
    const entities = this.catalogue.entities();
    this.allEntities = [...entities];
    this.entitiesById = new Map(entities.map((e) => [e.id, e]));
    const areas = new Map<string, string>();
    for (const area of [...this.catalogue.areas(), ...entities.map((e) => e.area)]) {
      if (area && area.trim()) areas.set(areaKey(area), areas.get(areaKey(area)) ?? area);
    }
    for (const runtime of this.runtimes.values()) {
      const names: ListEntry[] = [];
      for (const entity of entities) {
        for (const said of [entity.name, ...(entity.aliases ?? [])]) {
          if (!said || !said.trim()) continue;
          names.push({ text: said, value: entity.name, ids: [entity.id] });
          // "Lamp 2" is heard as "lamp two".
          if (runtime.language === 'en' && /\d/.test(said)) {
            const spoken = said.replace(/\d+/g, (digits) => ` ${spellEnglishNumber(Number(digits))} `);
            names.push({ text: spoken, value: entity.name, ids: [entity.id] });
          }
        }
      }
      runtime.lists.setEntries('name', names);
      runtime.lists.setEntries('area', [...areas.values()].map((area) => ({ text: area, value: area })));
    }
  }

  /**
   * Match one sentence. Without `language`, a sentence with Chinese characters tries Chinese
   * first, anything else English first. Returns undefined on a miss (hand it to the LLM).
   */
  match(text: string, language?: IntentLanguage, context: MatchContext = {}): IntentMatch | undefined {
    const order: IntentLanguage[] = language
      ? [language]
      : hasHan(text)
        ? ['zh', 'en']
        : ['en', 'zh'];
    const raw = tokenize(text);
    if (raw.length === 0) return undefined;
    for (const lang of order) {
      const runtime = this.runtimes.get(lang);
      if (!runtime) continue;
      const best = this.matchIn(runtime, raw, text, context);
      if (best) return best;
    }
    return undefined;
  }

  private matchIn(runtime: LanguageRuntime, raw: readonly string[], text: string, context: MatchContext): IntentMatch | undefined {
    const stripped = runtime.skip.strip(raw);
    const tokens = stripped.length > 0 ? stripped : [...raw];
    const present = new Set(tokens);
    const st = newMatchState(tokens, this.stepBudget);
    let best: Resolved | undefined;
    for (const sentence of runtime.sentences) {
      const { template } = sentence;
      if (tokens.length < template.minTokens) continue;
      let missing = false;
      for (const token of template.mandatory) {
        if (!present.has(token)) {
          missing = true;
          break;
        }
      }
      if (missing) continue;
      for (const captures of runTemplate(template, st)) {
        const resolved = this.resolve({ sentence, captures }, runtime.language, tokens, text, context);
        if (resolved && (!best || resolved.score > best.score)) best = resolved;
      }
      if (st.aborted) break;
    }
    return best?.match;
  }

  private resolve(candidate: Candidate, language: IntentLanguage, tokens: readonly string[], text: string, context: MatchContext): Resolved | undefined {
    const { sentence, captures } = candidate;
    const { group } = sentence;
    const slots: Record<string, string | number> = { ...(group.slots ?? {}) };
    const slotText: Record<string, string> = {};
    let nameCapture: SlotCapture | undefined;
    let areaCapture: SlotCapture | undefined;
    let domainSpoken = false;
    let slotTokens = 0;
    for (const capture of captures) {
      slots[capture.slot] = capture.value;
      slotText[capture.slot] = capture.text;
      slotTokens += tokenize(capture.text).length;
      if (capture.list === 'name' && capture.slot === 'name') nameCapture = capture;
      else if (capture.list === 'area' && capture.slot === 'area') areaCapture = capture;
      else if (capture.slot === 'domain') domainSpoken = true;
    }

    const requires = group.requires;
    const domain = typeof slots.domain === 'string' ? slots.domain : undefined;
    const passes = (entity: IntentEntity, useDomain: boolean): boolean => {
      if (requires?.domains && !requires.domains.includes(entity.domain)) return false;
      if (requires?.capability && entity.capabilities?.[requires.capability] !== true) return false;
      if (useDomain && domain !== undefined && entity.domain !== domain) return false;
      return true;
    };

    let entities: IntentEntity[] = [];
    let score: number;
    if (sentence.target === 'none') {
      score = 15;
    } else if (nameCapture) {
      entities = (nameCapture.ids ?? []).map((id) => this.entitiesById.get(id)).filter((e): e is IntentEntity => e !== undefined);
      if (areaCapture) {
        const key = areaKey(String(areaCapture.value));
        entities = entities.filter((e) => e.area !== undefined && areaKey(e.area) === key);
      }
      entities = entities.filter((e) => passes(e, domainSpoken));
      score = areaCapture ? 35 : 40;
    } else if (areaCapture) {
      const key = areaKey(String(areaCapture.value));
      entities = this.allEntities.filter((e) => e.area !== undefined && areaKey(e.area) === key && passes(e, true));
      score = 20;
    } else if (sentence.target === 'all') {
      entities = this.allEntities.filter((e) => passes(e, true));
      if (group.useContextArea && context.area) {
        const key = areaKey(context.area);
        const here = entities.filter((e) => e.area !== undefined && areaKey(e.area) === key);
        if (here.length > 0) {
          entities = here;
          slots.area = here[0]?.area ?? context.area;
        }
      }
      score = 10;
    } else {
      return undefined;
    }
    if (sentence.target !== 'none' && entities.length === 0) return undefined;

    if (nameCapture && entities[0]) slots.name = entities[0].name;
    if (sentence.custom) score += 100;
    if (requires?.domains) score += 5;
    // More words matched literally (fewer by slots) is the more specific sentence.
    score += (tokens.length - slotTokens) * 0.01;

    const match: IntentMatch = { intent: group.intent, slots, entities, language, text, slotText };
    if (group.response !== undefined) {
      const values: Record<string, string | number> = { ...slots };
      for (const capture of captures) {
        // Spoken words read better than canonical values in a reply ("warm white", not 2700);
        // spoken numbers become digits so "五十" and "50" give the same reply.
        if (capture.slot !== 'name' && capture.slot !== 'area' && !capture.spokenNumber) values[capture.slot] = capture.text;
      }
      if (nameCapture) values.name = joinNames(unique(entities.map((e) => e.name)), language);
      match.response = renderResponse(group.response, values);
    }
    return { match, score };
  }
}

function buildRuntime(pack: IntentLanguagePack, custom: CustomSentences | undefined, noBuiltins: boolean): LanguageRuntime {
  const skip = new SkipWords(pack.skipWords);
  const rules = new RuleSet(pack.rules);
  for (const [name, source] of Object.entries(custom?.rules ?? {})) rules.set(name, source);
  const lists = new SlotListIndex(skip, rules);
  for (const name of CATALOGUE_LISTS) lists.setEntries(name, []);
  for (const [name, list] of Object.entries(pack.lists)) lists.setList(name, list);
  for (const [name, list] of Object.entries(custom?.lists ?? {})) {
    try {
      lists.setList(name, list);
    } catch (err) {
      throw withLine(err, custom?.listLines[name], `list ${name}`);
    }
  }
  const builder = new TokenTreeBuilder(rules, skip, (name) => lists.has(name));
  const sentences: CompiledSentence[] = [];
  // Custom sentences first: on equal score the earlier one wins, and custom ones also score higher.
  for (const customGroup of custom?.groups ?? []) {
    if (customGroup.language !== pack.language) continue;
    customGroup.group.sentences.forEach((source, i) => {
      try {
        const template = compileTemplate(source, builder, lists);
        sentences.push({ template, group: customGroup.group, custom: true, target: targetOf(customGroup.group, template.tree) });
      } catch (err) {
        throw withLine(err, customGroup.lines[i], `intent ${customGroup.group.intent}`);
      }
    });
  }
  if (!noBuiltins) {
    for (const group of pack.groups) {
      for (const source of group.sentences) {
        const template = compileTemplate(source, builder, lists);
        sentences.push({ template, group, custom: false, target: targetOf(group, template.tree) });
      }
    }
  }
  return { language: pack.language, skip, rules, lists, sentences };
}

function targetOf(group: IntentSentenceGroup, tree: readonly TokenNode[]): 'entities' | 'none' | 'all' {
  if (group.target) return group.target;
  return usesSlot(tree, (slot) => slot === 'name' || slot === 'area') ? 'entities' : 'none';
}

function usesSlot(tree: readonly TokenNode[], test: (slot: string) => boolean): boolean {
  return tree.some((node) =>
    node.kind === 'slot' ? test(node.slot) : node.kind === 'alt' ? node.options.some((o) => usesSlot(o, test)) : false,
  );
}

function withLine(err: unknown, line: number | undefined, where: string): unknown {
  if (!(err instanceof IntentError) || err.line !== undefined) return err;
  const prefix = line ? `custom sentences line ${line} (${where})` : `custom sentences (${where})`;
  return new IntentError(err.code, `${prefix}: ${err.message}`, { line, cause: err });
}

function areaKey(area: string): string {
  return tokenize(area).join(' ');
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
