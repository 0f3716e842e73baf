/**
 * The template language compiled to fast matchers. A template (syntax in template-parser.ts) is
 * turned once into a token-level tree (literal token runs, alternatives, slots), then into a
 * chain of closures that walk the input tokens with backtracking. Slots read their values from
 * a {@link SlotListIndex}: plain values sit in a token trie (hundreds of entity names cost one
 * walk, not one comparison each), template values are small compiled matchers, numbers are
 * parsed from the tokens in place. Nothing is expanded combinatorially.
 *
 * Tolerance comes from normalisation: input, template words and list values all go through the
 * same tokenizer and filler-word removal (normalize.ts).
 */
import { IntentError } from './errors';
import { SkipWords, tokenize } from './normalize';
import { MAX_NUMBER_TOKENS, canStartNumber, parseNumberTokens } from './numbers';
import { parseTemplate, type TemplateNode } from './template-parser';
import type { IntentSlotList } from './types';

export { parseTemplate, type TemplateNode } from './template-parser';

/** Token-level tree: what the matcher and the grammar expander walk. */
export type TokenNode =
  | { kind: 'lit'; tokens: string[] }
  | { kind: 'alt'; options: TokenNode[][]; optional: boolean }
  | { kind: 'slot'; list: string; slot: string; range?: { from: number; to: number } };

/** One slot filled during a match. */
export interface SlotCapture {
  slot: string;
  list: string;
  value: string | number;
  /** The input tokens the value was read from, joined (with no space between Han characters). */
  text: string;
  /** Entity ids when the list is the catalogue's name list. */
  ids?: readonly string[];
  /** True when the value was read as a spoken number (a range slot). */
  spokenNumber?: boolean;
}

/** Working state of one match call, shared by every template tried for that input. */
export interface MatchState {
  tokens: readonly string[];
  captures: SlotCapture[];
  /** Work left before the call gives up (bounds pathological templates). */
  steps: number;
  aborted: boolean;
  /** Complete parses of the current template. */
  results: SlotCapture[][];
  maxResults: number;
}

type Cont = (st: MatchState, pos: number) => boolean;
type MatchFn = (st: MatchState, pos: number, k: Cont) => boolean;

/** Expansion rules of one language, parsed once on first use. */
export class RuleSet {
  private readonly sources = new Map<string, string>();
  private readonly parsed = new Map<string, TemplateNode[]>();

  constructor(rules: Readonly<Record<string, string>> = {}) {
    for (const [name, source] of Object.entries(rules)) this.sources.set(name, source);
  }

  /** Add or replace a rule. */
  set(name: string, source: string): void {
    this.sources.set(name, source);
    this.parsed.delete(name);
  }

  /** Parsed body of a rule. @throws IntentError('unknown_rule') */
  get(name: string, usedIn: string): TemplateNode[] {
    let nodes = this.parsed.get(name);
    if (nodes) return nodes;
    const source = this.sources.get(name);
    if (source === undefined) throw new IntentError('unknown_rule', `template "${usedIn}" uses <${name}>, which is not defined`);
    nodes = parseTemplate(source);
    this.parsed.set(name, nodes);
    return nodes;
  }

  /** Names and sources, for copying. */
  entries(): [string, string][] {
    return [...this.sources.entries()];
  }
}

/** Turns template syntax trees into token trees for one language. */
export class TokenTreeBuilder {
  constructor(
    private readonly rules: RuleSet,
    private readonly skip: SkipWords | undefined,
    private readonly knownList: (name: string) => boolean,
  ) {}

  /** Parse and convert a template. @throws IntentError (syntax, unknown list or rule, cycle) */
  build(source: string): TokenNode[] {
    return this.sequence(parseTemplate(source), source, []);
  }

