/**
 * Spoken confirmations and failures of home actions, in English and Chinese. Short sentences a
 * TTS reads well: no symbols it would spell out (units are words), numbers rounded.
 */
import type { CatalogueEntity, EntityState } from './catalogue-types';

/** Language of spoken answers. */
export type ActionLanguage = 'en' | 'zh';

/** Message keys of action answers. */
export type SpeechKey =
  | 'turned_on'
  | 'turned_off'
  | 'brightness_set'
  | 'color_set'
  | 'color_temp_set'
  | 'opened'
  | 'closed'
  | 'position_set'
  | 'temperature_set'
  | 'scene_activated'
  | 'locked'
  | 'unlocked'
  | 'no_response'
  | 'not_found'
  | 'unsupported'
  | 'bad_value'
  | 'publish_failed'
  | 'state_unknown';

type Vars = { name: string; value?: string | number };

const EN: Record<SpeechKey, (v: Vars) => string> = {
  turned_on: (v) => `Turned on ${v.name}.`,
  turned_off: (v) => `Turned off ${v.name}.`,
  brightness_set: (v) => `Set ${v.name} to ${v.value} percent.`,
  color_set: (v) => `Set ${v.name} to ${v.value}.`,
  color_temp_set: (v) => `Set ${v.name} to ${v.value} kelvin.`,
  opened: (v) => `Opened ${v.name}.`,
  closed: (v) => `Closed ${v.name}.`,
  position_set: (v) => `Set ${v.name} to ${v.value} percent open.`,
  temperature_set: (v) => `Set ${v.name} to ${v.value} degrees.`,
  scene_activated: (v) => `Activated ${v.name}.`,
  locked: (v) => `Locked ${v.name}.`,
  unlocked: (v) => `Unlocked ${v.name}.`,
  no_response: (v) => `Sorry, ${v.name} did not respond.`,
  not_found: () => `Sorry, I could not find that device.`,
  unsupported: (v) => `Sorry, ${v.name} cannot ${v.value}.`,
  bad_value: (v) => `Sorry, I did not understand the value for ${v.name}.`,
  publish_failed: (v) => `Sorry, I could not send the command to ${v.name}.`,
  state_unknown: (v) => `I don't know the state of ${v.name} yet.`,
};

const ZH: Record<SpeechKey, (v: Vars) => string> = {
  turned_on: (v) => `已打开${v.name}。`,
  turned_off: (v) => `已关闭${v.name}。`,
  brightness_set: (v) => `已将${v.name}亮度调到百分之${v.value}。`,
  color_set: (v) => `已将${v.name}调成${v.value}。`,
  color_temp_set: (v) => `已将${v.name}色温调到${v.value}K。`,
  opened: (v) => `已打开${v.name}。`,
  closed: (v) => `已关闭${v.name}。`,
  position_set: (v) => `已将${v.name}开到百分之${v.value}。`,
  temperature_set: (v) => `已将${v.name}温度设为${v.value}度。`,
  scene_activated: (v) => `已启动${v.name}。`,
  locked: (v) => `已锁上${v.name}。`,
  unlocked: (v) => `已打开${v.name}的锁。`,
  no_response: (v) => `抱歉，${v.name}没有响应。`,
  not_found: () => `抱歉，我没有找到这个设备。`,
  unsupported: (v) => `抱歉，${v.name}不支持${v.value}。`,
  bad_value: (v) => `抱歉，我没听懂${v.name}要设置的值。`,
  publish_failed: (v) => `抱歉，命令没能发送给${v.name}。`,
  state_unknown: (v) => `我还不知道${v.name}的状态。`,
};

/** What an unsupported action is called in a sentence ("cannot change brightness"). */
export const ABILITY_WORDS: Record<string, { en: string; zh: string }> = {
  turn_on: { en: 'be turned on', zh: '打开' },
  turn_off: { en: 'be turned off', zh: '关闭' },
  toggle: { en: 'be switched', zh: '切换开关' },
  set_brightness: { en: 'change brightness', zh: '调节亮度' },
  set_color: { en: 'change colour', zh: '调节颜色' },
  set_color_temp: { en: 'change colour temperature', zh: '调节色温' },
  open: { en: 'be opened', zh: '打开' },
  close: { en: 'be closed', zh: '关闭' },
  set_position: { en: 'be set to a position', zh: '调节开合位置' },
  set_temperature: { en: 'change temperature', zh: '调节温度' },
  activate_scene: { en: 'be activated as a scene', zh: '作为场景启动' },
  lock: { en: 'be locked', zh: '上锁' },
  unlock: { en: 'be unlocked', zh: '开锁' },
};

