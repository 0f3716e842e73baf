import { emotionOfText, stripEmoji, type Emotion } from '../providers/llm/emotions';

/** Options of {@link SentenceSplitter}. */
export interface SentenceSplitterOptions {
  /** The first sentence may be cut at a comma once it has this many non-space characters, for CJK text. Default 4. */
  minFirstCharsCjk?: number;
  /** Same, for text without CJK characters. Default 12. */
  minFirstCharsLatin?: number;
  /** A sentence with no sentence end is cut at its last comma or space once it passes this length. Default 120. */
  maxChars?: number;
}

/** Sentence ends that cut wherever they are (CJK and full-width forms). */
const CJK_ENDS = new Set(['。', '！', '？', '；', '．', '｡']);
/** Latin sentence ends: cut only when followed by a space, a line end or CJK text. */
const LATIN_ENDS = new Set(['.', '!', '?', ';']);
/** CJK commas: cut the first sentence of a turn only. */
const CJK_COMMAS = new Set(['，', '、', '：', '～']);
/** Latin commas: cut the first sentence only, and only before a space. */
const LATIN_COMMAS = new Set([',', ':']);
/** Characters that close a sentence after its end mark and belong to it. */
const CLOSERS = new Set(['"', "'", ')', ']', '”', '’', '」', '』', '）', '】', '》', '*', '_']);
/** Where a forced cut of an over-long sentence may fall, best first. */
const SOFT_BREAKS = new Set([',', '，', '、', ':', '：', '；', ';', '～']);

/** Abbreviations whose dot is not a sentence end (lower case, without the dot). */
const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'vs', 'mt', 'no', 'fig', 'approx', 'dept', 'inc', 'ltd',
  'co', 'corp', 'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec', 'ca', 'cf',
]);

const CJK_CHAR = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/;

/** Function-call markup models write into the text channel, and what closes each kind. */
interface MarkupKind {
  open: RegExp;
  close: RegExp;
  /** Fenced blocks are dropped only when they hold a tool call; other markup always. */
  fence?: boolean;
}
const MARKUP_KINDS: MarkupKind[] = [
  { open: /<tool_call>/, close: /<\/tool_call>/ },
  { open: /<[|｜]tool▁calls▁begin[|｜]>/, close: /<[|｜]tool▁calls▁end[|｜]>/ },
  { open: /<[|｜]tool▁call▁begin[|｜]>/, close: /<[|｜]tool▁call▁end[|｜]>/ },
  { open: /<function=/, close: /<\/function>/ },
  { open: /```/, close: /```/, fence: true },
];
/** Any opener, or a lone special token such as `<|im_end|>` (removed on its own). */
const ANY_OPENER =
  /<tool_call>|<[|｜]tool▁calls?▁begin[|｜]>|<function=|```|<[|｜][^<>|｜\s]{1,48}[|｜]>/;
/** Tails that may be the start of an opener: held back until the next delta decides. */
const OPENER_PREFIXES = ['<tool_call>', '<function=', '```'];
const PARTIAL_SPECIAL_TOKEN = /<(?:[|｜][^<>|｜\s]{0,48}[|｜]?)?$/;
/** Markup that never closes is dropped once it passes this size, so memory stays bounded. */
const MAX_MARKUP_CHARS = 64 * 1024;

/**
 * Cuts streamed LLM text into sentences for TTS.
 *
 * - Latin ends `. ! ? ;` cut before a space; "3.5", "e.g.", "Mr." and URLs don't cut. CJK ends
 *   `。！？；` and full-width forms cut at once. A newline always cuts.
 * - The first sentence of a turn is also cut at a comma (`，、：` or `, :` before a space) once it has
 *   `minFirstChars`, so audio starts sooner; later ones cut only at ends, or at the last comma or
 *   space once they pass `maxChars`.
 * - Function-call markup (`<tool_call>`, DeepSeek `<｜tool▁call…｜>`, `<function=…>`, fenced JSON
 *   tool calls) never comes out, even split across deltas.
 * - Emoji are stripped from sentences; {@link leadingEmotion} reports the first one that maps to
 *   a xiaozhi emotion. Markdown emphasis is removed; empty and punctuation-only sentences dropped.
 */