  private sequence(nodes: readonly TemplateNode[], source: string, ruleStack: string[]): TokenNode[] {
    const out: TokenNode[] = [];
    const pushLit = (tokens: string[]): void => {
      if (tokens.length === 0) return;
      const last = out[out.length - 1];
      if (last?.kind === 'lit') last.tokens.push(...tokens);
      else out.push({ kind: 'lit', tokens: [...tokens] });
    };
    for (const node of nodes) {
      if (node.kind === 'text') {
        const tokens = tokenize(node.text);
        pushLit(this.skip ? this.skip.strip(tokens) : tokens);
      } else if (node.kind === 'slot') {
        if (!node.range && !this.knownList(node.list)) {
          throw new IntentError('unknown_list', `template "${source}" uses {${node.list}}, which is not a known list`);
        }
        out.push(node.range ? { kind: 'slot', list: node.list, slot: node.slot, range: { ...node.range } } : { kind: 'slot', list: node.list, slot: node.slot });
      } else if (node.kind === 'rule') {
        if (ruleStack.includes(node.name)) {
          throw new IntentError('rule_cycle', `expansion rules loop: <${[...ruleStack, node.name].join('> -> <')}>`);
        }
        const inner = this.sequence(this.rules.get(node.name, source), source, [...ruleStack, node.name]);
        for (const child of inner) {
          if (child.kind === 'lit') pushLit(child.tokens);
          else out.push(child);
        }
      } else {
        let optional = node.optional;
        const options: TokenNode[][] = [];
        const seen = new Set<string>();
        for (const option of node.options) {
          const converted = this.sequence(option, source, ruleStack);
          if (converted.length === 0) {
            optional = true;
            continue;
          }
          // Identical options (e.g. two fillers stripped to the same words) would only double the work.
          const key = JSON.stringify(converted);
          if (seen.has(key)) continue;
          seen.add(key);
          options.push(converted);
        }
        if (options.length === 0) continue;
        if (!optional && options.length === 1) {
          for (const child of options[0] as TokenNode[]) {
            if (child.kind === 'lit') pushLit(child.tokens);
            else out.push(child);
          }
          continue;
        }
        out.push({ kind: 'alt', options, optional });
      }
    }
    return out;
  }
}

interface TrieNode {
  next: Map<string, TrieNode>;
  entries?: { value: string | number; ids?: string[] }[];
}

interface CompiledList {
  trie: TrieNode;
  templated: { fn: MatchFn; value: string | number }[];
  range?: { from: number; to: number };
}

/** An entry of a plain-value list such as entity names. */
export interface ListEntry {
  /** Words as said (tokenised like input). */
  text: string;
  value: string | number;
  /** Entity ids this text names (merged when several entities share a name). */
  ids?: readonly string[];
}

/**
 * Slot lists of one language, in the form the compiled matchers read at match time. Lists can
 * be replaced at any time (catalogue changes): compiled templates look them up by name per call.
 */
export class SlotListIndex {
  private readonly lists = new Map<string, CompiledList>();
  /** The lists as given, for the grammar expander. */
  readonly sources = new Map<string, IntentSlotList | ListEntry[]>();

  constructor(
    private readonly skip: SkipWords,
    private readonly rules: RuleSet,
  ) {}

  /** True when a list of that name exists. */
  has(name: string): boolean {
    return this.lists.has(name);
  }

  /**
   * Define a list from values (each `in` may use template syntax) or a range.
   * @throws IntentError when a value template is malformed.
   */
  setList(name: string, list: IntentSlotList): void {
    const compiled: CompiledList = { trie: { next: new Map() }, templated: [] };
    if (list.kind === 'range') {
      compiled.range = { from: list.from, to: list.to };
    } else {
      const builder = new TokenTreeBuilder(this.rules, this.skip, (n) => this.has(n) && n !== name);
      for (const value of list.values) {
        const out = value.out ?? value.in;
        if (/[()[\]{}<>|]/.test(value.in)) {
          compiled.templated.push({ fn: compileSequence(builder.build(value.in), this), value: out });
        } else {
          insert(compiled.trie, this.skip.normalize(value.in), out, undefined);
        }
      }
    }
    this.lists.set(name, compiled);
    this.sources.set(name, list);
  }

