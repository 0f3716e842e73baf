/**
 * Closed-vocabulary speech grammars: turn a list of phrases (or small templates) into a JSGF
 * grammar that pocketsphinx decodes against, the way Home Assistant's Speech-to-Phrase does. The
 * recogniser can then only ever answer with one of the phrases, which makes a small offline model
 * accurate for commands.
 */
import { PronunciationDictionary, type WordLookup } from './grammar-dictionary';
import { GrammarError } from './grammar-error';
import { spellNumber } from './grammar-numbers';

/** Options of {@link buildJsgf}. */
export interface BuildJsgfOptions {
  /** Grammar name inside the JSGF text (letters, digits, underscore). Default 'commands'. */
  name?: string;
  /** Words the recogniser knows. Default: the CMU dictionary at `dictPath`, loaded once. */
  dictionary?: WordLookup;
  /** Dictionary file when `dictionary` is not given. Default {@link DEFAULT_DICT_PATH}. */
  dictPath?: string;
  /**
   * Extra words the decoder will be taught (word -> ARPAbet phones, e.g. `{ zigbee: 'Z IH G B IY' }`):
   * they count as known even when the dictionary lacks them.
   */
  extraWords?: Readonly<Record<string, string>>;
  /** Called once per dropped phrase (a word is not in the dictionary). Default: silent. */
  onWarning?: (message: string) => void;
}

/** A grammar ready for the decoder. */
export interface JsgfGrammar {
  /** JSGF text; '' when no phrase survived (nothing can be recognised). */
  jsgf: string;
  /** Normalised phrases in the grammar, without duplicates, in input order. */
  phrases: string[];
  /** Distinct words the grammar uses, sorted. */
  words: string[];
  /** Distinct words not in the dictionary, sorted (their phrases were dropped). */
  missingWords: string[];
  /** Input phrases left out because of missing words. */
  dropped: string[];
}

/** Options of {@link expandTemplates}. */
export interface ExpandTemplatesOptions {
  /** Values of `{slot}` references. */
  slots?: Readonly<Record<string, readonly string[]>>;
  /** Stop with GrammarError('too_many_phrases') past this many phrases. Default 20000. */
  maxPhrases?: number;
}

const DEFAULT_MAX_PHRASES = 20_000;

/**
 * Normalise a phrase to the words a recogniser hears: lower case, numbers spelled out ("50" ->
 * "fifty", "7.5" -> "seven point five"), "%" and "&" as words, punctuation dropped. Apostrophes
 * and hyphens inside words stay ("what's", "wi-fi"); a hyphenated word the dictionary lacks is
 * split into its parts ("living-room" -> "living room").
 */
