/**
 * Answers a few everyday requests without any language model or API key, in English and
 * Chinese: time, date, greetings, "who are you", jokes, thanks, goodbye and the speaker volume
 * (through the device's own MCP tool). Anything else gets an honest "I heard: ..." so a fresh
 * install talks back at once and says what it would need for more.
 */

/** Result of a device tool call, as Session.callTool reports it. */
export interface OfflineToolResult {
  text: string;
  isError: boolean;
}

/** What the responder may look at and use. */
export interface OfflineContext {
  /** The current time (injected so answers are testable). */
  now: Date;
  /** IANA time zone for time and date answers; default the process's zone. */
  timeZone?: string;
  /** Names of the device's MCP tools, e.g. `self.audio_speaker.set_volume`. */
  tools: readonly string[];
  /** Calls a device tool; absent when no device is attached. Rejections count as failures. */
  callTool?: (name: string, args: Record<string, unknown>) => Promise<OfflineToolResult>;
}

/** The answer: text to speak and, when fitting, an emotion name (protocol emotions). */
export interface OfflineReply {
  reply: string;
  emotion?: string;
}

/** The firmware's volume tool (xiaozhi-esp32 `McpServer::AddCommonTools`). */
export const SET_VOLUME_TOOL = 'self.audio_speaker.set_volume';
/** The firmware's status tool; its JSON carries `audio_speaker.volume`. */
export const DEVICE_STATUS_TOOL = 'self.get_device_status';
/** Change applied by "louder" / "quieter", in volume points (0-100). */
const VOLUME_STEP = 10;

type Lang = 'en' | 'zh';

const CJK = /[\u3400-\u9fff]/;

const JOKES: Record<Lang, readonly string[]> = {
  en: [
    'Why did the scarecrow win an award? Because he was outstanding in his field.',
    "Why don't skeletons fight each other? They don't have the guts.",
    'Why did the bicycle fall over? Because it was two tired.',
    'I told my computer I needed a break. It said: no problem, I will go to sleep.',
  ],
  zh: [
    '有一天，数字0对数字8说：胖就胖呗，还系什么腰带。',
    '小明问爸爸：我是不是傻孩子？爸爸说：傻孩子，怎么会呢？',
    '为什么海水是咸的？因为鱼在里面哭了太多次。',
    '老师说：请用“一边……一边……”造句。小明说：一边是墙，一边是门。',
  ],
};

const TEXTS = {
  en: {
    greeting: "Hello! I'm Xiaozhi. Ask me the time, the date, or for a joke.",
    howAreYou: "I'm doing well, thank you! How can I help?",
    whoAreYou:
      "I'm Xiaozhi, a voice assistant running in Node-RED. Without a language model I can tell the time and date, set the volume and tell a joke.",
    thanks: "You're welcome!",
    goodbye: 'Goodbye! Talk to you soon.',
    noVolumeTool: "Sorry, I can't change the volume on this device.",
    volumeSet: (v: number) => `Volume set to ${v}.`,
    volumeFailed: 'Sorry, the device did not accept the volume change.',
    volumeUnknown: "I can't read the current volume. Say a number, like: set the volume to 60.",
    volumeAtLimit: (v: number) => `The volume is already at ${v}.`,
    fallback: (heard: string) =>
      `I heard: ${heard}. I can tell the time and date, set the volume or tell a joke; connect a language model for anything else.`,
    nothingHeard: "I didn't catch that. I can tell the time and date, set the volume or tell a joke.",
  },
  zh: {
    greeting: '你好！我是小智。你可以问我时间、日期，或者让我讲个笑话。',
    howAreYou: '我很好，谢谢！有什么可以帮你的？',
    whoAreYou: '我是小智，一个运行在 Node-RED 上的语音助手。没有接入大模型时，我可以报时间和日期、调节音量、讲笑话。',
    thanks: '不客气！',
    goodbye: '再见，下次聊！',
    noVolumeTool: '抱歉，这个设备不支持调节音量。',
    volumeSet: (v: number) => `音量已调到${v}。`,
    volumeFailed: '抱歉，设备没有接受音量调节。',
    volumeUnknown: '我读不到当前音量。请说一个数字，比如：音量调到60。',
    volumeAtLimit: (v: number) => `音量已经是${v}了。`,
    fallback: (heard: string) => `我听到的是：${heard}。我可以报时间和日期、调节音量或者讲笑话；更多功能请接入大模型。`,
    nothingHeard: '我没听清。我可以报时间和日期、调节音量或者讲笑话。',
  },
} as const;