export class SentenceSplitter {
  private readonly minFirstCharsCjk: number;
  private readonly minFirstCharsLatin: number;
  private readonly maxChars: number;
  /** Raw text not yet passed through the markup filter. */
  private raw = '';
  /** The markup being skipped, if inside one. */
  private markup: MarkupKind | undefined;
  /** Clean text waiting for a cut. */
  private pending = '';
  private firstEmitted = false;
  private emotion: Emotion | undefined;

  constructor(options: SentenceSplitterOptions = {}) {
    this.minFirstCharsCjk = options.minFirstCharsCjk ?? 4;
    this.minFirstCharsLatin = options.minFirstCharsLatin ?? 12;
    this.maxChars = Math.max(8, options.maxChars ?? 120);
  }

  /** Feed one streamed delta; returns the sentences it completed (often none). */
  push(delta: string): string[] {
    this.raw += delta;
    this.absorb(this.filterMarkup(false));
    return this.cutAll(false);
  }

  /** End of the text: returns what is left, as sentences. The splitter may be reused for more text of the same turn. */
  flush(): string[] {
    this.absorb(this.filterMarkup(true));
    return this.cutAll(true);
  }

  /** The first emoji seen that maps to a xiaozhi emotion, or undefined. */
  leadingEmotion(): Emotion | undefined {
    return this.emotion;
  }

  /** Whether the first sentence of the turn has come out (later ones are not cut early). */
  get firstSentenceEmitted(): boolean {
    return this.firstEmitted;
  }

  /** Forget everything: a new turn. */
  reset(): void {
    this.raw = '';
    this.markup = undefined;
    this.pending = '';
    this.firstEmitted = false;
    this.emotion = undefined;
  }

  private absorb(clean: string): void {
    if (!clean) return;
    if (!this.emotion) this.emotion = emotionOfText(clean);
    this.pending += clean;
  }

  /** Move markup-free text out of `raw`; keep back what may still turn into markup. */
  private filterMarkup(final: boolean): string {
    let out = '';
    for (;;) {
      if (this.markup) {
        const kind = this.markup;
        const close = kind.close.exec(this.raw);
        if (!close) {
          if (final) {
            if (kind.fence) out += fenceText(this.raw);
            this.raw = '';
            this.markup = undefined;
          } else if (this.raw.length > MAX_MARKUP_CHARS) {
            this.raw = this.raw.slice(-32);
          }
          return out;
        }
        if (kind.fence) out += fenceText(this.raw.slice(0, close.index));
        this.raw = this.raw.slice(close.index + close[0].length);
        this.markup = undefined;
        continue;
      }
      const open = ANY_OPENER.exec(this.raw);
      if (open) {
        out += this.raw.slice(0, open.index);
        this.raw = this.raw.slice(open.index + open[0].length);
        this.markup = MARKUP_KINDS.find((kind) => kind.open.test(open[0]));
        continue; // a lone special token has no kind: dropped, go on
      }
      const hold = final ? this.raw.length : heldBackStart(this.raw);
      out += this.raw.slice(0, hold);
      this.raw = this.raw.slice(hold);
      return out;
    }
  }

  private cutAll(final: boolean): string[] {
    const sentences: string[] = [];
    for (;;) {
      let end = this.findCut(final);
      if (end < 0) {
        if (!final || this.pending.length === 0) break;
        end = this.pending.length;
      }
      const sentence = cleanSentence(this.pending.slice(0, end));
      this.pending = this.pending.slice(end);
      if (sentence) {
        sentences.push(sentence);
        this.firstEmitted = true;
      }
    }
    if (final) this.pending = '';
    return sentences;
  }

  /** End index (exclusive) of the first complete sentence in `pending`, or -1 to wait for more. */
  private findCut(final: boolean): number {
    const text = this.pending;
    const early = !this.firstEmitted;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i] as string;
      if (ch === '\n') return i + 1;
      if (CJK_ENDS.has(ch)) return skipClosers(text, i + 1);
      if (LATIN_ENDS.has(ch)) {
        let j = i + 1;
        while (j < text.length && LATIN_ENDS.has(text[j] as string)) j++;
        j = skipClosers(text, j);
        if (j >= text.length) return final ? text.length : -1;
        const next = text[j] as string;
        if (!/\s/.test(next) && !CJK_CHAR.test(next)) continue; // 3.5, example.com, e.g.
        if (ch === '.' && j === i + 1 && isNonFinalDot(text, i)) continue;
        return j;
      }
      if (early && (CJK_COMMAS.has(ch) || LATIN_COMMAS.has(ch))) {
        if (LATIN_COMMAS.has(ch)) {
          if (i + 1 >= text.length) return final ? text.length : -1;
          if (!/\s/.test(text[i + 1] as string)) continue; // 1,000 and 10:30
        }
        const head = text.slice(0, i);
        const minChars = CJK_CHAR.test(head) ? this.minFirstCharsCjk : this.minFirstCharsLatin;
        if (countVisible(head) >= minChars) return i + 1;
      }
    }
    if (text.length > this.maxChars) return forcedCut(text, this.maxChars);
    return -1;
  }
}

