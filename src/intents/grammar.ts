/**
 * Concrete phrases for a closed-vocabulary recogniser (pocketsphinx JSGF, like Home Assistant's
 * Speech-to-Phrase): the matcher's own English templates expanded with the catalogue's names and
 * areas, numbers sampled (every 10 for percentages, whole degrees 16-30 for temperatures) and
 * spelled out. The recogniser can then only hear sentences the matcher understands.
 *
 * The output is bounded: templates take turns (round robin), and inside a template the wording
 * variants come one after another with entity names varying fastest, so every template gets a
 * fair share and its plainest wording covers every name first.
 */
import type { IntentMatcher } from './matcher';
import { spellEnglishNumber } from './numbers';
import { TokenTreeBuilder, type ListEntry, type SlotListIndex, type TokenNode } from './template';
import type { IntentSlotList } from './types';

/** Options of {@link phrasesForGrammar}. */
export interface GrammarPhraseOptions {
  /** Upper bound on phrases returned. Default 5000. */
  maxPhrases?: number;
  /** Wording variants taken from one template at most (optional words multiply fast). Default 64. */
  maxVariantsPerTemplate?: number;
  /**
   * Keep only phrases the matcher itself matches (drops e.g. "turn on the fans in the kitchen"
   * when the kitchen has no fan). Costs one match per phrase. Default true.
   */
  verify?: boolean;
}

type Item = { kind: 'words'; words: string[] } | { kind: 'slot'; list: string; slot: string; range?: { from: number; to: number } };

/**
 * English phrases for the offline grammar ASR, without duplicates, at most `maxPhrases`.
 * Empty when the matcher has no English.
 */
export function phrasesForGrammar(matcher: IntentMatcher, opts: GrammarPhraseOptions = {}): string[] {
  const maxPhrases = opts.maxPhrases ?? 5000;
  const maxVariants = opts.maxVariantsPerTemplate ?? 64;
  const runtime = matcher.runtime('en');
  if (!runtime || maxPhrases <= 0) return [];
  // Speech needs the words people actually say, fillers included ("turn on THE kitchen light").
  const builder = new TokenTreeBuilder(runtime.rules, undefined, (name) => runtime.lists.has(name));
  const verify = opts.verify ?? true;
  const valueCache = new Map<string, string[]>();
  const entities = matcher.entities();

  const streams: PhraseStream[] = [];
  const seenSources = new Set<string>();
  for (const sentence of runtime.sentences) {
    const requires = sentence.group.requires;
    const requiresKey = `${requires?.domains?.join(',') ?? ''}/${requires?.capability ?? ''}`;
    const sourceKey = `${sentence.template.source}|${requiresKey}`;
    if (seenSources.has(sourceKey)) continue;
    seenSources.add(sourceKey);
    // Only names and areas of entities this sentence can act on: "open the kitchen light" is no phrase.
    const fits = entities.filter(
      (e) => (!requires?.domains || requires.domains.includes(e.domain)) && (!requires?.capability || e.capabilities?.[requires.capability] === true),
    );
    const slotValues = (item: Item & { kind: 'slot' }): string[] => {
      const catalogueList = item.list === 'name' || item.list === 'area';
      const key = item.range
        ? `${item.slot}:${item.range.from}-${item.range.to}`
        : `${item.list}:${item.slot}${catalogueList ? `:${requiresKey}` : ''}`;
      let values = valueCache.get(key);
      if (!values) {
        if (item.range) values = sampleRange(item.slot, item.range);
        else if (item.list === 'name') values = unique(fits.flatMap((e) => [e.name, ...(e.aliases ?? [])]).map(speakText));
        else if (item.list === 'area') values = unique(fits.flatMap((e) => (e.area ? [e.area] : [])).map(speakText));
        else values = listValues(runtime.lists, item.list, item.slot, builder);
        valueCache.set(key, values);
      }
      return values;
    };
    const tree = builder.build(sentence.template.source);
    streams.push(new PhraseStream(templatePhrases(tree, maxVariants, slotValues), CORE_INTENTS.has(sentence.group.intent)));
  }

  const out = new Set<string>();
  const accept = (phrase: string): void => {
    if (!out.has(phrase) && (!verify || matcher.match(phrase, 'en'))) out.add(phrase);
  };
  // Coverage first: the plainest wording of on/off for every name and area, up to half the budget,
  // so a big home still has "turn on the <every device>" in its grammar.
  const coverageLimit = Math.floor(maxPhrases / 2);
  for (const stream of streams) {
    if (!stream.core) continue;
    while (out.size < coverageLimit) {
      const phrase = stream.nextInVariant(0);
      if (phrase === undefined) break;
      accept(phrase);
    }
  }
  // Then every template in turn.
  let live = streams;
  while (live.length > 0 && out.size < maxPhrases) {
    const next: PhraseStream[] = [];
    for (const stream of live) {
      const phrase = stream.next();
      if (phrase === undefined) continue;
      next.push(stream);
      accept(phrase);
      if (out.size >= maxPhrases) break;
    }
    live = next;
  }
  return [...out];
}