export function normalisePhrase(phrase: string, dictionary?: WordLookup): string[] {
  const text = phrase
    .toLowerCase()
    .replace(/(\d+)\.(\d+)/g, (_m, whole: string, fraction: string) => ` ${spellNumber(Number(whole))} point ${spellDigits(fraction)} `)
    .replace(/\d+/g, (digits) => ` ${spellNumber(Number(digits))} `)
    .replace(/%/g, ' percent ')
    .replace(/&/g, ' and ')
    .replace(/[^\p{L}\p{N}'\s-]+/gu, ' ');
  const words: string[] = [];
  for (const raw of text.split(/\s+/)) {
    const word = raw.replace(/^['-]+|['-]+$/g, '');
    if (!word) continue;
    if (word.includes('-') && !(dictionary?.has(word) ?? false)) {
      for (const part of word.split('-')) if (part) words.push(part);
    } else {
      words.push(word);
    }
  }
  return words;
}

function spellDigits(digits: string): string {
  return digits.split('').map((d) => spellNumber(Number(d))).join(' ');
}

/**
 * Build a JSGF grammar that accepts exactly the given phrases. Each phrase is normalised
 * ({@link normalisePhrase}); a phrase with a word the dictionary lacks is dropped with a warning
 * (never an exception), and the word is listed in `missingWords`.
 * @throws GrammarError('dictionary_missing') only when the default dictionary file is unreadable.
 */
export function buildJsgf(phrases: readonly string[], opts: BuildJsgfOptions = {}): JsgfGrammar {
  const dictionary = opts.dictionary ?? PronunciationDictionary.load(opts.dictPath);
  const extra = new Set(Object.keys(opts.extraWords ?? {}).map((w) => w.toLowerCase()));
  const known: WordLookup = { has: (w) => extra.has(w) || dictionary.has(w) };
  const kept = new Set<string>();
  const words = new Set<string>();
  const missing = new Set<string>();
  const dropped: string[] = [];
  for (const phrase of phrases) {
    const tokens = normalisePhrase(phrase, known);
    if (tokens.length === 0) continue;
    const unknown = tokens.filter((t) => !known.has(t));
    if (unknown.length > 0) {
      for (const w of unknown) missing.add(w);
      dropped.push(phrase);
      opts.onWarning?.(`speech grammar: dropped "${phrase}": not in the pronunciation dictionary: ${unknown.join(', ')}`);
      continue;
    }
    for (const t of tokens) words.add(t);
    kept.add(tokens.join(' '));
  }
  const keptPhrases = [...kept];
  const name = (opts.name ?? 'commands').replace(/[^A-Za-z0-9_]/g, '_') || 'commands';
  const jsgf =
    keptPhrases.length === 0
      ? ''
      : `#JSGF V1.0;\ngrammar ${name};\npublic <command> =\n    ${keptPhrases.join('\n  | ')};\n`;
  return { jsgf, phrases: keptPhrases, words: [...words].sort(), missingWords: [...missing].sort(), dropped };
}

// ---------------------------------------------------------------------------------------------
// Templates: "turn (on|off) the {area} light[s]"
// ---------------------------------------------------------------------------------------------

type TemplateNode =
  | { kind: 'text'; text: string }
  | { kind: 'alt'; options: TemplateNode[][]; optional: boolean }
  | { kind: 'slot'; name: string };

/**
 * Expand sentence templates into plain phrases. Syntax: `(a|b)` alternatives (each may hold
 * several words and nest), `[optional words]` (also `[a|b]`: one of them or nothing), `{slot}`
 * replaced by each value of `slots[slot]`. Text is concatenated as written, so `light[s]` gives
 * "light" and "lights"; whitespace is collapsed. Duplicates are removed, order is kept.
 * @throws GrammarError('syntax' | 'unknown_slot' | 'too_many_phrases')
 */
export function expandTemplates(templates: readonly string[], options: ExpandTemplatesOptions = {}): string[] {
  const maxPhrases = options.maxPhrases ?? DEFAULT_MAX_PHRASES;
  const out = new Set<string>();
  for (const template of templates) {
    const parser = new TemplateParser(template);
    const sequence = parser.parse();
    for (const phrase of expandSequence(sequence, options.slots ?? {}, maxPhrases, template)) {
      const clean = phrase.replace(/\s+/g, ' ').trim();
      if (clean) out.add(clean);
      if (out.size > maxPhrases) {
        throw new GrammarError('too_many_phrases', `templates expand to more than ${maxPhrases} phrases`);
      }
    }
  }
  return [...out];
}

function expandSequence(
  sequence: TemplateNode[],
  slots: Readonly<Record<string, readonly string[]>>,
  maxPhrases: number,
  template: string,
): string[] {
  let results = [''];
  for (const node of sequence) {
    let choices: string[];
    if (node.kind === 'text') {
      choices = [node.text];
    } else if (node.kind === 'slot') {
      const values = slots[node.name];
      if (!values) throw new GrammarError('unknown_slot', `template "${template}" uses {${node.name}}, which has no values`);
      choices = [...values];
    } else {
      choices = node.options.flatMap((option) => expandSequence(option, slots, maxPhrases, template));
      if (node.optional) choices.push('');
    }
    if (results.length * choices.length > maxPhrases) {
      throw new GrammarError('too_many_phrases', `template "${template}" expands to more than ${maxPhrases} phrases`);
    }
    const next: string[] = [];
    for (const prefix of results) for (const choice of choices) next.push(prefix + choice);
    results = next;
  }
  return results;
}

/** Recursive-descent parser of one template; positions in errors help fix the template. */
class TemplateParser {
  private at = 0;

  constructor(private readonly source: string) {}

  parse(): TemplateNode[] {
    const options = this.alternatives('');
    if (this.at < this.source.length) this.fail(`unexpected "${this.source[this.at] ?? ''}"`);
    // A top-level "a | b" is an alternative of whole sentences.
    return options.length === 1 ? (options[0] as TemplateNode[]) : [{ kind: 'alt', options, optional: false }];
  }

  /** Sequences separated by '|' up to the closing bracket (not consumed). */
  private alternatives(close: string): TemplateNode[][] {
    const options: TemplateNode[][] = [this.sequence(close)];
    while (this.source[this.at] === '|') {
      this.at++;
      options.push(this.sequence(close));
    }
    return options;
  }

  private sequence(close: string): TemplateNode[] {
    const nodes: TemplateNode[] = [];
    for (;;) {
      const ch = this.source[this.at];
      if (ch === undefined || ch === '|' || ch === close) return nodes;
      if (ch === '(' || ch === '[') {
        const closing = ch === '(' ? ')' : ']';
        const start = this.at++;
        const options = this.alternatives(closing);
        if (this.source[this.at] !== closing) this.fail(`"${ch}" at ${start} is not closed`);
        this.at++;
        nodes.push({ kind: 'alt', options, optional: ch === '[' });
      } else if (ch === '{') {
        const end = this.source.indexOf('}', this.at);
        if (end < 0) this.fail(`"{" at ${this.at} is not closed`);
        const name = this.source.slice(this.at + 1, end).trim();
        if (!name) this.fail(`empty slot name at ${this.at}`);
        nodes.push({ kind: 'slot', name });
        this.at = end + 1;
      } else if (ch === ')' || ch === ']' || ch === '}') {
        this.fail(`unbalanced "${ch}" at ${this.at}`);
      } else {
        const match = /^[^()[\]{}|]+/.exec(this.source.slice(this.at));
        const text = match ? match[0] : ch;
        nodes.push({ kind: 'text', text });
        this.at += text.length;
      }
    }
  }

  private fail(message: string): never {
    throw new GrammarError('syntax', `template "${this.source}": ${message}`);
  }
}
