/**
 * HaVoiceDevicePublisher: each connected xiaozhi device appears in Home Assistant as one device
 * (MQTT device-based discovery, `<prefix>/device/xiaozhi_<id>/config`, retained) with entities:
 *
 *   sensor "State"            idle / listening / thinking / speaking (enum)
 *   sensor "Last transcript"  what the user said last
 *   sensor "Last reply"       what the device answered last
 *   number "Volume"           0..100; a command calls onVolume so the flow can call the
 *                             device's MCP tool self.audio_speaker.set_volume
 *   text   "Announce"         a command makes the device speak the text (onAnnounce)
 *
 * Availability is the device's own topic AND the hub's bridge topic (availability_mode all):
 * a device is offline when it disconnects or when the hub stops. Configs are published again
 * when Home Assistant announces itself (`<prefix>/status` = online), and removed (empty retained
 * config) when a device is forgotten. Topics: see ha-topics.ts.
 */
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BrokerLike } from './catalogue-types';
import { XIAOZHI_ORIGIN_NAME } from './catalogue';
import { AnnounceListener } from './announce';
import {
  DEFAULT_VOICE_BASE_TOPIC,
  bridgeAvailabilityTopic,
  deviceTopicId,
  macAddressOf,
  voiceDeviceTopics,
  type VoiceDeviceTopics,
} from './ha-topics';

/** States a voice device reports. */
export type VoiceDeviceState = 'idle' | 'listening' | 'thinking' | 'speaking';

/** The states, in the order Home Assistant lists them as enum options. */
export const VOICE_DEVICE_STATES: readonly VoiceDeviceState[] = ['idle', 'listening', 'thinking', 'speaking'];

/** What the gateway knows about a device when it connects. */
export interface VoiceDeviceInfo {
  /** Device id, usually the MAC address (`aa:bb:cc:dd:ee:ff`). */
  id: string;
  /** Name shown in Home Assistant (default "Xiaozhi <last 4 of id>"). */
  name?: string;
  /** Board name (e.g. "esp-box-3"). */
  model?: string;
  manufacturer?: string;
  firmwareVersion?: string;
  /** Suggested area in Home Assistant. */
  area?: string;
  /** Current speaker volume if known, 0..100. */
  volume?: number;
}

/** Origin block of the discovery payload (who publishes it). */
export interface DiscoveryOrigin {
  name: string;
  sw_version?: string;
  support_url?: string;
}

/** Options of HaVoiceDevicePublisher. */
export interface HaVoiceDevicePublisherOptions {
  /** Home Assistant discovery prefix (default `homeassistant`). */
  discoveryPrefix?: string;
  /** Base of the device topics (default `xiaozhi`). */
  baseTopic?: string;
  /** The volume was set from Home Assistant (0..100, integer). */
  onVolume?: (deviceId: string, volume: number) => void;
  /** Text to speak on a device (from the HA text entity or any `<base>/<id>/announce` message; 'all' for every device). */
  onAnnounce?: (deviceId: string, text: string) => void;
  /** Default: this package's name and version. */
  origin?: DiscoveryOrigin;
  /** QoS of what is published (default 1). */
  qos?: 0 | 1;
  /** Failures of background publishes (never thrown into the caller's flow). */
  onError?: (error: Error) => void;
}

interface DeviceRecord {
  info: VoiceDeviceInfo;
  topics: VoiceDeviceTopics;
  online: boolean;
  state?: VoiceDeviceState;
  transcript?: string;
  reply?: string;
  volume?: number;
}

/** Home Assistant keeps at most 255 characters of a state. */
const HA_MAX_STATE_CHARS = 255;

function truncateState(text: string): string {
  const chars = [...text];
  return chars.length <= HA_MAX_STATE_CHARS ? text : chars.slice(0, HA_MAX_STATE_CHARS - 1).join('') + '…';
}

let cachedVersion: string | undefined | null = null;

/** This package's version, read once from its package.json (undefined when not found). */
function packageVersion(): string | undefined {
  if (cachedVersion !== null) return cachedVersion;
  cachedVersion = undefined;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === XIAOZHI_ORIGIN_NAME) {
          cachedVersion = pkg.version;
          break;
        }
      } catch {
        // unreadable: keep looking upwards
      }
    }
    dir = dirname(dir);
  }
  return cachedVersion;
}

/**
 * Publishes voice devices to Home Assistant and routes HA's commands back. Emits 'volume'
 * (deviceId, volume) and 'announce' (deviceId, text) as well as calling the option callbacks.
 */
