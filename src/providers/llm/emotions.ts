/**
 * The 21 emotions a xiaozhi device can show (protocol.md §2.5, PY's EMOJI_MAP), keyed by name.
 * The device only reads the name; the emoji is what an LLM writes and what `llm.text` carries.
 */
export const XIAOZHI_EMOTION_EMOJI: Readonly<Record<string, string>> = Object.freeze({
  funny: '😂',
  crying: '😭',
  angry: '😠',
  sad: '😔',
  loving: '😍',
  surprised: '😲',
  shocked: '😱',
  thinking: '🤔',
  relaxed: '😌',
  sleepy: '😴',
  silly: '😜',
  confused: '🙄',
  neutral: '😶',
  happy: '🙂',
  laughing: '😆',
  embarrassed: '😳',
  winking: '😉',
  cool: '😎',
  delicious: '🤤',
  kissy: '😘',
  confident: '😏',
});

/**
 * Common emoji that models write instead of the canonical ones, mapped to the nearest emotion.
 * Without these a reply starting with 😊 would show no emotion at all.
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

const EMOTION_BY_EMOJI: ReadonlyMap<string, string> = new Map([
  ...Object.entries(XIAOZHI_EMOTION_EMOJI).map(([emotion, emoji]) => [emoji, emotion] as [string, string]),
  ...Object.entries(EMOJI_ALIASES),
]);

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
 * Emoji that map to nothing are skipped, as PY does.
 */
export function emotionOfText(text: string): Emotion | undefined {
  for (const match of text.matchAll(EMOJI_PATTERN)) {
    const emoji = match[0];
    // Look the bare pictograph up: "❤️" arrives with a variation selector.
    const base = emoji.replace(/[\uFE0F\u20E3\u{1F3FB}-\u{1F3FF}]/gu, '').split('\u200D')[0] ?? emoji;
    const emotion = EMOTION_BY_EMOJI.get(base);
    if (emotion) return { emotion, emoji: XIAOZHI_EMOTION_EMOJI[emotion] ?? base };
  }
  return undefined;
}

/** Remove every emoji (with its modifiers) from `text`. */
export function stripEmoji(text: string): string {
  return text.replace(EMOJI_PATTERN, '').replace(/[\uFE0F\u200D\u20E3]/g, '');
}