const CJK = /[\u3400-\u9fff]/;

/** The entity's name as said in a sentence: "the kitchen light" in English, the bare name in Chinese. */
export function spokenName(entity: Pick<CatalogueEntity, 'name' | 'domain'> | undefined, language: ActionLanguage): string {
  const name = entity?.name.trim() ?? '';
  // Scenes are named like titles ("movie time"): no article.
  if (language === 'zh' || CJK.test(name) || entity?.domain === 'scene') return name;
  return /^the\s/i.test(name) ? name : `the ${name}`;
}

/** Render one answer. */
export function speak(language: ActionLanguage, key: SpeechKey, vars: Vars): string {
  const table = language === 'zh' ? ZH : EN;
  return table[key](vars);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const UNIT_WORDS: Record<string, { en: string; zh: string }> = {
  '°C': { en: 'degrees', zh: '摄氏度' },
  '°F': { en: 'degrees Fahrenheit', zh: '华氏度' },
  '%': { en: 'percent', zh: '%' },
  lx: { en: 'lux', zh: '勒克斯' },
  W: { en: 'watts', zh: '瓦' },
  kWh: { en: 'kilowatt hours', zh: '千瓦时' },
  hPa: { en: 'hectopascals', zh: '百帕' },
  ppm: { en: 'parts per million', zh: 'ppm' },
};

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * Describe an entity's state as a sentence ("The kitchen light is on at 50 percent."), or
 * undefined when nothing is known.
 */
export function describeState(entity: CatalogueEntity, state: EntityState | undefined, language: ActionLanguage): string | undefined {
  if (!state) return undefined;
  const name = spokenName(entity, language);
  const zh = language === 'zh';
  switch (entity.domain) {
    case 'cover':
    case 'valve': {
      const open = state.coverState === 'open' || (state.position !== undefined && state.position > 0);
      if (state.coverState === undefined && state.position === undefined) return undefined;
      if (zh) return open ? `${name}开着${state.position !== undefined && state.position < 100 ? `，开到百分之${state.position}` : ''}。` : `${name}关着。`;
      const at = open && state.position !== undefined && state.position < 100 ? ` at ${state.position} percent` : '';
      return `${capitalize(name)} is ${open ? 'open' : 'closed'}${at}.`;
    }
    case 'climate': {
      if (state.targetTemperature === undefined && state.currentTemperature === undefined && state.on === undefined) return undefined;
      if (state.on === false) return zh ? `${name}关着。` : `${capitalize(name)} is off.`;
      const parts: string[] = [];
      if (zh) {
        if (state.targetTemperature !== undefined) parts.push(`设定为${round1(state.targetTemperature)}度`);
        if (state.currentTemperature !== undefined) parts.push(`当前${round1(state.currentTemperature)}度`);
        return `${name}${parts.join('，') || '开着'}。`;
      }
      if (state.targetTemperature !== undefined) parts.push(`set to ${round1(state.targetTemperature)} degrees`);
      if (state.currentTemperature !== undefined) parts.push(`currently ${round1(state.currentTemperature)}`);
      return `${capitalize(name)} is ${parts.join(', ') || 'on'}.`;
    }
    case 'lock':
      if (state.locked === undefined) return undefined;
      return zh ? `${name}${state.locked ? '锁着' : '没有锁'}。` : `${capitalize(name)} is ${state.locked ? 'locked' : 'unlocked'}.`;
    case 'sensor':
    case 'number': {
      if (state.value === undefined) return undefined;
      const unit = entity.unit ? (UNIT_WORDS[entity.unit]?.[language] ?? entity.unit) : '';
      const value = typeof state.value === 'number' ? round1(state.value) : state.value;
      return zh ? `${name}是${value}${unit}。` : `${capitalize(name)} is ${value}${unit ? ` ${unit}` : ''}.`;
    }
    default: {
      if (state.on === undefined) return undefined;
      if (zh) {
        const bri = state.on && state.brightnessPercent !== undefined ? `，亮度百分之${state.brightnessPercent}` : '';
        return `${name}${state.on ? '开着' : '关着'}${bri}。`;
      }
      const bri = state.on && state.brightnessPercent !== undefined && entity.capabilities.brightness ? ` at ${state.brightnessPercent} percent` : '';
      return `${capitalize(name)} is ${state.on ? 'on' : 'off'}${bri}.`;
    }
  }
}
