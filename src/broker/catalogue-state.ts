/**
 * Decoding of state messages into EntityState, for zigbee2mqtt (one JSON object per device
 * topic) and Home Assistant discovery entities (a payload per state topic, optionally through a
 * value template).
 */
import type { CatalogueEntity, EntityState } from './catalogue-types';
import { evaluateTemplate } from './catalogue-template';

/** Which part of the state a topic carries. */
export type StateField =
  | 'json'
  | 'state'
  | 'brightness'
  | 'colorTemp'
  | 'position'
  | 'targetTemperature'
  | 'currentTemperature'
  | 'mode';

/** A topic to watch for an entity. */
export interface StateTopic {
  topic: string;
  field: StateField;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    if (Number.isFinite(n)) return n;
  }
  return undefined;
}

/** Every topic whose messages change the entity's state. */
export function stateTopicsOf(entity: CatalogueEntity): StateTopic[] {
  if (entity.source === 'zigbee2mqtt') {
    return entity.stateTopic && entity.domain !== 'scene' ? [{ topic: entity.stateTopic, field: 'json' }] : [];
  }
  const c = entity.discovery ?? {};
  const topics: StateTopic[] = [];
  const add = (topic: unknown, field: StateField): void => {
    const t = str(topic);
    if (t && !topics.some((x) => x.topic === t && x.field === field)) topics.push({ topic: t, field });
  };
  if (entity.domain === 'climate') {
    add(c.mode_state_topic, 'mode');
    add(c.temperature_state_topic, 'targetTemperature');
    add(c.current_temperature_topic, 'currentTemperature');
    return topics;
  }
  add(c.state_topic, 'state');
  if (entity.domain === 'light' && c.schema !== 'json') {
    add(c.brightness_state_topic, 'brightness');
    add(c.color_temp_state_topic, 'colorTemp');
  }
  if (entity.domain === 'cover' || entity.domain === 'valve') add(c.position_topic, 'position');
  return topics;
}

function percentOf(value: number, max: number): number {
  return max > 0 ? Math.round((value / max) * 100) : 0;
}

function parsePayload(payload: Buffer): { text: string; json: unknown } {
  const text = payload.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { text, json };
}

function applyValueTemplate(template: unknown, text: string, json: unknown): unknown {
  if (typeof template !== 'string' || !template) return text;
  return evaluateTemplate(template, { value: text, value_json: json });
}

function decodeZigbee2mqtt(entity: CatalogueEntity, json: unknown, next: EntityState): boolean {
  if (!isObject(json)) return false;
  let changed = false;
  if (entity.stateKey) {
    const v = json[entity.stateKey];
    if (v === undefined) return false;
    if (entity.domain === 'binary_sensor') next.on = v === true || v === 'ON' || v === 'on';
    else next.value = typeof v === 'number' || typeof v === 'string' ? v : JSON.stringify(v);
    return true;
  }
  if (entity.command.kind !== 'zigbee2mqtt') return false;
  const props = entity.command.properties;
  const cmd = entity.command;
  if (props.state && props.state in json) {
    const v = json[props.state];
    if (entity.domain === 'cover') {
      const word = String(v).toLowerCase();
      next.coverState = word === 'open' ? 'open' : word === 'close' || word === 'closed' ? 'closed' : word;
    } else if (entity.domain === 'lock') {
      next.locked = v === cmd.valueOn;
    } else {
      next.on = String(v) === cmd.valueOn || (entity.domain === 'climate' ? String(v) !== cmd.valueOff : false);
    }
    changed = true;
  }
  if (entity.domain === 'lock' && typeof json.lock_state === 'string') {
    next.locked = json.lock_state === 'locked';
    changed = true;
  }
  const brightness = props.brightness ? toNumber(json[props.brightness]) : undefined;
  if (brightness !== undefined) {
    next.brightness = brightness;
    next.brightnessPercent = percentOf(brightness, entity.capabilities.brightness?.max ?? 254);
    changed = true;
  }
  const colorTemp = props.colorTemp ? toNumber(json[props.colorTemp]) : undefined;
  if (colorTemp !== undefined) {
    next.colorTempMireds = colorTemp;
    changed = true;
  }
  const position = props.position ? toNumber(json[props.position]) : undefined;
  if (position !== undefined) {
    next.position = position;
    if (next.coverState === undefined) next.coverState = position > 0 ? 'open' : 'closed';
    changed = true;
  }
  const setpoint = props.setpoint ? toNumber(json[props.setpoint]) : undefined;
  if (setpoint !== undefined) {
    next.targetTemperature = setpoint;
    changed = true;
  }
  const local = toNumber(json.local_temperature);
  if (entity.domain === 'climate' && local !== undefined) {
    next.currentTemperature = local;
    changed = true;
  }
  return changed;
}

