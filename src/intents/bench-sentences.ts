/**
 * Sentences for the intent benchmark (`npm run bench:home`): a synthetic home of about 200
 * entities in English- and Chinese-named rooms, and a seeded stream of what people say to it —
 * commands that should match, and misses (chit-chat, questions for the LLM, unknown devices).
 */
import type { IntentCatalogue, IntentEntity, IntentLanguage } from './types';

/** One benchmark sentence with what a correct matcher returns. */
export interface BenchSentence {
  text: string;
  language: IntentLanguage;
  /** Intent a correct matcher finds; undefined for a sentence that must miss. */
  expectIntent?: string;
}

const EN_AREAS = ['kitchen', 'living room', 'bedroom', 'bathroom', 'office', 'hallway', 'garage', 'garden', 'dining room', 'guest room', 'basement', 'attic', 'laundry room', 'study', 'porch', 'nursery'];
const ZH_AREAS = ['客厅', '卧室', '厨房', '书房', '卫生间', '阳台', '餐厅', '儿童房', '主卧', '次卧', '玄关', '走廊'];
const EN_LIGHTS = ['ceiling light', 'lamp', 'spotlights', 'strip light', 'reading lamp', 'pendant light'];
const ZH_LIGHTS = ['吊灯', '台灯', '灯带', '筒灯', '床头灯', '吸顶灯'];

/**
 * A synthetic catalogue: per English area a few lights (named "<area> <light>"), a plug, a fan,
 * blinds and a thermostat; the same in Chinese areas; a few scenes. About 200 entities with the
 * defaults.
 */
export function benchCatalogue(): IntentCatalogue {
  const entities: IntentEntity[] = [];
  let n = 0;
  const add = (name: string, domain: string, area: string | undefined, caps: IntentEntity['capabilities'], aliases: string[] = []): void => {
    entities.push({ id: `${domain}.e${n++}`, name, aliases, domain, capabilities: caps, ...(area ? { area } : {}) });
  };
  const light = { onOff: true, brightness: true, colorTemp: true, color: true };
  for (const area of EN_AREAS) {
    for (const kind of EN_LIGHTS.slice(0, 4)) add(`${area} ${kind}`, 'light', area, light);
    add(`${area} plug`, 'switch', area, { onOff: true });
    add(`${area} fan`, 'fan', area, { onOff: true });
    add(`${area} blinds`, 'cover', area, { position: true });
    add(`${area} thermostat`, 'climate', area, { onOff: true, setpoint: true });
  }
  for (const area of ZH_AREAS) {
    for (const kind of ZH_LIGHTS.slice(0, 3)) add(`${area}${kind}`, 'light', area, light);
    add(`${area}插座`, 'switch', area, { onOff: true });
    add(`${area}窗帘`, 'cover', area, { position: true });
    add(`${area}空调`, 'climate', area, { onOff: true, setpoint: true });
  }
  for (const scene of ['movie', 'dinner', 'good night', 'reading', 'party']) add(scene, 'scene', undefined, {});
  for (const scene of ['观影模式', '回家模式', '睡眠模式']) add(scene, 'scene', undefined, {});
  const areas = [...EN_AREAS, ...ZH_AREAS];
  return { entities: () => entities, areas: () => areas };
}

/** mulberry32: tiny seeded PRNG so a run can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EN_MISSES = [
  'what is the capital of France', 'tell me a joke', "what's the weather like tomorrow", 'who won the game last night',
  'turn on the spaceship', 'open the pod bay doors', 'how do I make pancakes', 'set a timer for ten minutes',
  'play some jazz', 'what time is it in Tokyo', 'turn on the kitchen toaster oven', 'dim the moon',
  'remind me to call mum', 'how far is the moon', 'translate hello into Chinese', 'why is the sky blue',
];
const ZH_MISSES = [
  '今天天气怎么样', '给我讲个笑话', '法国的首都是哪里', '明天会下雨吗', '打开宇宙飞船', '放一首周杰伦的歌',
  '现在几点了', '帮我定一个十分钟的闹钟', '红烧肉怎么做', '你叫什么名字', '把月亮调暗', '北京到上海有多远',
];

/**
 * `count` sentences, about 70 % commands and 30 % misses, half English and half Chinese,
 * reproducible from `seed`.
 */
