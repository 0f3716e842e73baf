/**
 * Home Assistant MQTT discovery configs -> catalogue entities.
 *
 * Accepts per-entity configs (`homeassistant/<component>/[<node_id>/]<object_id>/config`) and
 * device-based configs (`homeassistant/device/<id>/config` with a `components`/`cmps` map), with
 * abbreviated keys and the `~` topic base, following HA's own discovery parser: abbreviations
 * are expanded first, device-level shared options (availability, state_topic, command_topic,
 * qos, encoding) are inherited by components that do not set them, and `~` is substituted per
 * component.
 */
import type { CatalogueEntity, EntityCapabilities, EntityDomain, HaMqttCommand } from './catalogue-types';
import { applyTopicBase, areaFromName, buildAliases, expandDiscoveryPayload, humanizeId, normalizeName } from './catalogue-normalize';

type Json = Record<string, unknown>;

const DOMAINS: Record<string, EntityDomain> = {
  light: 'light',
  switch: 'switch',
  cover: 'cover',
  climate: 'climate',
  fan: 'fan',
  lock: 'lock',
  scene: 'scene',
  sensor: 'sensor',
  binary_sensor: 'binary_sensor',
  number: 'number',
  select: 'select',
  text: 'text',
  button: 'button',
  valve: 'valve',
};

/** Options a device-based config shares with its components (HA schemas.py SHARED_OPTIONS). */
const SHARED_OPTIONS = [
  'availability',
  'availability_mode',
  'availability_template',
  'availability_topic',
  'command_topic',
  'encoding',
  'message_expiry_interval',
  'payload_available',
  'payload_not_available',
  'state_topic',
  'qos',
];