export class HaVoiceDevicePublisher extends EventEmitter {
  private readonly prefix: string;
  private readonly baseTopic: string;
  private readonly qos: 0 | 1;
  private readonly origin: DiscoveryOrigin;
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly byTopicId = new Map<string, string>();
  private readonly unsubscribes: Array<Promise<() => unknown>> = [];
  private announcer: AnnounceListener | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly broker: BrokerLike, private readonly options: HaVoiceDevicePublisherOptions = {}) {
    super();
    this.prefix = options.discoveryPrefix ?? 'homeassistant';
    this.baseTopic = options.baseTopic ?? DEFAULT_VOICE_BASE_TOPIC;
    this.qos = options.qos ?? 1;
    const version = packageVersion();
    this.origin = options.origin ?? { name: XIAOZHI_ORIGIN_NAME, ...(version ? { sw_version: version } : {}) };
  }

  /** Subscribe to HA's status and the command topics, and mark the hub online. Called by every method; idempotent. */
  start(): Promise<void> {
    this.starting ??= this.open();
    return this.starting;
  }

  private async open(): Promise<void> {
    this.unsubscribes.push(
      this.broker.subscribe(`${this.prefix}/status`, (_topic, payload) => {
        if (payload.toString('utf8').trim() === 'online') void this.republishAll().catch((err: Error) => this.reportError(err));
      }),
      this.broker.subscribe(`${this.baseTopic}/+/volume/set`, (topic, payload, packet) => {
        // A retained command would re-apply an old volume at every restart: ignore it.
        if (!packet.retain) this.onVolumeCommand(topic, payload);
      }),
    );
    await Promise.all(this.unsubscribes);
    if (this.options.onAnnounce || this.listenerCount('announce') > 0) {
      this.announcer = new AnnounceListener(this.broker, {
        baseTopic: this.baseTopic,
        resolveDeviceId: (topicId) => this.byTopicId.get(topicId),
        onAnnounce: (deviceId, text) => {
          this.options.onAnnounce?.(deviceId, text);
          this.emit('announce', deviceId, text);
        },
      });
      await this.announcer.start();
    }
    await this.publish(bridgeAvailabilityTopic(this.baseTopic), 'online', true);
  }

  /** Discovery topic of a device. */
  discoveryTopic(deviceId: string): string {
    return `${this.prefix}/device/xiaozhi_${deviceTopicId(deviceId)}/config`;
  }

  /** The device-based discovery payload of a device (full key names). */
  discoveryPayload(info: VoiceDeviceInfo): Record<string, unknown> {
    const id = deviceTopicId(info.id);
    const t = voiceDeviceTopics(this.baseTopic, info.id);
    const uid = (key: string): string => `xiaozhi_${id}_${key}`;
    const mac = macAddressOf(info.id);
    const device: Record<string, unknown> = {
      identifiers: [`xiaozhi_${id}`],
      name: info.name?.trim() || `Xiaozhi ${id.slice(-4)}`,
      manufacturer: info.manufacturer ?? 'xiaozhi',
    };
    if (mac) device.connections = [['mac', mac]];
    if (info.model) device.model = info.model;
    if (info.firmwareVersion) device.sw_version = info.firmwareVersion;
    if (info.area) device.suggested_area = info.area;
    return {
      device,
      origin: this.origin,
      availability: [
        { topic: t.availability, payload_available: 'online', payload_not_available: 'offline' },
        { topic: bridgeAvailabilityTopic(this.baseTopic), payload_available: 'online', payload_not_available: 'offline' },
      ],
      availability_mode: 'all',
      qos: this.qos,
      components: {
        state: {
          platform: 'sensor',
          name: 'State',
          unique_id: uid('state'),
          state_topic: t.state,
          device_class: 'enum',
          options: [...VOICE_DEVICE_STATES],
          icon: 'mdi:account-voice',
        },
        transcript: {
          platform: 'sensor',
          name: 'Last transcript',
          unique_id: uid('transcript'),
          state_topic: t.transcript,
          icon: 'mdi:microphone-message',
        },
        reply: {
          platform: 'sensor',
          name: 'Last reply',
          unique_id: uid('reply'),
          state_topic: t.reply,
          icon: 'mdi:message-reply-text',
        },
        volume: {
          platform: 'number',
          name: 'Volume',
          unique_id: uid('volume'),
          command_topic: t.volumeSet,
          state_topic: t.volume,
          min: 0,
          max: 100,
          step: 1,
          mode: 'slider',
          unit_of_measurement: '%',
          icon: 'mdi:volume-high',
        },
        announce: {
          platform: 'text',
          name: 'Announce',
          unique_id: uid('announce'),
          command_topic: t.announce,
          min: 0,
          max: HA_MAX_STATE_CHARS,
          mode: 'text',
          icon: 'mdi:bullhorn',
        },
      },
    };
  }

  /** A device connected: publish (or refresh) its discovery config, then mark it online. */
  async deviceConnected(info: VoiceDeviceInfo): Promise<void> {
    await this.start();
    const topics = voiceDeviceTopics(this.baseTopic, info.id);
    const previous = this.devices.get(info.id);
    const record: DeviceRecord = { ...previous, info, topics, online: true };
    if (info.volume !== undefined) record.volume = info.volume;
    this.devices.set(info.id, record);
    this.byTopicId.set(deviceTopicId(info.id), info.id);
    await this.publishDevice(record);
  }

  /** The device's conversation state changed. */
  async deviceState(deviceId: string, state: VoiceDeviceState): Promise<void> {
    const record = await this.known(deviceId);
    // HA's enum sensor rejects values outside its options: publish only the documented states.
    if (!record || !VOICE_DEVICE_STATES.includes(state)) return;
    record.state = state;
    await this.publish(record.topics.state, state, true);
  }

  /** What the user said last. */
  async transcript(deviceId: string, text: string): Promise<void> {
    const record = await this.known(deviceId);
    if (!record) return;
    record.transcript = truncateState(text);
    await this.publish(record.topics.transcript, record.transcript, true);
  }

  /** What the device answered last. */
  async reply(deviceId: string, text: string): Promise<void> {
    const record = await this.known(deviceId);
    if (!record) return;
    record.reply = truncateState(text);
    await this.publish(record.topics.reply, record.reply, true);
  }

  /** The device's speaker volume is now `volume` (after the MCP call succeeded, or as reported). */
  async deviceVolume(deviceId: string, volume: number): Promise<void> {
    const record = await this.known(deviceId);
    if (!record) return;
    record.volume = Math.round(Math.min(100, Math.max(0, volume)));
    await this.publish(record.topics.volume, String(record.volume), true);
  }

  /** The device disconnected: Home Assistant shows it unavailable (the config stays). */
  async deviceDisconnected(deviceId: string): Promise<void> {
    const record = await this.known(deviceId);
    if (!record) return;
    record.online = false;
    await this.publish(record.topics.availability, 'offline', true);
  }

  /** Remove the device from Home Assistant and clear its retained topics. */
  async forget(deviceId: string): Promise<void> {
    await this.start();
    const topics = this.devices.get(deviceId)?.topics ?? voiceDeviceTopics(this.baseTopic, deviceId);
    this.devices.delete(deviceId);
    this.byTopicId.delete(deviceTopicId(deviceId));
    // An empty retained config removes the device and all its entities (HA device-based discovery).
    await this.publish(this.discoveryTopic(deviceId), '', true);
    for (const topic of [topics.state, topics.transcript, topics.reply, topics.volume, topics.availability]) {
      await this.publish(topic, '', true);
    }
  }

  /** Mark every device and the hub offline and unsubscribe. Configs stay, so HA keeps the devices. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.starting) {
      await this.starting.catch(() => undefined);
      for (const record of this.devices.values()) {
        if (record.online) await this.publish(record.topics.availability, 'offline', true).catch(() => undefined);
      }
      await this.publish(bridgeAvailabilityTopic(this.baseTopic), 'offline', true).catch(() => undefined);
    }
    await this.announcer?.close().catch(() => undefined);
    await Promise.all(this.unsubscribes.map((u) => u.then((fn) => fn()).catch(() => undefined)));
  }

  /** Ids of the devices it publishes. */
  deviceIds(): string[] {
    return [...this.devices.keys()];
  }

  private async known(deviceId: string): Promise<DeviceRecord | undefined> {
    await this.start();
    return this.devices.get(deviceId);
  }

  private async publishDevice(record: DeviceRecord): Promise<void> {
    await this.publish(this.discoveryTopic(record.info.id), JSON.stringify(this.discoveryPayload(record.info)), true);
    await this.publish(record.topics.availability, record.online ? 'online' : 'offline', true);
    if (record.state) await this.publish(record.topics.state, record.state, true);
    if (record.transcript !== undefined) await this.publish(record.topics.transcript, record.transcript, true);
    if (record.reply !== undefined) await this.publish(record.topics.reply, record.reply, true);
    if (record.volume !== undefined) await this.publish(record.topics.volume, String(record.volume), true);
  }

  private async republishAll(): Promise<void> {
    if (this.closed) return;
    await this.publish(bridgeAvailabilityTopic(this.baseTopic), 'online', true);
    for (const record of this.devices.values()) await this.publishDevice(record);
  }

  private onVolumeCommand(topic: string, payload: Buffer): void {
    if (this.closed) return;
    const topicId = topic.slice(this.baseTopic.length + 1, -'/volume/set'.length);
    const deviceId = this.byTopicId.get(topicId);
    const volume = Number(payload.toString('utf8').trim());
    if (!deviceId || !Number.isFinite(volume)) return;
    const clamped = Math.round(Math.min(100, Math.max(0, volume)));
    try {
      this.options.onVolume?.(deviceId, clamped);
      this.emit('volume', deviceId, clamped);
    } catch (err) {
      this.reportError(err as Error);
    }
  }

  private async publish(topic: string, payload: string, retain: boolean): Promise<void> {
    if (this.closed && payload !== 'offline') return;
    await this.broker.publish(topic, payload, { qos: this.qos, retain });
  }

  private reportError(error: Error): void {
    if (this.options.onError) this.options.onError(error);
  }
}