/** Index from which `raw` must be held back because it may begin an opener. */
function heldBackStart(raw: string): number {
  // Never hand on half a surrogate pair: the emoji scan and the cut need whole characters.
  const last = raw.charCodeAt(raw.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) return heldBackStart(raw.slice(0, -1));
  const from = Math.max(0, raw.length - 52);
  for (let i = from; i < raw.length; i++) {
    const ch = raw[i];
    if (ch !== '<' && ch !== '`') continue;
    const tail = raw.slice(i);
    if (OPENER_PREFIXES.some((opener) => opener.startsWith(tail))) return i;
    if (ch === '<' && PARTIAL_SPECIAL_TOKEN.test(tail)) return i;
  }
  return raw.length;
}

/** What a closed fenced block contributes: nothing if it is a tool call, else its code text. */
function fenceText(body: string): string {
  const withoutLang = body.replace(/^[A-Za-z0-9_+-]*[ \t]*\n/, '');
  if (/"name"\s*:/.test(withoutLang) && /"(?:arguments|parameters)"\s*:/.test(withoutLang)) return '';
  return `\n${withoutLang}\n`;
}

function skipClosers(text: string, from: number): number {
  let j = from;
  while (j < text.length && CLOSERS.has(text[j] as string)) j++;
  return j;
}

/** True when the dot at `dotIndex` ends an abbreviation, an initial or a list number rather than a sentence. */
function isNonFinalDot(text: string, dotIndex: number): boolean {
  const before = text.slice(0, dotIndex);
  const token = /(\S+)$/.exec(before)?.[1] ?? '';
  const word = token.replace(/^[("'“‘[]+/, '');
  if (ABBREVIATIONS.has(word.toLowerCase())) return true;
  if (/^(?:[A-Za-z]\.)+[A-Za-z]$/.test(word)) return true; // e.g, i.e, U.S
  if (/^[A-Z]$/.test(word)) return true; // an initial: J. K. Rowling
  // "1. Open the door": a list number at the start of a line is not a sentence.
  if (/^\d{1,2}$/.test(word) && /(?:^|\n)\s*$/.test(before.slice(0, before.length - token.length))) return true;
  return false;
}

function countVisible(text: string): number {
  let count = 0;
  for (const ch of text) if (!/[\s\p{P}]/u.test(ch)) count++;
  return count;
}

/** Cut an over-long sentence at its last soft break, else its last space, else hard at the limit. */
function forcedCut(text: string, maxChars: number): number {
  const window = text.slice(0, maxChars);
  for (let i = window.length - 1; i > 0; i--) if (SOFT_BREAKS.has(window[i] as string)) return i + 1;
  for (let i = window.length - 1; i > 0; i--) if (/\s/.test(window[i] as string)) return i + 1;
  // Never split a surrogate pair.
  const code = text.charCodeAt(maxChars - 1);
  return code >= 0xd800 && code <= 0xdbff ? maxChars + 1 : maxChars;
}

/** Emoji and markdown out, whitespace collapsed; '' when nothing speakable is left. */
function cleanSentence(raw: string): string {
  let text = stripEmoji(raw)
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // [text](url) -> text
    .replace(/\*\*|__|`+/g, '')
    .replace(/(?<!\d)\*|\*(?!\d)/g, '') // *emphasis*, but 2*3 stays
    .replace(/^\s*#{1,6}\s+/gm, '')
    .replace(/^\s*(?:[-*+•]|>)\s+/gm, '')
    .replace(/\s+/g, ' ')
    .trim();
  // A cut before a closing mark or after a comma leaves punctuation at the start of the next piece.
  text = text.replace(/^[\s,，、.。;；:：!！?？)）\]」』”’】》~～]+/u, '').trim();
  if (!/[\p{L}\p{N}]/u.test(text)) return '';
  return text;
}
