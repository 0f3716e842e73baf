/**
 * Turns LLM output into text a speech engine can read aloud: markdown syntax, emoji and
 * tool-call markup are removed (engines would otherwise spell out "asterisk asterisk" or
 * read JSON), and whitespace is collapsed.
 */

// Blocks whose whole content is unspeakable. An unterminated block (the LLM stream was cut,
// or a sentence splitter handed us the first half) swallows the rest of the text, because
// speaking half a tool call is worse than speaking nothing.
const DROPPED_BLOCKS: ReadonlyArray<RegExp> = [
  /<tool_call>[\s\S]*?(<\/tool_call>|$)/gi,
  /<function(=|\s)[\s\S]*?(<\/function>|$)/gi,
  /<think>[\s\S]*?(<\/think>|$)/gi,
  /<\|[a-z_]+\|>/gi, // chat-template control tokens such as <|im_end|>
  /```[\s\S]*?(```|$)/g, // fenced code blocks
];

// Emoji: pictographs plus the joiners and modifiers that glue them into sequences. Plain
// digits, '#' and '*' are not pictographic, so only the keycap combiner after them goes.
const EMOJI = /[\p{Extended_Pictographic}\u{1F1E6}-\u{1F1FF}\u{1F3FB}-\u{1F3FF}\u200D\uFE0E\uFE0F\u20E3]/gu;

/** True when some letter or digit remains, i.e. an engine has something to say. */
const SPEAKABLE = /[\p{L}\p{N}]/u;

/**
 * Remove every JSON object that looks like a function call (`{"name": ..., "arguments": ...}`,
 * also OpenAI's `{"type":"function","function":{...}}`), matching braces while skipping
 * string literals so nested objects and braces inside strings are handled.
 */
function removeToolCallJson(text: string): string {
  let out = '';
  let position = 0;
  while (position < text.length) {
    const open = text.indexOf('{', position);
    if (open < 0) break;
    const close = findMatchingBrace(text, open);
    const candidate = close < 0 ? text.slice(open) : text.slice(open, close + 1);
    if (/^\{\s*"(name|type|function|tool|arguments)"\s*:/.test(candidate) && /"(arguments|parameters|function)"\s*:/.test(candidate)) {
      out += text.slice(position, open);
      position = close < 0 ? text.length : close + 1;
    } else {
      out += text.slice(position, open + 1);
      position = open + 1;
    }
  }
  return out + text.slice(position);
}

/** Index of the brace closing the one at `open`, or -1 when the object is unterminated. */
function findMatchingBrace(text: string, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
    } else if (ch === '{') {
      depth++;
    } else if (ch === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Strip markdown syntax line by line, keeping the words it decorates. */
function removeMarkdown(text: string): string {
  return (
    text
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1') // images: keep the alt text
      .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1') // links: keep the link text
      .replace(/^[ \t]*#{1,6}[ \t]+/gm, '') // headings
      .replace(/^[ \t]*>[ \t]?/gm, '') // block quotes
      .replace(/^[ \t]*([-*+•]|\d{1,3}[.)])[ \t]+/gm, '') // list bullets and numbers
      .replace(/^[ \t]*([-*_])([ \t]*\1){2,}[ \t]*$/gm, '') // horizontal rules
      .replace(/^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$/gm, '') // table rules
      .replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, '$2') // bold
      .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '$1') // strikethrough
      // Italic: single * or _ hugging a word. Underscores only at word edges so snake_case survives.
      .replace(/\*(?=\S)([^*\n]*?\S)\*/g, '$1')
      .replace(/(^|[^\p{L}\p{N}_])_(?=\S)([^_\n]*?\S)_(?![\p{L}\p{N}_])/gu, '$1$2')
      .replace(/`([^`\n]*)`/g, '$1') // inline code: keep its content
      .replace(/\|/g, ' ') // table cell separators
      .replace(/<\/?[a-zA-Z][^<>]*>/g, ' ') // remaining HTML tags such as <br>
  );
}

/**
 * Clean one piece of LLM output for a speech engine.
 *
 * Removes markdown syntax (keeping the words: `**bold**` -> `bold`, `[text](url)` -> `text`,
 * headings, bullets, inline code), fenced code blocks, emoji, reasoning (`<think>`) and
 * function-call markup (`<tool_call>`, `<function=...>`, JSON call objects), then collapses
 * whitespace.
 *
 * @returns the speakable text, or '' when no letter or digit remains.
 */
export function cleanTextForSpeech(text: string): string {
  let cleaned = text;
  for (const block of DROPPED_BLOCKS) cleaned = cleaned.replace(block, ' ');
  cleaned = removeToolCallJson(cleaned);
  cleaned = removeMarkdown(cleaned);
  cleaned = cleaned.replace(EMOJI, '');
  cleaned = cleaned.replace(/\s+/g, ' ');
  // Removals leave gaps before punctuation ("Hi 😀!" -> "Hi !") that some engines pause on.
  cleaned = cleaned.replace(/ +([,.!?;:，。！？；：、])/g, '$1').trim();
  return SPEAKABLE.test(cleaned) ? cleaned : '';
}
