/**
 * Turn a home intent into the exact MQTT publishes for one catalogue entity (zigbee2mqtt `/set`
 * JSON, Home Assistant MQTT command topics in the default or JSON light schema), plus what the
 * state echo must look like for the action to count as confirmed.
 */
import type { CatalogueEntity, EntityState, HaMqttCommand, Zigbee2mqttCommand } from './catalogue-types';
import { renderTemplate } from './catalogue-template';
import { resolveColor, resolveColorTempMireds, rgbToHs, rgbToXy } from './actions-colors';
import type { SpeechKey } from './actions-speech';

/** Actions the hub can perform on an entity. */
export type HomeActionName =
  | 'turn_on'
  | 'turn_off'
  | 'toggle'
  | 'set_brightness'
  | 'set_color'
  | 'set_color_temp'
  | 'open'
  | 'close'
  | 'set_position'
  | 'set_temperature'
  | 'activate_scene'
  | 'query_state';

/** A home intent aimed at one entity. */
export interface HomeIntent {
  action: HomeActionName;
  entityId: string;
  /** Percent for brightness/position, colour word or hex, kelvin/mireds/word for colour temperature, degrees. */
  value?: number | string;
}

/** Failure codes of planning and executing an action. */
export type ActionErrorCode = 'not_found' | 'unsupported' | 'bad_value' | 'template_unsupported' | 'publish_failed';

/** Why an action could not be planned. */
export class ActionError extends Error {
  constructor(readonly code: ActionErrorCode, message: string) {
    super(message);
    this.name = 'ActionError';
  }
}