// --------------------------------------------------------------------------------------------
// Patterns. English text is matched lower-cased with punctuation turned into spaces, so ASR
// output in capitals (pocketsphinx) or with trailing marks matches as well.
// --------------------------------------------------------------------------------------------

const EN = {
  volumeWord: /\b(volume|loudness)\b/,
  volumeUp: /\b(volume up|louder|turn (it|the volume|the sound) up|turn up the (volume|sound)|increase the volume|raise the volume)\b/,
  volumeDown: /\b(volume down|quieter|softer|turn (it|the volume|the sound) down|turn down the (volume|sound)|decrease the volume|lower the volume|reduce the volume)\b/,
  mute: /\b(mute|silence)\b/,
  time: /\b(what time|the time|time is it|current time|tell me the time)\b/,
  date: /\b(date|what day|which day|day is it|day today|day of the week)\b/,
  joke: /\b(joke|jokes|make me laugh|something funny)\b/,
  whoAreYou: /\b(who are you|what are you|your name|what can you do|what do you do|help me|help)\b/,
  howAreYou: /\bhow are you\b/,
  thanks: /\b(thank you|thanks|thank)\b/,
  goodbye: /\b(goodbye|good bye|bye|see you|good night)\b/,
  greeting: /^(hello|hi|hey|good morning|good afternoon|good evening|greetings)\b|\b(hello|hi there|hey there)\b/,
};

const ZH = {
  volumeWord: /音量|声音/,
  volumeUp: /大声|调大|大一点|大点|增大|提高音量|音量加|加大/,
  volumeDown: /小声|调小|小一点|小点|减小|降低音量|音量减|轻一点|轻点/,
  mute: /静音/,
  time: /几点|时间|多少点/,
  date: /几号|日期|星期几|礼拜几|周几|哪天|今天是/,
  joke: /笑话|逗我|搞笑/,
  whoAreYou: /你是谁|你叫什么|你的名字|你能做什么|你会什么|你可以做什么|能干什么|帮助/,
  howAreYou: /你好吗|最近怎么样/,
  thanks: /谢谢|多谢|感谢|谢了/,
  goodbye: /再见|拜拜|晚安|回头见/,
  greeting: /你好|您好|嗨|哈喽|早上好|下午好|晚上好|早安/,
};

/**
 * Answer `text` without a language model. Never throws: a failing tool call becomes a spoken
 * apology. Only volume requests have an effect (one or two device tool calls).
 */
export async function respond(text: string, ctx: OfflineContext): Promise<OfflineReply> {
  const heard = text.trim();
  const lang: Lang = CJK.test(heard) ? 'zh' : 'en';
  const t = TEXTS[lang];
  if (heard === '') return { reply: t.nothingHeard, emotion: 'confused' };
  const normal = lang === 'en' ? heard.toLowerCase().replace(/[^\p{L}\p{N}%]+/gu, ' ').trim() : heard;
  const p = lang === 'en' ? EN : ZH;

  const volume = volumeRequest(normal, lang);
  if (volume) return changeVolume(volume, lang, ctx);
  if (p.date.test(normal) && !(lang === 'en' && EN.time.test(normal))) return { reply: sayDate(ctx, lang), emotion: 'neutral' };
  if (p.time.test(normal)) return { reply: sayTime(ctx, lang), emotion: 'neutral' };
  if (p.joke.test(normal)) {
    const jokes = JOKES[lang];
    // Varies with the clock so repeated asks differ, yet stays reproducible in tests.
    const joke = jokes[Math.floor(ctx.now.getTime() / 1000) % jokes.length] ?? jokes[0]!;
    return { reply: joke, emotion: 'laughing' };
  }
  if (p.whoAreYou.test(normal)) return { reply: t.whoAreYou, emotion: 'happy' };
  if (p.howAreYou.test(normal)) return { reply: t.howAreYou, emotion: 'happy' };
  if (p.thanks.test(normal)) return { reply: t.thanks, emotion: 'happy' };
  if (p.goodbye.test(normal)) return { reply: t.goodbye, emotion: 'winking' };
  if (p.greeting.test(normal)) return { reply: t.greeting, emotion: 'happy' };
  return { reply: t.fallback(heard.replace(/[\s。.！!？?]+$/u, '')), emotion: 'confused' };
}