function decodeHaState(entity: CatalogueEntity, text: string, json: unknown, next: EntityState): boolean {
  const c = entity.discovery ?? {};
  if (entity.domain === 'light' && c.schema === 'json') {
    if (!isObject(json)) return false;
    if (typeof json.state === 'string') next.on = json.state.toUpperCase() === 'ON';
    const b = toNumber(json.brightness);
    if (b !== undefined) {
      next.brightness = b;
      next.brightnessPercent = percentOf(b, toNumber(c.brightness_scale) ?? 255);
    }
    const ct = toNumber(json.color_temp);
    if (ct !== undefined) next.colorTempMireds = c.color_temp_kelvin === true ? Math.round(1_000_000 / ct) : ct;
    return true;
  }
  const template = entity.domain === 'light' ? (c.state_value_template ?? c.value_template) : c.value_template;
  const value = applyValueTemplate(template, text, json);
  const word = String(value);
  switch (entity.domain) {
    case 'light':
    case 'switch':
    case 'fan':
    case 'binary_sensor': {
      const on = str(c.state_on) ?? str(c.payload_on) ?? 'ON';
      const off = str(c.state_off) ?? str(c.payload_off) ?? 'OFF';
      if (word === on) next.on = true;
      else if (word === off) next.on = false;
      else return false;
      return true;
    }
    case 'cover':
    case 'valve': {
      const map: Array<[unknown, string]> = [
        [c.state_open ?? 'open', 'open'],
        [c.state_closed ?? 'closed', 'closed'],
        [c.state_opening ?? 'opening', 'opening'],
        [c.state_closing ?? 'closing', 'closing'],
        [c.state_stopped ?? 'stopped', 'stopped'],
      ];
      const found = map.find(([payload]) => String(payload) === word);
      if (found) {
        next.coverState = found[1];
        return true;
      }
      const n = toNumber(value);
      if (n !== undefined && !str(c.position_topic)) {
        next.position = n;
        return true;
      }
      return false;
    }
    case 'lock': {
      const locked = str(c.state_locked) ?? 'LOCKED';
      const unlocked = str(c.state_unlocked) ?? 'UNLOCKED';
      if (word === locked) next.locked = true;
      else if (word === unlocked) next.locked = false;
      else return false;
      return true;
    }
    default: {
      const n = toNumber(value);
      next.value = n ?? word;
      return true;
    }
  }
}

/**
 * Decode one message on a state topic into a new state (a copy of `previous` with the
 * decoded fields), or undefined when the message says nothing this entity understands.
 * Template errors are treated as "nothing understood".
 */
export function decodeStateMessage(
  entity: CatalogueEntity,
  field: StateField,
  payload: Buffer,
  previous: EntityState | undefined,
  nowMs: number,
): EntityState | undefined {
  const { text, json } = parsePayload(payload);
  const next: EntityState = { ...previous, updatedAtMs: nowMs };
  let changed = false;
  try {
    if (field === 'json') {
      changed = decodeZigbee2mqtt(entity, json, next);
    } else if (field === 'state') {
      changed = decodeHaState(entity, text, json, next);
    } else {
      const c = entity.discovery ?? {};
      const templates: Record<string, unknown> = {
        brightness: c.brightness_value_template,
        colorTemp: c.color_temp_value_template,
        position: c.position_template,
        targetTemperature: c.temperature_state_template,
        currentTemperature: c.current_temperature_template,
        mode: c.mode_state_template,
      };
      const value = applyValueTemplate(templates[field], text, json);
      if (field === 'mode') {
        next.on = String(value) !== 'off';
        changed = true;
      } else {
        const n = toNumber(value);
        if (n === undefined) return undefined;
        changed = true;
        if (field === 'brightness') {
          next.brightness = n;
          next.brightnessPercent = percentOf(n, toNumber(c.brightness_scale) ?? 255);
        } else if (field === 'colorTemp') {
          next.colorTempMireds = c.color_temp_kelvin === true ? Math.round(1_000_000 / n) : n;
        } else if (field === 'position') {
          const open = toNumber(c.position_open) ?? 100;
          const closed = toNumber(c.position_closed) ?? 0;
          next.position = open === closed ? n : Math.round(((n - closed) / (open - closed)) * 100);
          if (next.coverState === undefined) next.coverState = next.position > 0 ? 'open' : 'closed';
        } else if (field === 'targetTemperature') {
          next.targetTemperature = n;
        } else {
          next.currentTemperature = n;
        }
      }
    }
  } catch {
    return undefined;
  }
  if (!changed) return undefined;
  next.raw = json ?? text;
  return next;
}
