/**
 * Numbers as people say them to a voice assistant: digits ("50", "21.5"), English words
 * ("fifty", "twenty one", "a hundred", "twenty one point five") and Chinese numerals ("五十",
 * "二十一", "一百零五", "两百", "一百五", "二十一点五"). Input is already tokenised (see
 * normalize.ts): English words one token each, every Chinese character its own token.
 */

const EN_SMALL: Readonly<Record<string, number>> = {
  zero: 0, oh: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9,
  ten: 10, eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16,
  seventeen: 17, eighteen: 18, nineteen: 19,
};
const EN_TENS: Readonly<Record<string, number>> = {
  twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
};
const ONES_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten',
  'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS_WORDS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

const ZH_DIGITS: Readonly<Record<string, number>> = {
  零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9,
};
const ZH_UNITS: Readonly<Record<string, number>> = { 十: 10, 百: 100, 千: 1000 };

/** Longest token span a spoken number can take (keeps slot matching bounded). */
export const MAX_NUMBER_TOKENS = 10;

const DIGITS_RE = /^\d+(?:\.\d+)?$/;

/**
 * Parse a whole token span as one number, or undefined when the span is not exactly one number
 * ("twenty five" -> 25, but "five five" and "twenty percent" -> undefined).
 */
export function parseNumberTokens(tokens: readonly string[]): number | undefined {
  if (tokens.length === 0) return undefined;
  const first = tokens[0] as string;
  if (tokens.length === 1 && DIGITS_RE.test(first)) return Number(first);
  if (first in ZH_DIGITS || first in ZH_UNITS || first === '万') return parseChinese(tokens);
  return parseEnglish(tokens);
}

/** True when the token can start a number (cheap pre-check before trying spans). */
export function canStartNumber(token: string): boolean {
  return DIGITS_RE.test(token) || token in EN_SMALL || token in EN_TENS || token === 'hundred' || token === 'thousand' ||
    token in ZH_DIGITS || token in ZH_UNITS;
}

type EnState = 'start' | 'small' | 'tens' | 'hundred' | 'thousand' | 'and';

function parseEnglish(tokens: readonly string[]): number | undefined {
  let total = 0;
  let current = 0;
  let state: EnState = 'start';
  for (let i = 0; i < tokens.length; i++) {
    const word = tokens[i] as string;
    if (word === 'point') {
      if (state === 'start' || state === 'and') return undefined;
      const decimals = tokens.slice(i + 1).map((t) => EN_SMALL[t]);
      if (decimals.length === 0 || decimals.some((d) => d === undefined || d > 9)) return undefined;
      return total + current + Number(`0.${decimals.join('')}`);
    }
    const small = EN_SMALL[word];
    const tens = EN_TENS[word];
    if (small !== undefined) {
      // "twenty one" is fine, "five five" or "twelve three" is not a number.
      if (state === 'small') return undefined;
      if (state === 'tens' && (small === 0 || small > 9)) return undefined;
      current += small;
      state = 'small';
    } else if (tens !== undefined) {
      if (state === 'small' || state === 'tens') return undefined;
      current += tens;
      state = 'tens';
    } else if (word === 'hundred') {
      if (state === 'tens' || state === 'hundred' || state === 'and' || current % 100 >= 10) return undefined;
      current = (current === 0 ? 1 : current) * 100;
      state = 'hundred';
    } else if (word === 'thousand') {
      if (state === 'thousand' || state === 'and') return undefined;
      total += (current === 0 ? 1 : current) * 1000;
      current = 0;
      state = 'thousand';
    } else if (word === 'and') {
      if (state !== 'hundred' && state !== 'thousand') return undefined;
      state = 'and';
    } else if (DIGITS_RE.test(word)) {
      return undefined;
    } else {
      return undefined;
    }
  }
  if (state === 'and' || state === 'start') return undefined;
  return total + current;
}

function parseChinese(tokens: readonly string[]): number | undefined {
  let total = 0;
  let section = 0;
  let digit = -1;
  let lastUnit = Number.POSITIVE_INFINITY;
  let afterZero = false;
  let seen = false;
  for (let i = 0; i < tokens.length; i++) {
    const ch = tokens[i] as string;
    const d = ZH_DIGITS[ch];
    const unit = ZH_UNITS[ch];
    if (d !== undefined) {
      if (digit !== -1) return undefined;
      if (d === 0) {
        afterZero = true;
        seen = true;
        continue;
      }
      digit = d;
      seen = true;
    } else if (unit !== undefined) {
      if (unit >= lastUnit) return undefined;
      if (digit === -1) {
        // A bare 十 starts "十五" (15); a bare 百 or 千 is not said.
        if (unit !== 10 || section !== 0 || total !== 0 || afterZero) return undefined;
        digit = 1;
      }
      section += digit * unit;
      digit = -1;
      lastUnit = unit;
      afterZero = false;
      seen = true;
    } else if (ch === '万') {
      if (!seen) return undefined;
      total += (section + Math.max(digit, 0)) * 10_000;
      section = 0;
      digit = -1;
      lastUnit = Number.POSITIVE_INFINITY;
      afterZero = false;
    } else if (ch === '点') {
      if (!seen) return undefined;
      const decimals = tokens.slice(i + 1).map((t) => ZH_DIGITS[t]);
      if (decimals.length === 0 || decimals.some((x) => x === undefined)) return undefined;
      return total + section + Math.max(digit, 0) + Number(`0.${decimals.join('')}`);
    } else {
      return undefined;
    }
  }
  if (!seen) return undefined;
  let last = Math.max(digit, 0);
  // "一百五" is 150 and "三千二" is 3200: a trailing digit right after a unit counts in the next unit down.
  if (digit > 0 && !afterZero && lastUnit >= 100 && lastUnit !== Number.POSITIVE_INFINITY) last = digit * (lastUnit / 10);
  return total + section + last;
}

/**
 * Spell a non-negative integer below a million in English words, separated by spaces
 * (21 -> "twenty one", 150 -> "one hundred fifty"), as a speech grammar wants them.
 */
export function spellEnglishNumber(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value >= 1_000_000) return String(value);
  if (value < 1000) return spellBelowThousand(value);
  const rest = value % 1000;
  const head = `${spellBelowThousand(Math.floor(value / 1000))} thousand`;
  return rest === 0 ? head : `${head} ${spellBelowThousand(rest)}`;
}

function spellBelowThousand(n: number): string {
  if (n < 20) return ONES_WORDS[n] as string;
  if (n < 100) {
    const tens = TENS_WORDS[Math.floor(n / 10)] as string;
    return n % 10 === 0 ? tens : `${tens} ${ONES_WORDS[n % 10] as string}`;
  }
  const rest = n % 100;
  const head = `${ONES_WORDS[Math.floor(n / 100)] as string} hundred`;
  return rest === 0 ? head : `${head} ${spellBelowThousand(rest)}`;
}