// --------------------------------------------------------------------------------------------
// Volume
// --------------------------------------------------------------------------------------------

type VolumeRequest = { kind: 'set'; volume: number } | { kind: 'step'; delta: number };

function volumeRequest(text: string, lang: Lang): VolumeRequest | undefined {
  const p = lang === 'en' ? EN : ZH;
  if (p.mute.test(text)) return { kind: 'set', volume: 0 };
  if (p.volumeWord.test(text)) {
    const value = lang === 'en' ? englishNumberIn(text) : chineseNumberIn(text);
    if (value !== undefined) return { kind: 'set', volume: clampVolume(value) };
  }
  if (p.volumeUp.test(text)) return { kind: 'step', delta: VOLUME_STEP };
  if (p.volumeDown.test(text)) return { kind: 'step', delta: -VOLUME_STEP };
  if (lang === 'en' && /\b(max|maximum|full) volume\b|\bvolume to (the )?max/.test(text)) return { kind: 'set', volume: 100 };
  if (lang === 'zh' && /音量.*(最大|调满)|最大音量/.test(text)) return { kind: 'set', volume: 100 };
  return undefined;
}

async function changeVolume(request: VolumeRequest, lang: Lang, ctx: OfflineContext): Promise<OfflineReply> {
  const t = TEXTS[lang];
  const callTool = ctx.callTool;
  if (!callTool || !ctx.tools.includes(SET_VOLUME_TOOL)) return { reply: t.noVolumeTool, emotion: 'sad' };
  let target: number;
  if (request.kind === 'set') {
    target = request.volume;
  } else {
    const current = ctx.tools.includes(DEVICE_STATUS_TOOL) ? await currentVolume(callTool) : undefined;
    if (current === undefined) return { reply: t.volumeUnknown, emotion: 'confused' };
    target = clampVolume(current + request.delta);
    if (target === current) return { reply: t.volumeAtLimit(current), emotion: 'neutral' };
  }
  try {
    const result = await callTool(SET_VOLUME_TOOL, { volume: target });
    if (result.isError) return { reply: t.volumeFailed, emotion: 'sad' };
  } catch {
    return { reply: t.volumeFailed, emotion: 'sad' };
  }
  return { reply: t.volumeSet(target), emotion: 'cool' };
}

/** Reads `audio_speaker.volume` from the device status JSON; undefined when unavailable. */
async function currentVolume(callTool: NonNullable<OfflineContext['callTool']>): Promise<number | undefined> {
  try {
    const result = await callTool(DEVICE_STATUS_TOOL, {});
    if (result.isError) return undefined;
    const status = JSON.parse(result.text) as { audio_speaker?: { volume?: unknown } };
    const volume = status.audio_speaker?.volume;
    return typeof volume === 'number' && Number.isFinite(volume) ? clampVolume(volume) : undefined;
  } catch {
    return undefined;
  }
}

function clampVolume(value: number): number {
  return Math.max(0, Math.min(100, Math.round(value)));
}

// --------------------------------------------------------------------------------------------
// Numbers as ASR writes them: digits, English words, Chinese numerals (up to a hundred).
// --------------------------------------------------------------------------------------------

