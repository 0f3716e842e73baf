/**
 * A zigbee2mqtt stand-in for the round-trip benchmark: an mqtt.js client that publishes the
 * retained `bridge/devices` and `bridge/groups` and answers every `<base>/<name>/set` the way
 * zigbee2mqtt does, with the device's whole merged state as JSON on `<base>/<name>`.
 * (The same behaviour as test/broker/catalogue-peers.ts, kept here so dist/scripts stands alone.)
 */
import { connectAsync, type MqttClient } from 'mqtt';

type Json = Record<string, unknown>;

/** Colour a Hue bulb reports back for a hex command (the exact value does not matter to the bench). */
const REPORTED_XY = { x: 0.4575, y: 0.4099 };

/** The echoing zigbee2mqtt peer. */
export class Z2mEchoPeer {
  /** `/set` messages answered. */
  answered = 0;
  /** Bytes of the last bridge/devices payload. */
  devicesBytes = 0;
  private readonly states = new Map<string, Json>();

  private constructor(
    readonly client: MqttClient,
    readonly baseTopic: string,
  ) {}

  /**
   * Connect, publish the retained bridge payloads (QoS 1, so the broker holds them when this
   * resolves) and start answering. `noDelay` sets TCP_NODELAY on the peer's socket (mqtt.js does
   * not by default, and neither does zigbee2mqtt as far as we know).
   */
  static async start(url: string, devices: unknown[], groups: unknown[], options: { baseTopic?: string; noDelay?: boolean; clientId?: string } = {}): Promise<Z2mEchoPeer> {
    const baseTopic = options.baseTopic ?? 'zigbee2mqtt';
    const client = await connectAsync(url, { clientId: options.clientId ?? `bench-z2m-${process.pid}`, reconnectPeriod: 0, connectTimeout: 5000 });
    if (options.noDelay) (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    const peer = new Z2mEchoPeer(client, baseTopic);
    for (const device of devices) {
      const name = (device as { friendly_name?: unknown }).friendly_name;
      if (typeof name === 'string') peer.states.set(name, initialStateOf(device));
    }
    client.on('message', (topic, payload) => peer.onSet(topic, payload));
    await client.subscribeAsync(`${baseTopic}/+/set`, { qos: 0 });
    await peer.publishDevices(devices);
    await client.publishAsync(`${baseTopic}/bridge/groups`, JSON.stringify(groups), { retain: true, qos: 1 });
    return peer;
  }

  async publishDevices(devices: unknown[]): Promise<void> {
    const text = JSON.stringify(devices);
    this.devicesBytes = Buffer.byteLength(text);
    await this.client.publishAsync(`${this.baseTopic}/bridge/devices`, text, { retain: true, qos: 1 });
  }

  /** Disconnect (the bench's broker is thrown away afterwards, retained payloads with it). */
  async close(): Promise<void> {
    await this.client.endAsync();
  }

  private onSet(topic: string, payload: Buffer): void {
    const name = topic.slice(this.baseTopic.length + 1, -'/set'.length);
    if (name.startsWith('bridge/')) return;
    let command: Json;
    try {
      command = JSON.parse(payload.toString('utf8')) as Json;
    } catch {
      return;
    }
    const next: Json = { ...this.states.get(name), linkquality: 120 };
    for (const [key, value] of Object.entries(command)) {
      if (key === 'scene_recall') continue;
      if (value === 'TOGGLE') next[key] = next[key] === 'ON' ? 'OFF' : 'ON';
      else if (key === 'color') next.color = REPORTED_XY;
      else next[key] = value;
      if (key === 'brightness' && typeof value === 'number') next.state = value > 0 ? 'ON' : 'OFF';
      // A light told a colour or colour temperature switches on, and reports its colour mode.
      if (key === 'color' || key === 'color_temp') {
        next.state = 'ON';
        next.color_mode = key === 'color' ? 'xy' : 'color_temp';
      }
      // A roller blind reports where it ended up.
      if (key === 'state' && value === 'CLOSE') next.position = 0;
      if (key === 'state' && value === 'OPEN') next.position = 100;
    }
    this.states.set(name, next);
    this.answered++;
    this.client.publish(`${this.baseTopic}/${name}`, JSON.stringify(next), { qos: 0 });
  }
}

interface ExposeFeature {
  type?: string;
  access?: number;
  property?: string;
  value_off?: unknown;
  value_min?: number;
  value_max?: number;
  values?: unknown[];
  features?: ExposeFeature[];
}

/**
 * The state zigbee2mqtt would know for a device from its cache (state.json) and reports in full
 * with every answer: the off value of binaries, the middle of numeric ranges, the first enum value.
 */
export function initialStateOf(device: unknown): Json {
  const state: Json = {};
  const visit = (feature: ExposeFeature): void => {
    if (feature.type === 'composite' && feature.property) {
      state[feature.property] = feature.property === 'color' ? { x: 0.3227, y: 0.329 } : {};
      return;
    }
    if (feature.features) {
      for (const inner of feature.features) visit(inner);
      return;
    }
    // Access bit 1: zigbee2mqtt publishes the property (set-only ones like `effect` never appear in state).
    if (!feature.property || ((feature.access ?? 1) & 1) === 0) return;
    if (feature.type === 'binary') state[feature.property] = feature.value_off ?? false;
    else if (feature.type === 'numeric') state[feature.property] = Math.round(((feature.value_min ?? 0) + (feature.value_max ?? 100)) / 2);
    else if (feature.type === 'enum' && Array.isArray(feature.values) && feature.values.length > 0) state[feature.property] = feature.values[0];
  };
  const exposes = (device as { definition?: { exposes?: ExposeFeature[] } | null }).definition?.exposes ?? [];
  for (const expose of exposes) visit(expose);
  return state;
}