  /** Define a plain list (entity names, areas) from entries; texts are normalised here. */
  setEntries(name: string, entries: readonly ListEntry[]): void {
    const compiled: CompiledList = { trie: { next: new Map() }, templated: [] };
    for (const entry of entries) insert(compiled.trie, this.skip.normalize(entry.text), entry.value, entry.ids);
    this.lists.set(name, compiled);
    this.sources.set(name, [...entries]);
  }

  /** @internal used by compiled slot matchers */
  get(name: string): CompiledList | undefined {
    return this.lists.get(name);
  }
}

function insert(trie: TrieNode, tokens: readonly string[], value: string | number, ids: readonly string[] | undefined): void {
  if (tokens.length === 0) return;
  let node = trie;
  for (const token of tokens) {
    let next = node.next.get(token);
    if (!next) {
      next = { next: new Map() };
      node.next.set(token, next);
    }
    node = next;
  }
  node.entries ??= [];
  const same = node.entries.find((e) => e.value === value || (ids !== undefined && e.ids !== undefined));
  if (same && ids && same.ids) {
    for (const id of ids) if (!same.ids.includes(id)) same.ids.push(id);
  } else if (!same) {
    node.entries.push(ids ? { value, ids: [...ids] } : { value });
  }
}

/** A template ready to run. */
export interface CompiledTemplate {
  source: string;
  tree: TokenNode[];
  /** Tokens every match must contain: a cheap filter before running the matcher. */
  mandatory: string[];
  /** Fewest input tokens a match can have. */
  minTokens: number;
  run: MatchFn;
}

/**
 * Compile a template for matching.
 * @throws IntentError (template_syntax, unknown_list, unknown_rule, rule_cycle)
 */
export function compileTemplate(source: string, builder: TokenTreeBuilder, lists: SlotListIndex): CompiledTemplate {
  const tree = builder.build(source);
  return { source, tree, mandatory: [...mandatoryTokens(tree)], minTokens: minTokens(tree), run: compileSequence(tree, lists) };
}

/**
 * Every complete parse of `tokens` by the template (up to `st.maxResults`), each as its slot
 * captures. The state's step budget is shared across calls so one input stays bounded.
 */
export function runTemplate(template: CompiledTemplate, st: MatchState): SlotCapture[][] {
  st.results = [];
  st.captures.length = 0;
  if (st.tokens.length < template.minTokens) return st.results;
  template.run(st, 0, finish);
  return st.results;
}

/** A fresh state for one input. */
export function newMatchState(tokens: readonly string[], stepBudget = 50_000, maxResults = 8): MatchState {
  return { tokens, captures: [], steps: stepBudget, aborted: false, results: [], maxResults };
}

const finish: Cont = (st, pos) => {
  if (pos !== st.tokens.length) return false;
  st.results.push(st.captures.map((c) => ({ ...c })));
  return st.results.length >= st.maxResults;
};

function mandatoryTokens(tree: readonly TokenNode[]): Set<string> {
  const out = new Set<string>();
  for (const node of tree) {
    if (node.kind === 'lit') for (const t of node.tokens) out.add(t);
    else if (node.kind === 'alt' && !node.optional) {
      let common: Set<string> | undefined;
      for (const option of node.options) {
        const inner = mandatoryTokens(option);
        common = common ? new Set([...common].filter((t) => inner.has(t))) : inner;
      }
      for (const t of common ?? []) out.add(t);
    }
  }
  return out;
}

function minTokens(tree: readonly TokenNode[]): number {
  let total = 0;
  for (const node of tree) {
    if (node.kind === 'lit') total += node.tokens.length;
    else if (node.kind === 'slot') total += 1;
    else if (!node.optional) total += Math.min(...node.options.map(minTokens));
  }
  return total;
}

function compileSequence(tree: readonly TokenNode[], lists: SlotListIndex): MatchFn {
  const fns = tree.map((node) => compileNode(node, lists));
  return chain(fns);
}