/** Intents whose plainest wording is covered for every name before other templates take turns. */
const CORE_INTENTS = new Set(['HassTurnOn', 'HassTurnOff']);

/** A template's phrases with one item of look-ahead, so a pass can stop at a variant boundary. */
class PhraseStream {
  private pending: { phrase: string; variant: number } | undefined;
  private done = false;

  constructor(
    private readonly source: Iterator<{ phrase: string; variant: number }>,
    readonly core: boolean,
  ) {}

  next(): string | undefined {
    const item = this.peek();
    this.pending = undefined;
    return item?.phrase;
  }

  /** Next phrase only if it belongs to wording variant `variant`. */
  nextInVariant(variant: number): string | undefined {
    const item = this.peek();
    if (!item || item.variant !== variant) return undefined;
    this.pending = undefined;
    return item.phrase;
  }

  private peek(): { phrase: string; variant: number } | undefined {
    if (this.pending || this.done) return this.pending;
    const step = this.source.next();
    if (step.done) this.done = true;
    else this.pending = step.value;
    return this.pending;
  }
}

function* templatePhrases(
  tree: readonly TokenNode[],
  maxVariants: number,
  slotValues: (item: Item & { kind: 'slot' }) => string[],
): Generator<{ phrase: string; variant: number }> {
  let variantIndex = -1;
  for (const variant of variants(tree)) {
    if (++variantIndex >= maxVariants) return;
    const slots = variant.filter((i): i is Item & { kind: 'slot' } => i.kind === 'slot');
    // "{area} {name}" pairs only make sense for entities of that area: leave them to plainer wordings.
    const lists = new Set(slots.map((s) => s.list));
    if (lists.has('name') && lists.has('area')) continue;
    const values = slots.map(slotValues);
    if (values.some((v) => v.length === 0)) continue;
    // Mixed-radix counter with catalogue names/areas as the fastest digits.
    const order = slots.map((_, i) => i).sort((a, b) => rank(slots[a]) - rank(slots[b]));
    const digits = new Array<number>(slots.length).fill(0);
    for (;;) {
      let slotIndex = 0;
      const words: string[] = [];
      for (const item of variant) {
        if (item.kind === 'words') words.push(...item.words);
        else words.push((values[slotIndex] as string[])[digits[slotIndex++] as number] as string);
      }
      yield { phrase: words.join(' ').replace(/\s+/g, ' ').trim(), variant: variantIndex };
      let carry = 0;
      for (; carry < order.length; carry++) {
        const d = order[carry] as number;
        digits[d] = (digits[d] as number) + 1;
        if ((digits[d] as number) < (values[d] as string[]).length) break;
        digits[d] = 0;
      }
      if (carry === order.length) break;
    }
  }
}

