import { EMOTIONS, emotionFromText } from '../../protocol/messages';

/**
 * Common emoji that models write instead of the 21 canonical ones (protocol.md §2.5), mapped to the nearest emotion.
 * Without these, a reply that opens with 😢 would get the default emotion instead of crying.
 */
const EMOJI_ALIASES: Readonly<Record<string, string>> = {
  '😊': 'happy',
  '☺': 'happy',
  '😀': 'happy',
  '😃': 'happy',
  '😄': 'happy',
  '😁': 'laughing',
  '🤣': 'funny',
  '😹': 'funny',
  '😢': 'crying',
  '😿': 'crying',
  '😡': 'angry',
  '🤬': 'angry',
  '😞': 'sad',
  '😟': 'sad',
  '🥺': 'sad',
  '🥰': 'loving',
  '❤': 'loving',
  '😻': 'loving',
  '😮': 'surprised',
  '😯': 'surprised',
  '🤩': 'surprised',
  '😨': 'shocked',
  '😰': 'shocked',
  '🧐': 'thinking',
  '😪': 'sleepy',
  '🥱': 'sleepy',
  '🤪': 'silly',
  '😛': 'silly',
  '😝': 'silly',
  '😕': 'confused',
  '🤨': 'confused',
  '😐': 'neutral',
  '😑': 'neutral',
  '😅': 'embarrassed',
  '🙈': 'embarrassed',
  '🤓': 'cool',
  '😋': 'delicious',
  '😗': 'kissy',
  '😚': 'kissy',
  '😙': 'kissy',
  '😼': 'confident',
};


/** An emotion name with the emoji that expressed it. */
export interface Emotion {
  emotion: string;
  emoji: string;
}

/** Matches one emoji with its modifiers (variation selector, skin tone, ZWJ sequence, keycap). */
const EMOJI_PATTERN =
  /(?:\p{Extended_Pictographic}|[\u{1F1E6}-\u{1F1FF}])(?:\uFE0F|\u20E3|[\u{1F3FB}-\u{1F3FF}])*(?:\u200D\p{Extended_Pictographic}(?:\uFE0F|[\u{1F3FB}-\u{1F3FF}])*)*/gu;

/**
 * The emotion of the first emoji in `text` that maps to a xiaozhi emotion, or undefined.
 * The 21 canonical emoji are looked up with the protocol's `emotionFromText`; common look-alikes
 * (😊, ❤️, 😢...) map through aliases. Emoji that map to nothing are skipped, as PY does.
 */
export function emotionOfText(text: string): Emotion | undefined {
  for (const match of text.matchAll(EMOJI_PATTERN)) {
    const emoji = match[0];
    const canonical = emotionFromText(emoji);
    if (canonical) return canonical;
    // Look the bare pictograph up: "❤️" arrives with a variation selector.
    const base = emoji.replace(/[\uFE0F\u20E3\u{1F3FB}-\u{1F3FF}]/gu, '').split('\u200D')[0] ?? emoji;
    const emotion = EMOJI_ALIASES[base];
    if (emotion) return { emotion, emoji: EMOTIONS[emotion] ?? base };
  }
  return undefined;
}

/** Remove every emoji (with its modifiers) from `text`. */
export function stripEmoji(text: string): string {
  return text.replace(EMOJI_PATTERN, '').replace(/[\uFE0F\u200D\u20E3]/g, '');
}