export function benchSentences(count: number, seed = 1): BenchSentence[] {
  const rnd = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
  const out: BenchSentence[] = [];
  const en: (() => BenchSentence)[] = [
    () => ({ text: `turn on the ${pick(EN_AREAS)} ${pick(EN_LIGHTS.slice(0, 4))}`, language: 'en', expectIntent: 'HassTurnOn' }),
    () => ({ text: `please switch off all the lights in the ${pick(EN_AREAS)}`, language: 'en', expectIntent: 'HassTurnOff' }),
    () => ({ text: `Set the ${pick(EN_AREAS)} lamp to ${Math.floor(rnd() * 101)}%.`, language: 'en', expectIntent: 'HassLightSet' }),
    () => ({ text: `set the ${pick(EN_AREAS)} ceiling light to ${pick(['twenty', 'fifty', 'seventy five', 'one hundred'])} percent`, language: 'en', expectIntent: 'HassLightSet' }),
    () => ({ text: `dim the ${pick(EN_AREAS)} lights`, language: 'en', expectIntent: 'HassLightSet' }),
    () => ({ text: `make the ${pick(EN_AREAS)} strip light ${pick(['red', 'blue', 'green', 'purple'])}`, language: 'en', expectIntent: 'HassLightSet' }),
    () => ({ text: `set the ${pick(EN_AREAS)} lamp to warm white`, language: 'en', expectIntent: 'HassLightSet' }),
    () => ({ text: `close the ${pick(EN_AREAS)} blinds`, language: 'en', expectIntent: 'HassCloseCover' }),
    () => ({ text: `set the ${pick(EN_AREAS)} thermostat to ${18 + Math.floor(rnd() * 8)} degrees`, language: 'en', expectIntent: 'HassClimateSetTemperature' }),
    () => ({ text: `activate ${pick(['movie', 'dinner', 'party'])} scene`, language: 'en', expectIntent: 'HassTurnOn' }),
    () => ({ text: `is the ${pick(EN_AREAS)} fan on?`, language: 'en', expectIntent: 'HassGetState' }),
    () => ({ text: `set the volume to ${Math.floor(rnd() * 11) * 10}`, language: 'en', expectIntent: 'DeviceSetVolume' }),
    () => ({ text: pick(['louder', 'a bit quieter please', 'turn it up']), language: 'en', expectIntent: 'DeviceSetVolume' }),
  ];
  const zh: (() => BenchSentence)[] = [
    () => ({ text: `打开${pick(ZH_AREAS)}的灯`, language: 'zh', expectIntent: 'HassTurnOn' }),
    () => ({ text: `把${pick(ZH_AREAS)}${pick(ZH_LIGHTS.slice(0, 3))}关掉`, language: 'zh', expectIntent: 'HassTurnOff' }),
    () => ({ text: `把${pick(ZH_AREAS)}灯调到百分之${pick(['十', '二十', '五十', '七十五', '一百'])}`, language: 'zh', expectIntent: 'HassLightSet' }),
    () => ({ text: `请把${pick(ZH_AREAS)}${pick(ZH_LIGHTS.slice(0, 3))}调暗一点`, language: 'zh', expectIntent: 'HassLightSet' }),
    () => ({ text: `把${pick(ZH_AREAS)}的灯调成${pick(['红色', '蓝色', '暖光'])}`, language: 'zh', expectIntent: 'HassLightSet' }),
    () => ({ text: `拉上${pick(ZH_AREAS)}窗帘`, language: 'zh', expectIntent: 'HassCloseCover' }),
    () => ({ text: `把${pick(ZH_AREAS)}空调调到${pick(['二十', '二十六', '24'])}度`, language: 'zh', expectIntent: 'HassClimateSetTemperature' }),
    () => ({ text: `打开${pick(['观影模式', '回家模式'])}`, language: 'zh', expectIntent: 'HassTurnOn' }),
    () => ({ text: `${pick(ZH_AREAS)}${pick(ZH_LIGHTS.slice(0, 3))}开着吗`, language: 'zh', expectIntent: 'HassGetState' }),
    () => ({ text: `音量调到${Math.floor(rnd() * 11) * 10}`, language: 'zh', expectIntent: 'DeviceSetVolume' }),
    () => ({ text: pick(['大声一点', '小声点', '调大音量']), language: 'zh', expectIntent: 'DeviceSetVolume' }),
  ];
  for (let i = 0; i < count; i++) {
    const chinese = rnd() < 0.5;
    if (rnd() < 0.3) {
      out.push(chinese ? { text: pick(ZH_MISSES), language: 'zh' } : { text: pick(EN_MISSES), language: 'en' });
    } else {
      out.push(pick(chinese ? zh : en)());
    }
  }
  return out;
}