const EN_UNITS: Readonly<Record<string, number>> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19,
};
const EN_TENS: Readonly<Record<string, number>> = { twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90 };

/** The first number in lower-cased English text: digits or words ("fifty five", "a hundred"). */
function englishNumberIn(text: string): number | undefined {
  const digits = /\b(\d{1,3})\b/.exec(text);
  if (digits) return Number(digits[1]);
  const words = text.split(' ');
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === 'hundred') return 100;
    const tens = EN_TENS[word];
    if (tens !== undefined) {
      const unit = EN_UNITS[words[i + 1] ?? ''];
      return unit !== undefined && unit > 0 && unit < 10 ? tens + unit : tens;
    }
    const unit = EN_UNITS[word];
    if (unit !== undefined) return words[i + 1] === 'hundred' ? unit * 100 : unit;
  }
  return undefined;
}

const ZH_DIGITS: Readonly<Record<string, number>> = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };

/**
 * The number right after 音量/声音 (and a verb such as 调到, 设为): Arabic digits or numerals such
 * as 五十, 二十五, 一百, 百分之三十. Only there, since 一 also means "a bit" (大一点).
 */
function chineseNumberIn(text: string): number | undefined {
  const match = /(?:音量|声音)(?:调到|调成|调为|设为|设置为|设成|设到|改为|改成|开到|到|为|是)?(?:百分之)?(\d{1,3}|[零〇一二两三四五六七八九十百]+)/.exec(text);
  if (!match) return undefined;
  const value = match[1]!;
  return /^\d+$/.test(value) ? Number(value) : parseChineseNumeral(value);
}

function parseChineseNumeral(numeral: string): number | undefined {
  let total = 0;
  let pending = 0;
  let sawAny = false;
  for (const ch of numeral) {
    const digit = ZH_DIGITS[ch];
    if (digit !== undefined) {
      pending = digit;
      sawAny = true;
    } else if (ch === '十') {
      total += (pending || 1) * 10;
      pending = 0;
      sawAny = true;
    } else if (ch === '百') {
      total += (pending || 1) * 100;
      pending = 0;
      sawAny = true;
    }
  }
  return sawAny ? total + pending : undefined;
}

// --------------------------------------------------------------------------------------------
// Time and date
// --------------------------------------------------------------------------------------------

interface ClockParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number; // 0 = Sunday
}

function clockParts(ctx: OfflineContext): ClockParts {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: ctx.timeZone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
    hourCycle: 'h23',
  });
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(ctx.now)) parts[part.type] = part.value;
  const weekdays = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute),
    weekday: Math.max(0, weekdays.indexOf(parts.weekday ?? '')),
  };
}

const EN_WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const EN_MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const ZH_WEEKDAYS = ['日', '一', '二', '三', '四', '五', '六'];

function sayTime(ctx: OfflineContext, lang: Lang): string {
  const c = clockParts(ctx);
  const hour12 = c.hour % 12 === 0 ? 12 : c.hour % 12;
  const minute = String(c.minute).padStart(2, '0');
  if (lang === 'en') return `It's ${hour12}:${minute} ${c.hour < 12 ? 'AM' : 'PM'}.`;
  const period = c.hour < 6 ? '凌晨' : c.hour < 12 ? '上午' : c.hour < 13 ? '中午' : c.hour < 18 ? '下午' : '晚上';
  return c.minute === 0 ? `现在是${period}${hour12}点整。` : `现在是${period}${hour12}点${minute}分。`;
}

function sayDate(ctx: OfflineContext, lang: Lang): string {
  const c = clockParts(ctx);
  if (lang === 'en') return `Today is ${EN_WEEKDAYS[c.weekday]}, ${EN_MONTHS[c.month - 1]} ${c.day}, ${c.year}.`;
  return `今天是${c.year}年${c.month}月${c.day}日，星期${ZH_WEEKDAYS[c.weekday]}。`;
}