/** One MQTT message to send. */
export interface PlannedPublish {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

/** What executing an intent means for one entity. */
export interface ActionPlan {
  publishes: PlannedPublish[];
  /** Predicate a state echo must satisfy; undefined: the entity reports no state, nothing to wait for. */
  expect?: (state: EntityState, previous: EntityState | undefined) => boolean;
  /** Confirmation sentence key and the value it mentions. */
  confirmKey: SpeechKey;
  confirmValue?: string | number;
}

type Json = Record<string, unknown>;

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function num(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : fallback;
}

function requireNumber(value: unknown, what: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim().replace(/%$/, '')) : NaN;
  if (!Number.isFinite(n)) throw new ActionError('bad_value', `${what} needs a number, got ${JSON.stringify(value)}`);
  return n;
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

function unsupported(entity: CatalogueEntity, action: string): never {
  throw new ActionError('unsupported', `${entity.id} (${entity.domain}) cannot ${action}`);
}

const near = (a: number | undefined, b: number, tolerance: number): boolean => a !== undefined && Math.abs(a - b) <= tolerance;

/** The expected on/off state after an action (for toggle: the opposite of the known state). */
function onTarget(action: HomeActionName, current: EntityState | undefined): boolean | undefined {
  if (action === 'turn_on') return true;
  if (action === 'turn_off') return false;
  if (action === 'toggle') return current?.on === undefined ? undefined : !current.on;
  return undefined;
}

function kelvinOf(mireds: number): number {
  return Math.round(1_000_000 / mireds / 100) * 100;
}

// --- zigbee2mqtt --------------------------------------------------------------------------

function planZigbee2mqtt(entity: CatalogueEntity, cmd: Zigbee2mqttCommand, intent: HomeIntent, current: EntityState | undefined): ActionPlan {
  const caps = entity.capabilities;
  const props = cmd.properties;
  const publish = (body: Json): PlannedPublish => ({ topic: cmd.setTopic, payload: JSON.stringify(body), qos: 0, retain: false });
  switch (intent.action) {
    case 'turn_on':
    case 'turn_off':
    case 'toggle': {
      if (entity.domain === 'cover' && intent.action !== 'toggle') {
        return planZigbee2mqtt(entity, cmd, { ...intent, action: intent.action === 'turn_on' ? 'open' : 'close' }, current);
      }
      if (!caps.onOff || !props.state) unsupported(entity, intent.action);
      const target = onTarget(intent.action, current);
      let value: string;
      if (intent.action === 'toggle') value = cmd.valueToggle ?? (current?.on ? cmd.valueOff : cmd.valueOn);
      else value = target ? cmd.valueOn : cmd.valueOff;
      return {
        publishes: [publish({ [props.state]: value })],
        expect: (s, prev) => (target === undefined ? s.on !== undefined && s.on !== prev?.on : s.on === target),
        confirmKey: target === false ? 'turned_off' : 'turned_on',
      };
    }
    case 'set_brightness': {
      if (!caps.brightness || !props.brightness) unsupported(entity, 'set_brightness');
      const percent = clamp(requireNumber(intent.value, 'brightness'), 0, 100);
      const raw = clamp(Math.round((percent / 100) * caps.brightness.max), caps.brightness.min, caps.brightness.max);
      return {
        publishes: [publish({ [props.brightness]: raw })],
        expect: (s) => near(s.brightness, raw, 2) || (raw === 0 && s.on === false),
        confirmKey: 'brightness_set',
        confirmValue: Math.round(percent),
      };
    }
    case 'set_color': {
      if (!caps.color || !props.color) unsupported(entity, 'set_color');
      const color = resolveColor(intent.value);
      if (!color) throw new ActionError('bad_value', `unknown colour ${JSON.stringify(intent.value)}`);
      return {
        publishes: [publish({ [props.color]: { hex: color.hex } })],
        // Devices echo colour as xy or hs, not hex: any report after the command is the answer.
        expect: () => true,
        confirmKey: 'color_set',
        confirmValue: color.hex,
      };
    }
    case 'set_color_temp': {
      if (!caps.colorTemp || !props.colorTemp) unsupported(entity, 'set_color_temp');
      const mireds = resolveColorTempMireds(intent.value, caps.colorTemp.minMireds, caps.colorTemp.maxMireds);
      if (mireds === undefined) throw new ActionError('bad_value', `unknown colour temperature ${JSON.stringify(intent.value)}`);
      return {
        publishes: [publish({ [props.colorTemp]: mireds })],
        expect: (s) => near(s.colorTempMireds, mireds, 3),
        confirmKey: 'color_temp_set',
        confirmValue: kelvinOf(mireds),
      };
    }
    case 'open':
    case 'close': {
      if (!caps.openClose || !props.state) unsupported(entity, intent.action);
      const opening = intent.action === 'open';
      return {
        publishes: [publish({ [props.state]: opening ? cmd.valueOn : cmd.valueOff })],
        expect: (s) =>
          opening
            ? s.coverState === 'open' || s.coverState === 'opening' || (s.position ?? 0) > 0
            : s.coverState === 'closed' || s.coverState === 'closing' || s.position === 0,
        confirmKey: opening ? 'opened' : 'closed',
      };
    }
    case 'set_position': {
      if (!caps.position || !props.position) unsupported(entity, 'set_position');
      const position = Math.round(clamp(requireNumber(intent.value, 'position'), 0, 100));
      return {
        publishes: [publish({ [props.position]: position })],
        // A cover reports while it moves: any position report after the command is an answer.
        expect: (s, prev) => s.position !== undefined && (near(s.position, position, 3) || s.position !== prev?.position),
        confirmKey: 'position_set',
        confirmValue: position,
      };
    }
    case 'set_temperature': {
      if (!caps.setpoint || !props.setpoint) unsupported(entity, 'set_temperature');
      const step = caps.setpoint.step > 0 ? caps.setpoint.step : 0.5;
      const t = clamp(Math.round(requireNumber(intent.value, 'temperature') / step) * step, caps.setpoint.min, caps.setpoint.max);
      return {
        publishes: [publish({ [props.setpoint]: t })],
        expect: (s) => near(s.targetTemperature, t, step / 2 + 0.01),
        confirmKey: 'temperature_set',
        confirmValue: t,
      };
    }
    case 'activate_scene': {
      if (entity.domain !== 'scene' || cmd.sceneId === undefined) unsupported(entity, 'activate_scene');
      return { publishes: [publish({ scene_recall: cmd.sceneId })], confirmKey: 'scene_activated' };
    }
    default:
      unsupported(entity, intent.action);
  }
}

// --- Home Assistant MQTT --------------------------------------------------------------------

function render(config: Json, templateKey: string, vars: Json, fallback: string): string {
  const template = str(config[templateKey]);
  return template ? renderTemplate(template, vars) : fallback;
}

function planHa(entity: CatalogueEntity, cmd: HaMqttCommand, intent: HomeIntent, current: EntityState | undefined): ActionPlan {
  const c = cmd.config;
  const caps = entity.capabilities;
  const hasState = entity.stateTopic !== undefined;
  const msg = (topic: string | undefined, payload: string): PlannedPublish => {
    if (!topic) unsupported(entity, intent.action);
    return { topic, payload, qos: cmd.qos, retain: cmd.retain };
  };
  const payloadOn = str(c.payload_on) ?? 'ON';
  const payloadOff = str(c.payload_off) ?? 'OFF';
  const withState = (plan: ActionPlan): ActionPlan => (hasState ? plan : { ...plan, expect: undefined });

  if (entity.domain === 'light' && cmd.schema === 'template') unsupported(entity, intent.action);

  if (entity.domain === 'light' && cmd.schema === 'json') {
    const send = (body: Json): PlannedPublish => msg(cmd.commandTopic, JSON.stringify(body));
    const scale = num(c.brightness_scale, 255);
    const modes = Array.isArray(c.supported_color_modes) ? (c.supported_color_modes as unknown[]).map(String) : [];
    switch (intent.action) {
      case 'turn_on':
      case 'turn_off':
      case 'toggle': {
        const target = intent.action === 'toggle' ? !(current?.on ?? false) : intent.action === 'turn_on';
        return withState({
          publishes: [send({ state: target ? 'ON' : 'OFF' })],
          expect: (s) => s.on === target,
          confirmKey: target ? 'turned_on' : 'turned_off',
        });
      }
      case 'set_brightness': {
        if (!caps.brightness) unsupported(entity, 'set_brightness');
        const percent = clamp(requireNumber(intent.value, 'brightness'), 0, 100);
        if (percent === 0) return planHa(entity, cmd, { ...intent, action: 'turn_off' }, current);
        const raw = clamp(Math.round((percent / 100) * scale), 1, scale);
        return withState({
          publishes: [send({ state: 'ON', brightness: raw })],
          expect: (s) => near(s.brightness, raw, 2) || (s.on === true && s.brightness === undefined),
          confirmKey: 'brightness_set',
          confirmValue: Math.round(percent),
        });
      }
      case 'set_color_temp': {
        if (!caps.colorTemp) unsupported(entity, 'set_color_temp');
        const mireds = resolveColorTempMireds(intent.value, caps.colorTemp.minMireds, caps.colorTemp.maxMireds);
        if (mireds === undefined) throw new ActionError('bad_value', `unknown colour temperature ${JSON.stringify(intent.value)}`);
        const kelvinMode = c.color_temp_kelvin === true;
        return withState({
          publishes: [send({ state: 'ON', color_temp: kelvinMode ? Math.round(1_000_000 / mireds) : mireds })],
          expect: (s) => near(s.colorTempMireds, mireds, 3) || (s.on === true && s.colorTempMireds === undefined),
          confirmKey: 'color_temp_set',
          confirmValue: kelvinOf(mireds),
        });
      }
      case 'set_color': {
        if (!caps.color) unsupported(entity, 'set_color');
        const color = resolveColor(intent.value);
        if (!color) throw new ActionError('bad_value', `unknown colour ${JSON.stringify(intent.value)}`);
        let body: Json;
        if (modes.some((m) => m === 'rgb' || m === 'rgbw' || m === 'rgbww') || c.rgb === true) body = { r: color.r, g: color.g, b: color.b };
        else if (modes.includes('hs') || c.hs === true) body = rgbToHs(color.r, color.g, color.b);
        else body = rgbToXy(color.r, color.g, color.b);
        return withState({ publishes: [send({ state: 'ON', color: body })], expect: () => true, confirmKey: 'color_set', confirmValue: color.hex });
      }
      default:
        unsupported(entity, intent.action);
    }
  }

  switch (entity.domain) {
    case 'light': {
      const onType = str(c.on_command_type) ?? 'last';
      const on = msg(cmd.commandTopic, render(c, 'command_template', { value: payloadOn }, payloadOn));
      const around = (extra: PlannedPublish): PlannedPublish[] =>
        onType === 'first' ? [on, extra] : onType === 'brightness' ? [extra] : [extra, on];
      if (intent.action === 'turn_on' || intent.action === 'turn_off' || intent.action === 'toggle') {
        const target = intent.action === 'toggle' ? !(current?.on ?? false) : intent.action === 'turn_on';
        if (target && onType === 'brightness' && str(c.brightness_command_topic)) {
          const full = String(num(c.brightness_scale, 255));
          return withState({
            publishes: [msg(str(c.brightness_command_topic), render(c, 'brightness_command_template', { value: full }, full))],
            expect: (s) => s.on === true,
            confirmKey: 'turned_on',
          });
        }
        const payload = target ? payloadOn : payloadOff;
        return withState({
          publishes: [msg(cmd.commandTopic, render(c, 'command_template', { value: payload }, payload))],
          expect: (s) => s.on === target,
          confirmKey: target ? 'turned_on' : 'turned_off',
        });
      }
      if (intent.action === 'set_brightness') {
        if (!caps.brightness) unsupported(entity, 'set_brightness');
        const percent = clamp(requireNumber(intent.value, 'brightness'), 0, 100);
        if (percent === 0) return planHa(entity, cmd, { ...intent, action: 'turn_off' }, current);
        const scale = num(c.brightness_scale, 255);
        const raw = String(clamp(Math.round((percent / 100) * scale), 1, scale));
        const bri = msg(str(c.brightness_command_topic), render(c, 'brightness_command_template', { value: raw }, raw));
        const reportsBrightness = str(c.brightness_state_topic) !== undefined;
        return withState({
          publishes: around(bri),
          expect: (s) => (reportsBrightness ? near(s.brightness, Number(raw), 2) : s.on === true),
          confirmKey: 'brightness_set',
          confirmValue: Math.round(percent),
        });
      }
      if (intent.action === 'set_color_temp') {
        if (!caps.colorTemp) unsupported(entity, 'set_color_temp');
        const mireds = resolveColorTempMireds(intent.value, caps.colorTemp.minMireds, caps.colorTemp.maxMireds);
        if (mireds === undefined) throw new ActionError('bad_value', `unknown colour temperature ${JSON.stringify(intent.value)}`);
        const value = String(c.color_temp_kelvin === true ? Math.round(1_000_000 / mireds) : mireds);
        const ct = msg(str(c.color_temp_command_topic), render(c, 'color_temp_command_template', { value }, value));
        const reports = str(c.color_temp_state_topic) !== undefined;
        return withState({
          publishes: around(ct),
          expect: (s) => (reports ? near(s.colorTempMireds, mireds, 3) : s.on === true),
          confirmKey: 'color_temp_set',
          confirmValue: kelvinOf(mireds),
        });
      }
      if (intent.action === 'set_color') {
        if (!caps.color) unsupported(entity, 'set_color');
        const color = resolveColor(intent.value);
        if (!color) throw new ActionError('bad_value', `unknown colour ${JSON.stringify(intent.value)}`);
        let colorMsg: PlannedPublish;
        if (str(c.rgb_command_topic)) {
          const fallback = `${color.r},${color.g},${color.b}`;
          colorMsg = msg(str(c.rgb_command_topic), render(c, 'rgb_command_template', { red: color.r, green: color.g, blue: color.b }, fallback));
        } else if (str(c.hs_command_topic)) {
          const hs = rgbToHs(color.r, color.g, color.b);
          colorMsg = msg(str(c.hs_command_topic), render(c, 'hs_command_template', { hue: hs.h, sat: hs.s }, `${hs.h},${hs.s}`));
        } else {
          const xy = rgbToXy(color.r, color.g, color.b);
          colorMsg = msg(str(c.xy_command_topic), render(c, 'xy_command_template', { x: xy.x, y: xy.y }, `${xy.x},${xy.y}`));
        }
        return withState({ publishes: around(colorMsg), expect: () => true, confirmKey: 'color_set', confirmValue: color.hex });
      }
      return unsupported(entity, intent.action);
    }
    case 'switch':
    case 'fan': {
      if (intent.action !== 'turn_on' && intent.action !== 'turn_off' && intent.action !== 'toggle') unsupported(entity, intent.action);
      if (!caps.onOff) unsupported(entity, intent.action);
      const target = intent.action === 'toggle' ? !(current?.on ?? false) : intent.action === 'turn_on';
      const payload = target ? payloadOn : payloadOff;
      return withState({
        publishes: [msg(cmd.commandTopic, render(c, 'command_template', { value: payload }, payload))],
        expect: (s) => s.on === target,
        confirmKey: target ? 'turned_on' : 'turned_off',
      });
    }
    case 'cover':
    case 'valve': {
      const action = intent.action === 'turn_on' ? 'open' : intent.action === 'turn_off' ? 'close' : intent.action;
      if (action === 'open' || action === 'close') {
        if (!caps.openClose) unsupported(entity, action);
        const opening = action === 'open';
        const payload = opening ? (str(c.payload_open) ?? 'OPEN') : (str(c.payload_close) ?? 'CLOSE');
        const reports = hasState || str(c.position_topic) !== undefined;
        return {
          publishes: [msg(cmd.commandTopic, render(c, 'command_template', { value: payload }, payload))],
          expect: reports
            ? (s) =>
                opening
                  ? s.coverState === 'open' || s.coverState === 'opening' || (s.position ?? 0) > 0
                  : s.coverState === 'closed' || s.coverState === 'closing' || s.position === 0
            : undefined,
          confirmKey: opening ? 'opened' : 'closed',
        };
      }
      if (action === 'set_position') {
        if (!caps.position) unsupported(entity, 'set_position');
        const percent = Math.round(clamp(requireNumber(intent.value, 'position'), 0, 100));
        const open = num(c.position_open, 100);
        const closed = num(c.position_closed, 0);
        const device = Math.round(closed + ((open - closed) * percent) / 100);
        const topic = str(c.set_position_topic) ?? cmd.commandTopic;
        const reports = str(c.position_topic) !== undefined || hasState;
        return {
          publishes: [msg(topic, render(c, 'set_position_template', { position: device, value: device }, String(device)))],
          expect: reports ? (s, prev) => s.position !== undefined && (near(s.position, percent, 3) || s.position !== prev?.position) : undefined,
          confirmKey: 'position_set',
          confirmValue: percent,
        };
      }
      return unsupported(entity, intent.action);
    }
    case 'climate': {
      const reportsTarget = str(c.temperature_state_topic) !== undefined;
      if (intent.action === 'set_temperature') {
        if (!caps.setpoint) unsupported(entity, 'set_temperature');
        const step = caps.setpoint.step > 0 ? caps.setpoint.step : 0.5;
        const t = clamp(Math.round(requireNumber(intent.value, 'temperature') / step) * step, caps.setpoint.min, caps.setpoint.max);
        return {
          publishes: [msg(str(c.temperature_command_topic), render(c, 'temperature_command_template', { value: t }, String(t)))],
          expect: reportsTarget ? (s) => near(s.targetTemperature, t, step / 2 + 0.01) : undefined,
          confirmKey: 'temperature_set',
          confirmValue: t,
        };
      }
      if (intent.action === 'turn_on' || intent.action === 'turn_off') {
        if (!caps.onOff) unsupported(entity, intent.action);
        const modes = Array.isArray(c.modes) ? (c.modes as unknown[]).map(String) : ['heat'];
        const mode = intent.action === 'turn_off' ? 'off' : (modes.find((m) => m === 'heat') ?? modes.find((m) => m !== 'off') ?? 'heat');
        return {
          publishes: [msg(str(c.mode_command_topic), render(c, 'mode_command_template', { value: mode }, mode))],
          expect: str(c.mode_state_topic) ? (s) => s.on === (mode !== 'off') : undefined,
          confirmKey: intent.action === 'turn_off' ? 'turned_off' : 'turned_on',
        };
      }
      return unsupported(entity, intent.action);
    }
    case 'scene':
    case 'button': {
      if (intent.action !== 'activate_scene' && intent.action !== 'turn_on') unsupported(entity, intent.action);
      const payload = entity.domain === 'button' ? (str(c.payload_press) ?? 'PRESS') : payloadOn;
      return { publishes: [msg(cmd.commandTopic, render(c, 'command_template', { value: payload }, payload))], confirmKey: 'scene_activated' };
    }
    default:
      return unsupported(entity, intent.action);
  }
}

/** Plan the publishes for an intent on an entity. Throws ActionError when it cannot be done. */
export function planAction(entity: CatalogueEntity, intent: HomeIntent, current: EntityState | undefined): ActionPlan {
  const cmd = entity.command;
  if (cmd.kind === 'zigbee2mqtt') return planZigbee2mqtt(entity, cmd, intent, current);
  if (cmd.kind === 'ha-mqtt') return planHa(entity, cmd, intent, current);
  return unsupported(entity, intent.action);
}
