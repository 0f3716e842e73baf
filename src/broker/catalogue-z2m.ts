/**
 * zigbee2mqtt `bridge/devices` and `bridge/groups` -> catalogue entities.
 *
 * Each device's definition lists "exposes": specific types (light, switch, cover, climate, fan,
 * lock) carry `features`; generic ones (numeric, binary, enum) are readings or settings. Every
 * feature has a `property` (the JSON key in state and /set payloads, endpoint-suffixed like
 * `state_l1` on multi-endpoint devices) and an `access` bit mask: 1 published, 2 settable,
 * 4 readable with /get.
 */
import type { CatalogueEntity, EntityCapabilities, EntityDomain, Zigbee2mqttCommand } from './catalogue-types';
import { areaFromDescription, areaFromName, buildAliases, normalizeName } from './catalogue-normalize';

/** Access bits of a zigbee2mqtt expose feature. */
export const Z2M_ACCESS = { published: 1, set: 2, get: 4 } as const;

interface Feature {
  type?: string;
  name?: string;
  property?: string;
  endpoint?: string;
  access?: number;
  value_min?: number;
  value_max?: number;
  value_step?: number;
  value_on?: unknown;
  value_off?: unknown;
  value_toggle?: unknown;
  values?: unknown[];
  unit?: string;
  features?: Feature[];
}

interface Z2mDevice {
  ieee_address?: string;
  type?: string;
  friendly_name?: string;
  description?: string;
  disabled?: boolean;
  supported?: boolean;
  definition?: { model?: string; vendor?: string; description?: string; exposes?: Feature[] } | null;
}

interface Z2mGroup {
  id?: number;
  friendly_name?: string;
  description?: string;
  members?: Array<{ ieee_address?: string; endpoint?: number }>;
  scenes?: Array<{ id?: number; name?: string }>;
}

/** Options shared by the zigbee2mqtt readers. */
export interface Z2mReadOptions {
  baseTopic: string;
  areas: Iterable<string>;
}

const SPECIFIC_DOMAINS: Record<string, EntityDomain> = {
  light: 'light',
  switch: 'switch',
  cover: 'cover',
  climate: 'climate',
  fan: 'fan',
  lock: 'lock',
};

/** Generic readings worth naming by voice ("what is the temperature in the kitchen"). */
const SENSOR_PROPERTIES = new Set(['temperature', 'humidity', 'illuminance', 'illuminance_lux', 'pressure', 'co2', 'pm25', 'power', 'energy', 'battery']);
const BINARY_SENSOR_PROPERTIES = new Set(['occupancy', 'presence', 'contact', 'water_leak', 'smoke', 'vibration', 'tamper']);

const SETPOINT_NAMES = ['occupied_heating_setpoint', 'current_heating_setpoint', 'occupied_cooling_setpoint', 'heating_setpoint'];

function canSet(feature: Feature | undefined): boolean {
  return feature !== undefined && ((feature.access ?? Z2M_ACCESS.set) & Z2M_ACCESS.set) !== 0;
}

function featureNamed(features: Feature[], ...names: string[]): Feature | undefined {
  for (const name of names) {
    const found = features.find((f) => f.name === name);
    if (found) return found;
  }
  return undefined;
}

function asText(value: unknown, fallback: string): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : fallback;
}

/** Plain-object check that keeps the caller's declared type (no narrowing to a record). */
function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Placement {
  name: string;
  area?: string;
  aliases: string[];
}

function placeDevice(friendlyName: string, description: string | undefined, areas: Iterable<string>): Placement {
  // Friendly names like "kitchen/ceiling light" use the first segment as the room.
  const segments = friendlyName.split('/').filter((s) => s.trim().length > 0);
  const name = segments.join(' ');
  const areaList = [...areas];
  let area = description ? areaFromDescription(description, areaList) : undefined;
  if (!area && segments.length > 1 && segments[0]) area = normalizeName(segments[0]);
  if (!area) area = areaFromName(name, areaList);
  const lastSegment = segments.length > 1 ? segments[segments.length - 1] : undefined;
  return { name, area, aliases: buildAliases([name, friendlyName, lastSegment], area) };
}

function baseCommand(baseTopic: string, friendlyName: string, canGet: boolean): Zigbee2mqttCommand {
  return {
    kind: 'zigbee2mqtt',
    baseTopic,
    friendlyName,
    setTopic: `${baseTopic}/${friendlyName}/set`,
    getTopic: `${baseTopic}/${friendlyName}/get`,
    properties: {},
    valueOn: 'ON',
    valueOff: 'OFF',
    canGet,
  };
}

