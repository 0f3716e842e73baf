/**
 * Text to tokens, the same way for input sentences, template words and list values, so matching
 * is plain token equality: case, width (full-width ＡＢＣ, １２), punctuation and spacing stop
 * mattering, and Chinese needs no spaces because every Han character is its own token.
 */

// Han characters one by one; digit runs with an optional decimal part; Latin-like words (with
// inner apostrophes: "what's"); % and ° kept as tokens because they carry meaning.
const TOKEN_RE = /\p{Script=Han}|\d+(?:\.\d+)?|[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*|[%°]/gu;

/** Lower-cased tokens of a text (NFKC first, so ℃ becomes °c and full-width digits plain ones). */
export function tokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(TOKEN_RE) ?? [];
}

/** True when the text has any Han character (to try Chinese first). */
export function hasHan(text: string): boolean {
  return /\p{Script=Han}/u.test(text);
}

/**
 * Filler words and phrases dropped before matching. Longest phrase wins at each position;
 * phrases are token sequences ("could you", "帮我").
 */
export class SkipWords {
  private readonly byFirst = new Map<string, string[][]>();

  constructor(phrases: readonly string[]) {
    for (const phrase of phrases) {
      const tokens = tokenize(phrase);
      const first = tokens[0];
      if (first === undefined) continue;
      const list = this.byFirst.get(first) ?? [];
      list.push(tokens);
      list.sort((a, b) => b.length - a.length);
      this.byFirst.set(first, list);
    }
  }

  /** Tokens with fillers removed. */
  strip(tokens: readonly string[]): string[] {
    const out: string[] = [];
    let i = 0;
    outer: while (i < tokens.length) {
      const token = tokens[i] as string;
      const candidates = this.byFirst.get(token);
      if (candidates) {
        for (const phrase of candidates) {
          if (startsWithAt(tokens, phrase, i)) {
            i += phrase.length;
            continue outer;
          }
        }
      }
      out.push(token);
      i++;
    }
    return out;
  }

  /** Tokenise and strip; a text made only of fillers keeps its tokens (a device may be called "Please"). */
  normalize(text: string): string[] {
    const tokens = tokenize(text);
    const stripped = this.strip(tokens);
    return stripped.length > 0 ? stripped : tokens;
  }
}

function startsWithAt(tokens: readonly string[], phrase: readonly string[], at: number): boolean {
  if (at + phrase.length > tokens.length) return false;
  for (let j = 0; j < phrase.length; j++) if (tokens[at + j] !== phrase[j]) return false;
  return true;
}