function rank(item: (Item & { kind: 'slot' }) | undefined): number {
  return item && (item.list === 'name' || item.list === 'area') ? 0 : 1;
}

/** Wording variants of a token tree, lazily: alternatives in order, optional words present first. */
function* variants(tree: readonly TokenNode[]): Generator<Item[]> {
  if (tree.length === 0) {
    yield [];
    return;
  }
  const [head, ...rest] = tree as [TokenNode, ...TokenNode[]];
  let heads: Item[][];
  if (head.kind === 'lit') heads = [[{ kind: 'words', words: head.tokens.map(speakToken) }]];
  else if (head.kind === 'slot') heads = [[head.range ? { kind: 'slot', list: head.list, slot: head.slot, range: head.range } : { kind: 'slot', list: head.list, slot: head.slot }]];
  else {
    heads = [];
    for (const option of head.options) for (const v of variants(option)) heads.push(v);
    // "[the]" is said more often than not; anything else optional ("[please]", "[{area}]",
    // "[brightness]") is left out first so the plainest wording comes first.
    if (head.optional) {
      if (head.options.every(preferPresent)) heads.push([]);
      else heads.unshift([]);
    }
  }
  for (const h of heads) for (const r of variants(rest)) yield [...h, ...r];
}

// Optional words people usually do say: articles and units ("the", "percent", "degrees").
const USUALLY_SAID = new Set(['the', 'a', 'an', 'my', 'your', 'percent', 'per', 'cent', '%', 'degree', 'degrees', '°', 'c', 'celsius', 'centigrade']);

function preferPresent(option: readonly TokenNode[]): boolean {
  return option.every((node) =>
    node.kind === 'lit' ? node.tokens.every((t) => USUALLY_SAID.has(t)) : node.kind === 'alt' ? node.options.every(preferPresent) : false,
  );
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v !== ''))];
}

function speakToken(token: string): string {
  if (token === '%') return 'percent';
  if (token === '°') return 'degrees';
  if (/^\d+$/.test(token)) return spellEnglishNumber(Number(token));
  return token;
}

function listValues(lists: SlotListIndex, list: string, slot: string, builder: TokenTreeBuilder): string[] {
  const source = lists.sources.get(list);
  if (!source) return [];
  if (Array.isArray(source)) {
    return [...new Set((source as ListEntry[]).map((e) => speakText(e.text)).filter((t) => t !== ''))];
  }
  const slotList = source as IntentSlotList;
  if (slotList.kind === 'range') return sampleRange(slot, slotList);
  const out = new Set<string>();
  for (const value of slotList.values) {
    for (const variant of variants(builder.build(value.in))) {
      if (variant.some((i) => i.kind === 'slot')) continue;
      const text = variant.flatMap((i) => (i.kind === 'words' ? i.words : [])).join(' ');
      if (text) out.add(text);
    }
  }
  return [...out];
}

function speakText(text: string): string {
  // An English recogniser cannot say Chinese names; those entities are left to the other ASRs.
  if (/\p{Script=Han}/u.test(text)) return '';
  return (text.normalize('NFKC').toLowerCase().match(/\p{Script=Han}|\d+|[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*|[%°]/gu) ?? [])
    .map(speakToken)
    .join(' ');
}

/** Numbers worth putting in a grammar: whole degrees 16-30, else about ten steps over the range. */
function sampleRange(slot: string, range: { from: number; to: number; step?: number }): string[] {
  let from = Math.ceil(range.from);
  let to = Math.floor(range.to);
  let step = range.step ?? 0;
  if (/temp/i.test(slot) && !range.step) {
    from = Math.max(from, 16);
    to = Math.min(to, 30);
    step = 1;
  }
  if (step <= 0) step = to - from <= 12 ? 1 : Math.max(1, Math.round((to - from) / 10 / 5) * 5);
  const out: string[] = [];
  for (let n = from; n <= to && out.length < 200; n += step) out.push(spellEnglishNumber(n));
  return out;
}
