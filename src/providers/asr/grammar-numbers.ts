const ONES = [
  'zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten',
  'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/**
 * Spell a whole number in English words as people say it to a voice assistant: 21 -> "twenty
 * one", 100 -> "one hundred", 250 -> "two hundred fifty", 1999 -> "one thousand nine hundred
 * ninety nine". Words are separate (never hyphenated) because the pronunciation dictionary has
 * every part on its own. Numbers from a million up, and anything that is not a safe non-negative
 * integer, are read digit by digit ("1234567" -> "one two three ...").
 */
export function spellNumber(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 1_000_000) {
    return String(value).replace(/[^0-9]/g, '').split('').map((d) => ONES[Number(d)]).join(' ');
  }
  return spellBelowMillion(value);
}

function spellBelowHundred(n: number): string {
  if (n < 20) return ONES[n] as string;
  const tens = TENS[Math.floor(n / 10)] as string;
  return n % 10 === 0 ? tens : `${tens} ${ONES[n % 10] as string}`;
}

function spellBelowThousand(n: number): string {
  if (n < 100) return spellBelowHundred(n);
  const rest = n % 100;
  const hundreds = `${ONES[Math.floor(n / 100)] as string} hundred`;
  return rest === 0 ? hundreds : `${hundreds} ${spellBelowHundred(rest)}`;
}

function spellBelowMillion(n: number): string {
  if (n < 1000) return spellBelowThousand(n);
  const rest = n % 1000;
  const thousands = `${spellBelowThousand(Math.floor(n / 1000))} thousand`;
  return rest === 0 ? thousands : `${thousands} ${spellBelowThousand(rest)}`;
}