/** Capabilities and command keys of one specific expose (light, switch, cover, climate, fan, lock). */
function readSpecific(expose: Feature, command: Zigbee2mqttCommand): EntityCapabilities {
  const features = expose.features ?? [];
  const capabilities: EntityCapabilities = {};
  const type = expose.type ?? '';
  const state = featureNamed(features, 'state');
  if (type === 'light' || type === 'switch' || type === 'fan') {
    if (state?.property && canSet(state)) {
      capabilities.onOff = true;
      command.properties.state = state.property;
      command.valueOn = asText(state.value_on, 'ON');
      command.valueOff = asText(state.value_off, 'OFF');
      if (state.value_toggle !== undefined) command.valueToggle = asText(state.value_toggle, 'TOGGLE');
      command.canGet = ((state.access ?? 0) & Z2M_ACCESS.get) !== 0;
    }
  }
  if (type === 'light') {
    const brightness = featureNamed(features, 'brightness');
    if (brightness?.property && canSet(brightness)) {
      capabilities.brightness = { min: brightness.value_min ?? 0, max: brightness.value_max ?? 254 };
      command.properties.brightness = brightness.property;
    }
    const colorTemp = featureNamed(features, 'color_temp');
    if (colorTemp?.property && canSet(colorTemp)) {
      capabilities.colorTemp = { minMireds: colorTemp.value_min ?? 153, maxMireds: colorTemp.value_max ?? 500 };
      command.properties.colorTemp = colorTemp.property;
    }
    const color = featureNamed(features, 'color_xy', 'color_hs');
    if (color?.property && canSet(color)) {
      capabilities.color = true;
      command.properties.color = color.property;
    }
  } else if (type === 'cover') {
    if (state?.property && canSet(state)) {
      capabilities.openClose = true;
      command.properties.state = state.property;
      command.valueOn = 'OPEN';
      command.valueOff = 'CLOSE';
    }
    const position = featureNamed(features, 'position');
    if (position?.property && canSet(position)) {
      capabilities.position = true;
      command.properties.position = position.property;
    }
  } else if (type === 'climate') {
    const setpoint = featureNamed(features, ...SETPOINT_NAMES);
    if (setpoint?.property && canSet(setpoint)) {
      capabilities.setpoint = { min: setpoint.value_min ?? 5, max: setpoint.value_max ?? 30, step: setpoint.value_step ?? 0.5 };
      command.properties.setpoint = setpoint.property;
    }
    const mode = featureNamed(features, 'system_mode');
    if (mode?.property && canSet(mode) && Array.isArray(mode.values) && mode.values.includes('off')) {
      // Climate on/off through system_mode: "off" and the first non-off mode (usually heat).
      capabilities.onOff = true;
      command.properties.state = mode.property;
      command.valueOff = 'off';
      command.valueOn = asText(mode.values.find((v) => v !== 'off' && v !== 'auto') ?? 'heat', 'heat');
    }
  } else if (type === 'lock') {
    if (state?.property && canSet(state)) {
      capabilities.lock = true;
      command.properties.state = state.property;
      command.valueOn = asText(state.value_on, 'LOCK');
      command.valueOff = asText(state.value_off, 'UNLOCK');
    }
  }
  return capabilities;
}