function chain(fns: readonly MatchFn[]): MatchFn {
  if (fns.length === 0) return (st, pos, k) => k(st, pos);
  if (fns.length === 1) return fns[0] as MatchFn;
  const first = fns[0] as MatchFn;
  const rest = chain(fns.slice(1));
  return (st, pos, k) => first(st, pos, (st2, p) => rest(st2, p, k));
}

function compileNode(node: TokenNode, lists: SlotListIndex): MatchFn {
  if (node.kind === 'lit') {
    const tokens = node.tokens;
    const n = tokens.length;
    return (st, pos, k) => {
      const input = st.tokens;
      if (pos + n > input.length) return false;
      for (let i = 0; i < n; i++) if (input[pos + i] !== tokens[i]) return false;
      return k(st, pos + n);
    };
  }
  if (node.kind === 'alt') {
    const options = node.options.map((option) => compileSequence(option, lists));
    const optional = node.optional;
    return (st, pos, k) => {
      if (--st.steps < 0) return abort(st);
      for (const option of options) if (option(st, pos, k)) return true;
      return optional ? k(st, pos) : false;
    };
  }
  const { list: listName, slot } = node;
  const inlineRange = node.range;
  return (st, pos, k) => {
    if (--st.steps < 0) return abort(st);
    const input = st.tokens;
    if (pos >= input.length) return false;
    const list = inlineRange ? undefined : lists.get(listName);
    const range = inlineRange ?? list?.range;
    if (range) return numberSlot(st, pos, k, slot, listName, range);
    if (!list) return false;
    // Longest trie match first: "kitchen ceiling light" before "kitchen".
    const ends: { end: number; node: TrieNode }[] = [];
    let trieNode: TrieNode | undefined = list.trie;
    for (let i = pos; i < input.length; i++) {
      trieNode = trieNode.next.get(input[i] as string);
      if (!trieNode) break;
      if (trieNode.entries) ends.push({ end: i + 1, node: trieNode });
    }
    for (let e = ends.length - 1; e >= 0; e--) {
      const { end, node: hit } = ends[e] as { end: number; node: TrieNode };
      const text = joinTokens(input, pos, end);
      for (const entry of hit.entries ?? []) {
        const depth = st.captures.length;
        st.captures.push(entry.ids ? { slot, list: listName, value: entry.value, text, ids: entry.ids } : { slot, list: listName, value: entry.value, text });
        if (k(st, end)) return true;
        st.captures.length = depth;
      }
    }
    for (const templated of list.templated) {
      const stop = templated.fn(st, pos, (st2, end) => {
        if (end === pos) return false;
        const depth = st2.captures.length;
        st2.captures.push({ slot, list: listName, value: templated.value, text: joinTokens(input, pos, end) });
        if (k(st2, end)) return true;
        st2.captures.length = depth;
        return false;
      });
      if (stop) return true;
    }
    return false;
  };
}

function numberSlot(st: MatchState, pos: number, k: Cont, slot: string, list: string, range: { from: number; to: number }): boolean {
  const input = st.tokens;
  if (!canStartNumber(input[pos] as string)) return false;
  const longest = Math.min(MAX_NUMBER_TOKENS, input.length - pos);
  for (let len = longest; len >= 1; len--) {
    const value = parseNumberTokens(input.slice(pos, pos + len));
    if (value === undefined || value < range.from || value > range.to) continue;
    const depth = st.captures.length;
    st.captures.push({ slot, list, value, text: joinTokens(input, pos, pos + len), spokenNumber: true });
    if (k(st, pos + len)) return true;
    st.captures.length = depth;
  }
  return false;
}

function abort(st: MatchState): boolean {
  st.aborted = true;
  return true;
}

const HAN_RE = /^\p{Script=Han}$/u;

/** Join tokens back into text: no space between Han characters, one space elsewhere. */
export function joinTokens(tokens: readonly string[], from = 0, to = tokens.length): string {
  let text = '';
  for (let i = from; i < to; i++) {
    const token = tokens[i] as string;
    if (i > from && !(HAN_RE.test(token) && HAN_RE.test(tokens[i - 1] as string))) text += ' ';
    text += token;
  }
  return text;
}
