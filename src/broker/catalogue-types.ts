import type { HubBroker } from './broker-types';

/**
 * Types of the live device catalogue: entities discovered from zigbee2mqtt's `bridge/devices`
 * and Home Assistant MQTT discovery configs, how to command them, and their last known state.
 *
 * Framework-free: the catalogue only needs a broker that can publish, subscribe and list
 * retained messages (the hub's HubBroker, or anything of the same shape).
 */

/** Kinds of entity the catalogue knows, named like Home Assistant's domains. */
export type EntityDomain =
  | 'light'
  | 'switch'
  | 'cover'
  | 'climate'
  | 'fan'
  | 'lock'
  | 'scene'
  | 'sensor'
  | 'binary_sensor'
  | 'media_player'
  | 'number'
  | 'select'
  | 'text'
  | 'button'
  | 'valve';

/** Where an entity was learnt from. */
export type EntitySource = 'zigbee2mqtt' | 'ha-discovery';

/** What an entity can do; absent keys mean "cannot". */
export interface EntityCapabilities {
  onOff?: boolean;
  /** Native brightness range of the device (zigbee2mqtt value_min/value_max, HA 1..brightness_scale). */
  brightness?: { min: number; max: number };
  colorTemp?: { minMireds: number; maxMireds: number };
  color?: boolean;
  /** The cover accepts an absolute position (0 closed .. 100 open). */
  position?: boolean;
  /** Open/close commands (covers, valves). */
  openClose?: boolean;
  /** Climate target temperature range in the device's unit. */
  setpoint?: { min: number; max: number; step: number };
  /** Lock/unlock commands. */
  lock?: boolean;
  /** Numeric value range (HA number entities). */
  numeric?: { min: number; max: number; step: number };
}

/** How to command a zigbee2mqtt device or group: JSON on `<baseTopic>/<friendlyName>/set`. */
export interface Zigbee2mqttCommand {
  kind: 'zigbee2mqtt';
  baseTopic: string;
  friendlyName: string;
  /** `<baseTopic>/<friendlyName>/set` */
  setTopic: string;
  /** `<baseTopic>/<friendlyName>/get` (reads a value) */
  getTopic: string;
  /** JSON keys to set, from the exposes' `property` (endpoint-suffixed when needed, e.g. state_l1). */
  properties: {
    state?: string;
    brightness?: string;
    colorTemp?: string;
    color?: string;
    position?: string;
    setpoint?: string;
  };
  /** Values of the binary state feature (value_on/value_off/value_toggle). */
  valueOn: string;
  valueOff: string;
  valueToggle?: string;
  /** For a scene entity: the group scene id to recall with `{"scene_recall": id}`. */
  sceneId?: number;
  /** The state property can be read with /get (access flag 4). */
  canGet: boolean;
}

/** How to command a Home Assistant MQTT-discovered entity (full key names, `~` expanded). */
export interface HaMqttCommand {
  kind: 'ha-mqtt';
  /** Light schema: `default` (separate topics) or `json` (one JSON payload). `template` is kept but unsupported. */
  schema: 'default' | 'json' | 'template';
  /** The discovery config with abbreviations expanded and `~` substituted. */
  config: Record<string, unknown>;
  commandTopic?: string;
  qos: 0 | 1;
  retain: boolean;
}

/** How to command an entity; `none` for read-only entities (sensors). */
export type EntityCommand = Zigbee2mqttCommand | HaMqttCommand | { kind: 'none' };

/** One thing that can be named by voice. */
export interface CatalogueEntity {
  /** Stable id: the zigbee2mqtt topic (`zigbee2mqtt/kitchen light`) or the HA discovery topic without `/config`. */
  id: string;
  /** Spoken name ("kitchen light"). */
  name: string;
  /** Other names it answers to, lower case, normalised (always contains the normalised name). */
  aliases: string[];
  area?: string;
  domain: EntityDomain;
  source: EntitySource;
  capabilities: EntityCapabilities;
  command: EntityCommand;
  /** Topic carrying its state (zigbee2mqtt device topic or HA state_topic). */
  stateTopic?: string;
  /** Device it belongs to (z2m ieee address / HA device identifier). */
  deviceId?: string;
  deviceName?: string;
  manufacturer?: string;
  model?: string;
  /** Sensor unit (°C, %, lx...). */
  unit?: string;
  /** For zigbee2mqtt sensors: the JSON key of the reading in the device's state message. */
  stateKey?: string;
  /** For HA-discovered entities: the discovery config, abbreviations expanded and `~` applied. */
  discovery?: Record<string, unknown>;
}

/** Last known state of an entity, decoded from its state topic(s). */
export interface EntityState {
  on?: boolean;
  /** Brightness as 0..100 percent of the device's range. */
  brightnessPercent?: number;
  /** Raw device brightness. */
  brightness?: number;
  colorTempMireds?: number;
  /** Cover position 0 (closed) .. 100 (open). */
  position?: number;
  /** Cover/valve state word: open, closed, opening, closing, stopped. */
  coverState?: string;
  targetTemperature?: number;
  currentTemperature?: number;
  locked?: boolean;
  /** Sensor value (number when numeric). */
  value?: number | string;
  /** Raw decoded payload (JSON object or string) of the last message. */
  raw?: unknown;
  /** Date.now() of the last update. */
  updatedAtMs: number;
}

/** A change to the catalogue, emitted as 'changed'. */
export interface CatalogueChange {
  kind: 'added' | 'updated' | 'removed';
  entity: CatalogueEntity;
}

/**
 * The part of the hub broker (broker-types.ts HubBroker) the catalogue, actions and
 * publishers use: publish, and subscribe (which delivers matching retained messages first and
 * resolves to the unsubscribe function). Embedded and external brokers both fit.
 */
export type BrokerLike = Pick<HubBroker, 'publish' | 'subscribe'>;