/** Convert a `bridge/devices` payload into entities. Unknown shapes are skipped, never thrown. */
export function z2mDevicesToEntities(devices: unknown, options: Z2mReadOptions): CatalogueEntity[] {
  if (!Array.isArray(devices)) return [];
  const entities: CatalogueEntity[] = [];
  for (const raw of devices as Z2mDevice[]) {
    if (!isObject(raw)) continue;
    const friendlyName = raw.friendly_name;
    if (!friendlyName || raw.type === 'Coordinator' || raw.disabled === true) continue;
    const exposes = raw.definition?.exposes;
    if (!Array.isArray(exposes)) continue;
    const place = placeDevice(friendlyName, raw.description, options.areas);
    const stateTopic = `${options.baseTopic}/${friendlyName}`;
    const common = {
      source: 'zigbee2mqtt' as const,
      stateTopic,
      deviceId: raw.ieee_address,
      deviceName: friendlyName,
      manufacturer: raw.definition?.vendor,
      model: raw.definition?.model,
    };
    const specific = exposes.filter((e) => isObject(e) && e.type !== undefined && e.type in SPECIFIC_DOMAINS);
    const countByType = new Map<string, number>();
    for (const e of specific) countByType.set(e.type ?? '', (countByType.get(e.type ?? '') ?? 0) + 1);
    for (const expose of specific) {
      const domain = SPECIFIC_DOMAINS[expose.type ?? ''];
      if (!domain) continue;
      const command = baseCommand(options.baseTopic, friendlyName, false);
      const capabilities = readSpecific(expose, command);
      if (Object.keys(capabilities).length === 0) continue;
      // Several exposes of one type (a 2-gang switch): one entity per endpoint.
      const split = (countByType.get(expose.type ?? '') ?? 0) > 1 && expose.endpoint;
      const name = split ? `${place.name} ${expose.endpoint}` : place.name;
      entities.push({
        ...common,
        id: split ? `${stateTopic}#${expose.endpoint}` : stateTopic,
        name,
        aliases: split ? buildAliases([name], place.area) : place.aliases,
        area: place.area,
        domain,
        capabilities,
        command,
      });
    }
    for (const expose of exposes) {
      if (!isObject(expose) || !expose.property || expose.endpoint) continue;
      const isSensor = expose.type === 'numeric' && SENSOR_PROPERTIES.has(expose.property);
      const isBinary = expose.type === 'binary' && BINARY_SENSOR_PROPERTIES.has(expose.property);
      if (!isSensor && !isBinary) continue;
      if (((expose.access ?? Z2M_ACCESS.published) & Z2M_ACCESS.published) === 0) continue;
      const label = expose.property.replace(/_lux$/, '').replace(/_/g, ' ');
      const name = `${place.name} ${label}`;
      entities.push({
        ...common,
        id: `${stateTopic}#${expose.property}`,
        name,
        aliases: buildAliases([name], place.area),
        area: place.area,
        domain: isSensor ? 'sensor' : 'binary_sensor',
        capabilities: {},
        command: { kind: 'none' },
        unit: expose.unit,
        stateKey: expose.property,
      });
    }
  }
  return entities;
}

/**
 * Convert a `bridge/groups` payload into entities: a group is a light when any member is a
 * light (capabilities are the union of the members'), else a switch when any member switches;
 * each group scene becomes a scene entity recalled with `{"scene_recall": id}`.
 */
export function z2mGroupsToEntities(
  groups: unknown,
  devicesByIeee: ReadonlyMap<string, CatalogueEntity[]>,
  options: Z2mReadOptions,
): CatalogueEntity[] {
  if (!Array.isArray(groups)) return [];
  const entities: CatalogueEntity[] = [];
  for (const raw of groups as Z2mGroup[]) {
    if (!isObject(raw) || !raw.friendly_name) continue;
    const friendlyName = raw.friendly_name;
    const place = placeDevice(friendlyName, raw.description, options.areas);
    const stateTopic = `${options.baseTopic}/${friendlyName}`;
    const members = (raw.members ?? []).flatMap((m) => (m.ieee_address ? devicesByIeee.get(m.ieee_address) ?? [] : []));
    const lights = members.filter((e) => e.domain === 'light');
    const switches = members.filter((e) => e.domain === 'switch');
    const pool = lights.length > 0 ? lights : switches;
    if (pool.length > 0) {
      const command = baseCommand(options.baseTopic, friendlyName, false);
      const capabilities: EntityCapabilities = { onOff: true };
      command.properties.state = 'state';
      for (const member of pool) {
        const c = member.capabilities;
        if (c.brightness) {
          capabilities.brightness = { min: 0, max: 254 };
          command.properties.brightness = 'brightness';
        }
        if (c.colorTemp) {
          const prev = capabilities.colorTemp;
          capabilities.colorTemp = {
            minMireds: Math.min(prev?.minMireds ?? Infinity, c.colorTemp.minMireds),
            maxMireds: Math.max(prev?.maxMireds ?? 0, c.colorTemp.maxMireds),
          };
          command.properties.colorTemp = 'color_temp';
        }
        if (c.color) {
          capabilities.color = true;
          command.properties.color = 'color';
        }
      }
      entities.push({
        id: stateTopic,
        name: place.name,
        aliases: place.aliases,
        area: place.area,
        domain: lights.length > 0 ? 'light' : 'switch',
        source: 'zigbee2mqtt',
        capabilities,
        command,
        stateTopic,
        deviceName: friendlyName,
      });
    }
    for (const scene of raw.scenes ?? []) {
      if (typeof scene.id !== 'number') continue;
      const sceneName = scene.name && scene.name.trim() ? scene.name : `${place.name} scene ${scene.id}`;
      const command = baseCommand(options.baseTopic, friendlyName, false);
      command.sceneId = scene.id;
      entities.push({
        id: `${stateTopic}#scene${scene.id}`,
        name: sceneName,
        aliases: buildAliases([sceneName], place.area),
        area: place.area,
        domain: 'scene',
        source: 'zigbee2mqtt',
        capabilities: {},
        command,
        deviceName: friendlyName,
      });
    }
  }
  return entities;
}
