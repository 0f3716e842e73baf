/**
 * Test peers for the catalogue, actions and voice-device tests: a real embedded broker on
 * loopback, mqtt.js clients, and a zigbee2mqtt-like peer (retained bridge/devices and
 * bridge/groups, answers `/set` with a state echo like zigbee2mqtt does).
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { EmbeddedBroker } from '../../src/broker/broker-embedded';

/** A started embedded broker and its URL. */
export interface TestBroker {
  broker: EmbeddedBroker;
  url: string;
}

/** Start the hub's embedded broker on a free loopback port. */
export async function startTestBroker(): Promise<TestBroker> {
  const broker = await EmbeddedBroker.start({ port: 0, host: '127.0.0.1', allowAnonymousLoopback: true });
  return { broker, url: `mqtt://127.0.0.1:${broker.port}` };
}

let clientCounter = 0;

/** Connect an mqtt.js client (no reconnects, so a test never hangs on a dead broker). */
export async function connectClient(url: string, name = 'peer'): Promise<MqttClient> {
  clientCounter++;
  return connectAsync(url, { clientId: `${name}-${process.pid}-${clientCounter}`, reconnectPeriod: 0, connectTimeout: 5000 });
}

/** Resolve when `predicate` becomes true (checked every 10 ms), reject after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Collect messages a client receives on a filter. */
export async function collect(client: MqttClient, filter: string): Promise<Array<{ topic: string; payload: string; retain: boolean }>> {
  const seen: Array<{ topic: string; payload: string; retain: boolean }> = [];
  client.on('message', (topic, payload, packet) => {
    if (topicMatches(filter, topic)) seen.push({ topic, payload: payload.toString('utf8'), retain: packet.retain });
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return seen;
}

/** MQTT filter matching (+ and #). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const binaryState = (property: string, extra: Record<string, unknown> = {}) => ({
  type: 'binary',
  name: 'state',
  label: 'State',
  property,
  access: 7,
  value_on: 'ON',
  value_off: 'OFF',
  value_toggle: 'TOGGLE',
  description: 'On/off state of the switch',
  ...extra,
});

const linkquality = { type: 'numeric', name: 'linkquality', label: 'Linkquality', property: 'linkquality', access: 1, unit: 'lqi', value_min: 0, value_max: 255, category: 'diagnostic' };

/** A realistic zigbee2mqtt `bridge/devices` payload (shapes as zigbee2mqtt 1.x/2.x publishes them). */
export function zigbee2mqttDevices(): unknown[] {
  return [
    {
      ieee_address: '0x00124b0022ef1e2f',
      type: 'Coordinator',
      network_address: 0,
      supported: true,
      disabled: false,
      friendly_name: 'Coordinator',
      definition: null,
      power_source: null,
      interview_completed: true,
      interviewing: false,
      endpoints: {},
    },
    {
      ieee_address: '0x0017880104e45517',
      type: 'Router',
      network_address: 29159,
      supported: true,
      disabled: false,
      friendly_name: 'kitchen light',
      description: '',
      manufacturer: 'Philips',
      model_id: 'LCT015',
      power_source: 'Mains (single phase)',
      interview_completed: true,
      interviewing: false,
      definition: {
        model: '9290012573A',
        vendor: 'Philips',
        description: 'Hue white and color ambiance E26/E27/E14',
        supports_ota: true,
        options: [],
        exposes: [
          {
            type: 'light',
            features: [
              binaryState('state', { description: 'On/off state of this light' }),
              { type: 'numeric', name: 'brightness', label: 'Brightness', property: 'brightness', access: 7, value_min: 0, value_max: 254 },
              {
                type: 'numeric',
                name: 'color_temp',
                label: 'Color temp',
                property: 'color_temp',
                access: 7,
                unit: 'mired',
                value_min: 150,
                value_max: 500,
                presets: [
                  { name: 'coolest', value: 150, description: 'Coolest temperature supported' },
                  { name: 'warmest', value: 500, description: 'Warmest temperature supported' },
                ],
              },
              {
                type: 'composite',
                name: 'color_xy',
                label: 'Color (X/Y)',
                property: 'color',
                access: 7,
                features: [
                  { type: 'numeric', name: 'x', label: 'X', property: 'x', access: 7 },
                  { type: 'numeric', name: 'y', label: 'Y', property: 'y', access: 7 },
                ],
              },
            ],
          },
          { type: 'enum', name: 'effect', label: 'Effect', property: 'effect', access: 2, values: ['blink', 'breathe', 'okay', 'finish_effect', 'stop_effect'] },
          linkquality,
        ],
      },
    },
    {
      ieee_address: '0x000d6ffffe1a2b3c',
      type: 'Router',
      network_address: 4321,
      supported: true,
      disabled: false,
      friendly_name: 'coffee plug',
      description: 'area: kitchen',
      manufacturer: 'IKEA of Sweden',
      model_id: 'TRADFRI control outlet',
      power_source: 'Mains (single phase)',
      interview_completed: true,
      interviewing: false,
      definition: {
        model: 'E1603/E1702/E1708',
        vendor: 'IKEA',
        description: 'TRADFRI control outlet',
        supports_ota: true,
        options: [],
        exposes: [
          { type: 'switch', features: [binaryState('state')] },
          { type: 'enum', name: 'power_on_behavior', label: 'Power-on behavior', property: 'power_on_behavior', access: 7, values: ['off', 'on', 'toggle', 'previous'] },
          linkquality,
        ],
      },
    },
    {
      ieee_address: '0x000b57fffec6a5b2',
      type: 'Router',
      network_address: 5555,
      supported: true,
      disabled: false,
      friendly_name: 'living room/floor lamp',
      description: '',
      manufacturer: 'IKEA of Sweden',
      model_id: 'TRADFRI bulb E27 WW 806lm',
      power_source: 'Mains (single phase)',
      interview_completed: true,
      interviewing: false,
      definition: {
        model: 'LED1836G9',
        vendor: 'IKEA',
        description: 'TRADFRI bulb E26/E27, warm white, globe, opal, 806 lm',
        supports_ota: true,
        options: [],
        exposes: [
          {
            type: 'light',
            features: [
              binaryState('state'),
              { type: 'numeric', name: 'brightness', label: 'Brightness', property: 'brightness', access: 7, value_min: 0, value_max: 254 },
            ],
          },
          linkquality,
        ],
      },
    },
    {
      ieee_address: '0x00158d0001e1a2b3',
      type: 'EndDevice',
      network_address: 6789,
      supported: true,
      disabled: false,
      friendly_name: 'bedroom sensor',
      description: '',
      manufacturer: 'LUMI',
      model_id: 'lumi.weather',
      power_source: 'Battery',
      interview_completed: true,
      interviewing: false,
      definition: {
        model: 'WSDCGQ11LM',
        vendor: 'Aqara',
        description: 'Temperature, humidity and pressure sensor',
        supports_ota: false,
        options: [],
        exposes: [
          { type: 'numeric', name: 'battery', label: 'Battery', property: 'battery', access: 1, unit: '%', value_min: 0, value_max: 100, category: 'diagnostic' },
          { type: 'numeric', name: 'temperature', label: 'Temperature', property: 'temperature', access: 1, unit: '°C' },
          { type: 'numeric', name: 'humidity', label: 'Humidity', property: 'humidity', access: 1, unit: '%' },
          { type: 'numeric', name: 'pressure', label: 'Pressure', property: 'pressure', access: 1, unit: 'hPa' },
          linkquality,
        ],
      },
    },
    {
      ieee_address: '0xa4c1380ef9ab1234',
      type: 'Router',
      network_address: 7001,
      supported: true,
      disabled: false,
      friendly_name: 'bedroom blind',
      description: '',
      manufacturer: '_TZ3000_vd43bbfq',
      model_id: 'TS130F',
      power_source: 'Mains (single phase)',
      interview_completed: true,
      interviewing: false,
      definition: {
        model: 'TS130F',
        vendor: 'Tuya',
        description: 'Curtain/blind switch',
        supports_ota: true,
        options: [],
        exposes: [
          {
            type: 'cover',
            features: [
              { type: 'enum', name: 'state', label: 'State', property: 'state', access: 3, values: ['OPEN', 'CLOSE', 'STOP'] },
              { type: 'numeric', name: 'position', label: 'Position', property: 'position', access: 3, value_min: 0, value_max: 100, unit: '%' },
            ],
          },
          linkquality,
        ],
      },
    },
    {
      ieee_address: '0x0015bc001b024680',
      type: 'EndDevice',
      network_address: 7002,
      supported: true,
      disabled: false,
      friendly_name: 'study radiator',
      description: '',
      manufacturer: 'Danfoss',
      model_id: 'eTRV0100',
      power_source: 'Battery',
      interview_completed: true,
      interviewing: false,
      definition: {
        model: '014G2461',
        vendor: 'Danfoss',
        description: 'Ally thermostat',
        supports_ota: true,
        options: [],
        exposes: [
          {
            type: 'climate',
            features: [
              { type: 'numeric', name: 'occupied_heating_setpoint', label: 'Occupied heating setpoint', property: 'occupied_heating_setpoint', access: 7, value_min: 5, value_max: 35, value_step: 0.5, unit: '°C' },
              { type: 'numeric', name: 'local_temperature', label: 'Local temperature', property: 'local_temperature', access: 5, unit: '°C' },
              { type: 'enum', name: 'system_mode', label: 'System mode', property: 'system_mode', access: 7, values: ['heat'] },
              { type: 'enum', name: 'running_state', label: 'Running state', property: 'running_state', access: 5, values: ['idle', 'heat'] },
            ],
          },
          linkquality,
        ],
      },
    },
    {
      ieee_address: '0xa4c13862c0ffee01',
      type: 'Router',
      network_address: 7003,
      supported: true,
      disabled: false,
      friendly_name: 'hall switch',
      description: '',
      manufacturer: '_TZ3000_18ejxno0',
      model_id: 'TS0012',
      power_source: 'Mains (single phase)',
      interview_completed: true,
      interviewing: false,
      definition: {
        model: 'TS0012',
        vendor: 'Tuya',
        description: 'Wall switch module 2 gang',
        supports_ota: false,
        options: [],
        exposes: [
          { type: 'switch', endpoint: 'l1', features: [binaryState('state_l1', { endpoint: 'l1' })] },
          { type: 'switch', endpoint: 'l2', features: [binaryState('state_l2', { endpoint: 'l2' })] },
          linkquality,
        ],
      },
    },
  ];
}

/** A realistic zigbee2mqtt `bridge/groups` payload: one group of the floor lamp with a scene. */
export function zigbee2mqttGroups(): unknown[] {
  return [
    {
      id: 1,
      friendly_name: 'living room lights',
      description: '',
      members: [{ ieee_address: '0x000b57fffec6a5b2', endpoint: 1 }],
      scenes: [{ id: 1, name: 'movie time' }],
    },
  ];
}

/** The zigbee2mqtt-like peer. */
export class Zigbee2mqttPeer {
  /** Every `/set` received: topic and payload text. */
  readonly received: Array<{ topic: string; payload: string }> = [];
  /** Friendly names that ignore commands (to test "did not respond"). */
  readonly silent = new Set<string>();
  private readonly states = new Map<string, Record<string, unknown>>();

  private constructor(readonly client: MqttClient, readonly baseTopic: string) {}

  /** Connect, publish retained bridge/devices and bridge/groups, and start answering /set. */
  static async start(url: string, options: { baseTopic?: string; devices?: unknown[]; groups?: unknown[] } = {}): Promise<Zigbee2mqttPeer> {
    const client = await connectClient(url, 'z2m');
    const peer = new Zigbee2mqttPeer(client, options.baseTopic ?? 'zigbee2mqtt');
    client.on('message', (topic, payload) => peer.onMessage(topic, payload));
    await client.subscribeAsync(`${peer.baseTopic}/#`, { qos: 0 });
    await peer.publishDevices(options.devices ?? zigbee2mqttDevices());
    await peer.publishGroups(options.groups ?? zigbee2mqttGroups());
    return peer;
  }

  async publishDevices(devices: unknown[]): Promise<void> {
    await this.client.publishAsync(`${this.baseTopic}/bridge/devices`, JSON.stringify(devices), { retain: true, qos: 1 });
  }

  async publishGroups(groups: unknown[]): Promise<void> {
    await this.client.publishAsync(`${this.baseTopic}/bridge/groups`, JSON.stringify(groups), { retain: true, qos: 1 });
  }

  /** Publish a device state as zigbee2mqtt does (JSON on `<base>/<friendly name>`). */
  async publishState(friendlyName: string, state: Record<string, unknown>): Promise<void> {
    const merged = { ...this.states.get(friendlyName), ...state };
    this.states.set(friendlyName, merged);
    await this.client.publishAsync(`${this.baseTopic}/${friendlyName}`, JSON.stringify(merged), { qos: 0 });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (!topic.endsWith('/set') || topic.startsWith(`${this.baseTopic}/bridge/`)) return;
    this.received.push({ topic, payload: payload.toString('utf8') });
    const name = topic.slice(this.baseTopic.length + 1, -'/set'.length);
    if (this.silent.has(name)) return;
    let command: Record<string, unknown>;
    try {
      command = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return;
    }
    if ('scene_recall' in command) return; // zigbee2mqtt answers a recall with member states; not needed here
    const current = this.states.get(name) ?? {};
    const next: Record<string, unknown> = { ...current, linkquality: 120 };
    for (const [key, value] of Object.entries(command)) {
      if (value === 'TOGGLE') next[key] = current[key] === 'ON' ? 'OFF' : 'ON';
      else if (key === 'color') next.color = { x: 0.7006, y: 0.2993 }; // what a Hue reports for #ff0000
      else next[key] = value;
      if (key === 'brightness' && typeof value === 'number') next.state = value > 0 ? 'ON' : 'OFF';
    }
    void this.publishState(name, next);
  }
}