/** One component found in a discovery message, ready to become an entity. */
export interface HaComponentConfig {
  /** Catalogue entity id: the discovery topic without `/config` (plus `/<key>` for device-based). */
  id: string;
  component: string;
  /** Expanded config including `device` and `origin`. */
  config: Json;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function num(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : fallback;
}

/**
 * Split one discovery message into component configs. `topicPath` is the topic between the
 * discovery prefix and `/config` (`light/kitchen` or `device/0xabc`). A device-based message
 * answers every component it names (a component that is only `{platform}` is a removal and
 * answers nothing for that key).
 */
export function readDiscoveryMessage(topicPath: string, payload: Json): HaComponentConfig[] {
  const parts = topicPath.split('/');
  const component = parts[0] ?? '';
  const expanded = expandDiscoveryPayload(payload);
  if (component !== 'device') {
    return [{ id: topicPath, component, config: applyTopicBase(expanded) }];
  }
  const components = isObject(expanded.components) ? expanded.components : {};
  const out: HaComponentConfig[] = [];
  const deviceBase = typeof expanded['~'] === 'string' ? (expanded['~'] as string) : undefined;
  for (const [key, value] of Object.entries(components)) {
    if (!isObject(value)) continue;
    const platform = str(value.platform);
    if (!platform || Object.keys(value).length <= 1) continue;
    const merged: Json = { ...value };
    for (const option of SHARED_OPTIONS) {
      if (option in expanded && !(option in merged)) merged[option] = expanded[option];
    }
    merged.device = expanded.device;
    merged.origin = expanded.origin;
    out.push({ id: `${topicPath}/${key}`, component: platform, config: applyTopicBase(merged, deviceBase) });
  }
  return out;
}

/** Origin name of a config (`origin.name`), lower case, for filtering. */
export function originName(config: Json): string | undefined {
  return isObject(config.origin) ? str(config.origin.name)?.toLowerCase() : undefined;
}

function entityNames(config: Json, fallbackId: string): { name: string; entityName?: string; deviceName?: string } {
  const device = isObject(config.device) ? config.device : {};
  const deviceName = str(device.name);
  const rawName = config.name;
  const entityName = typeof rawName === 'string' && rawName.trim() ? rawName.trim() : undefined;
  if (entityName && deviceName) {
    // HA prefixes an MQTT entity's name with its device's name; a name that already starts
    // with the device name is not prefixed twice.
    const n = normalizeName(entityName);
    const d = normalizeName(deviceName);
    return { name: n.startsWith(d) ? entityName : `${deviceName} ${entityName}`, entityName, deviceName };
  }
  if (entityName) return { name: entityName, entityName };
  if (deviceName) return { name: deviceName, deviceName };
  return { name: humanizeId(fallbackId.split('/').pop() ?? fallbackId) };
}

function lightCapabilities(config: Json): EntityCapabilities {
  const capabilities: EntityCapabilities = {};
  if (str(config.command_topic)) capabilities.onOff = true;
  const scale = num(config.brightness_scale, 255);
  const kelvinToMireds = (k: number): number => Math.round(1_000_000 / k);
  const colorTempRange = (): { minMireds: number; maxMireds: number } => {
    if (config.min_kelvin !== undefined || config.max_kelvin !== undefined) {
      return { minMireds: kelvinToMireds(num(config.max_kelvin, 6535)), maxMireds: kelvinToMireds(num(config.min_kelvin, 2000)) };
    }
    return { minMireds: num(config.min_mireds, 153), maxMireds: num(config.max_mireds, 500) };
  };
  if ((config.schema ?? 'default') === 'json') {
    const modes = Array.isArray(config.supported_color_modes) ? (config.supported_color_modes as unknown[]).map(String) : [];
    if (config.brightness === true || modes.some((m) => m !== 'onoff')) capabilities.brightness = { min: 1, max: scale };
    if (modes.includes('color_temp') || config.color_temp === true) capabilities.colorTemp = colorTempRange();
    if (modes.some((m) => ['hs', 'xy', 'rgb', 'rgbw', 'rgbww'].includes(m)) || config.rgb === true || config.xy === true || config.hs === true) {
      capabilities.color = true;
    }
    return capabilities;
  }
  if (str(config.brightness_command_topic)) capabilities.brightness = { min: 1, max: scale };
  if (str(config.color_temp_command_topic)) capabilities.colorTemp = colorTempRange();
  if (str(config.rgb_command_topic) || str(config.hs_command_topic) || str(config.xy_command_topic)) capabilities.color = true;
  return capabilities;
}

function capabilitiesOf(domain: EntityDomain, config: Json): EntityCapabilities {
  switch (domain) {
    case 'light':
      return lightCapabilities(config);
    case 'switch':
    case 'fan':
      return str(config.command_topic) ? { onOff: true } : {};
    case 'cover':
    case 'valve': {
      const c: EntityCapabilities = {};
      if (str(config.command_topic)) c.openClose = true;
      if (str(config.set_position_topic) || (domain === 'valve' && config.reports_position === true)) c.position = true;
      return c;
    }
    case 'climate': {
      const c: EntityCapabilities = {};
      if (str(config.temperature_command_topic)) {
        c.setpoint = { min: num(config.min_temp, 7), max: num(config.max_temp, 35), step: num(config.temp_step, 0.5) };
      }
      const modes = Array.isArray(config.modes) ? (config.modes as unknown[]).map(String) : ['auto', 'off', 'cool', 'heat', 'dry', 'fan_only'];
      if (str(config.mode_command_topic) && modes.includes('off')) c.onOff = true;
      return c;
    }
    case 'lock':
      return str(config.command_topic) ? { lock: true } : {};
    case 'number':
      return str(config.command_topic)
        ? { numeric: { min: num(config.min, 1), max: num(config.max, 100), step: num(config.step, 1) } }
        : {};
    default:
      return {};
  }
}

/** State topic an entity reports on, by domain. */
function stateTopicOf(domain: EntityDomain, config: Json): string | undefined {
  if (domain === 'cover' && !str(config.state_topic)) return str(config.position_topic);
  if (domain === 'climate') return str(config.mode_state_topic) ?? str(config.temperature_state_topic) ?? str(config.current_temperature_topic);
  return str(config.state_topic);
}

/** Options of the HA discovery reader. */
export interface HaReadOptions {
  areas: Iterable<string>;
}

/** Convert one component config into a catalogue entity, or undefined when not usable. */
export function haConfigToEntity(item: HaComponentConfig, options: HaReadOptions): CatalogueEntity | undefined {
  const domain = DOMAINS[item.component];
  if (!domain) return undefined;
  const config = item.config;
  const device = isObject(config.device) ? config.device : {};
  const names = entityNames(config, item.id);
  const areaList = [...options.areas];
  const area = (str(device.suggested_area) ?? str(device.area))?.toLowerCase() ?? areaFromName(names.name, areaList);
  const qos = num(config.qos, 0);
  const command: HaMqttCommand = {
    kind: 'ha-mqtt',
    schema: config.schema === 'json' ? 'json' : config.schema === 'template' ? 'template' : 'default',
    config,
    commandTopic: str(config.command_topic),
    // The hub publishes at QoS 0 or 1 (HubBroker offers no QoS 2; at-least-once is enough here).
    qos: qos >= 1 ? 1 : 0,
    retain: config.retain === true,
  };
  const identifiers = Array.isArray(device.identifiers) ? device.identifiers : device.identifiers !== undefined ? [device.identifiers] : [];
  return {
    id: item.id,
    name: names.name,
    aliases: buildAliases([names.name, names.entityName, names.deviceName], area),
    area: area ? normalizeName(area) : undefined,
    domain,
    source: 'ha-discovery',
    capabilities: capabilitiesOf(domain, config),
    command: domain === 'sensor' || domain === 'binary_sensor' ? { kind: 'none' } : command,
    stateTopic: stateTopicOf(domain, config),
    deviceId: identifiers.length > 0 ? String(identifiers[0]) : undefined,
    deviceName: names.deviceName,
    manufacturer: str(device.manufacturer),
    model: str(device.model),
    unit: str(config.unit_of_measurement),
    discovery: config,
  };
}
