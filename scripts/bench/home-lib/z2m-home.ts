/**
 * The benchmark's home as zigbee2mqtt would publish it: a `bridge/devices` payload of about 230
 * devices (every actionable entity of src/intents benchCatalogue() as one zigbee2mqtt device with
 * realistic exposes, plus one climate sensor per room and the coordinator) and a `bridge/groups`
 * payload whose group scenes carry the catalogue's scene names. So the live path (broker ->
 * DeviceCatalogue -> intentCatalogueView -> IntentMatcher) sees the same home the synthetic
 * catalogue describes, and the same benchmark sentences should match.
 */
import type { IntentEntity } from '../../../src/intents/types';

type Json = Record<string, unknown>;

const linkquality: Json = { type: 'numeric', name: 'linkquality', label: 'Linkquality', property: 'linkquality', access: 1, unit: 'lqi', value_min: 0, value_max: 255, category: 'diagnostic' };

function binaryState(property = 'state'): Json {
  return { type: 'binary', name: 'state', label: 'State', property, access: 7, value_on: 'ON', value_off: 'OFF', value_toggle: 'TOGGLE', description: 'On/off state' };
}

/** Models that real homes mix: the exposes differ in ranges, not in what the bench needs. */
const LIGHT_MODELS = [
  { vendor: 'Philips', model: '9290012573A', description: 'Hue white and color ambiance E26/E27/E14', colorTemp: [153, 500] },
  { vendor: 'IKEA', model: 'LED1924G9', description: 'TRADFRI bulb E26/E27, color/white spectrum, globe, opal, 806 lm', colorTemp: [250, 454] },
  { vendor: 'Gledopto', model: 'GL-C-007P', description: 'Zigbee LED Controller RGBW (pro)', colorTemp: [158, 495] },
  { vendor: 'Innr', model: 'RB 285 C', description: 'E27 bulb RGBW', colorTemp: [153, 555] },
] as const;

function lightExposes(colorTemp: readonly [number, number]): Json[] {
  return [
    {
      type: 'light',
      features: [
        binaryState(),
        { type: 'numeric', name: 'brightness', label: 'Brightness', property: 'brightness', access: 7, value_min: 0, value_max: 254 },
        { type: 'numeric', name: 'color_temp', label: 'Color temp', property: 'color_temp', access: 7, unit: 'mired', value_min: colorTemp[0], value_max: colorTemp[1] },
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
    { type: 'enum', name: 'effect', label: 'Effect', property: 'effect', access: 2, values: ['blink', 'breathe', 'okay', 'channel_change', 'finish_effect', 'stop_effect'] },
    { type: 'enum', name: 'power_on_behavior', label: 'Power-on behavior', property: 'power_on_behavior', access: 7, values: ['off', 'on', 'toggle', 'previous'] },
    linkquality,
  ];
}

function exposesFor(entity: IntentEntity, index: number): { vendor: string; model: string; description: string; exposes: Json[]; power: string } | undefined {
  switch (entity.domain) {
    case 'light': {
      const m = LIGHT_MODELS[index % LIGHT_MODELS.length] ?? LIGHT_MODELS[0];
      return { vendor: m.vendor, model: m.model, description: m.description, exposes: lightExposes(m.colorTemp), power: 'Mains (single phase)' };
    }
    case 'switch':
      return {
        vendor: 'IKEA',
        model: 'E1603/E1702/E1708',
        description: 'TRADFRI control outlet',
        exposes: [{ type: 'switch', features: [binaryState()] }, { type: 'numeric', name: 'power', label: 'Power', property: 'power', access: 5, unit: 'W' }, linkquality],
        power: 'Mains (single phase)',
      };
    case 'fan':
      return {
        vendor: 'IKEA',
        model: 'E2007',
        description: 'STARKVIND air purifier',
        exposes: [
          { type: 'fan', features: [{ ...binaryState('fan_state'), name: 'state' }, { type: 'enum', name: 'mode', label: 'Mode', property: 'fan_mode', access: 7, values: ['off', 'auto', '1', '2', '3', '4', '5'] }] },
          linkquality,
        ],
        power: 'Mains (single phase)',
      };
    case 'cover':
      return {
        vendor: 'IKEA',
        model: 'E1757',
        description: 'FYRTUR roller blind',
        exposes: [
          {
            type: 'cover',
            features: [
              { type: 'enum', name: 'state', label: 'State', property: 'state', access: 3, values: ['OPEN', 'CLOSE', 'STOP'] },
              { type: 'numeric', name: 'position', label: 'Position', property: 'position', access: 7, value_min: 0, value_max: 100, unit: '%' },
            ],
          },
          { type: 'numeric', name: 'battery', label: 'Battery', property: 'battery', access: 5, unit: '%', value_min: 0, value_max: 100, category: 'diagnostic' },
          linkquality,
        ],
        power: 'Battery',
      };
    case 'climate':
      return {
        vendor: 'Danfoss',
        model: '014G2461',
        description: 'Ally thermostat',
        exposes: [
          {
            type: 'climate',
            features: [
              { type: 'numeric', name: 'occupied_heating_setpoint', label: 'Occupied heating setpoint', property: 'occupied_heating_setpoint', access: 7, value_min: 5, value_max: 35, value_step: 0.5, unit: '°C' },
              { type: 'numeric', name: 'local_temperature', label: 'Local temperature', property: 'local_temperature', access: 5, unit: '°C' },
              { type: 'enum', name: 'system_mode', label: 'System mode', property: 'system_mode', access: 7, values: ['off', 'heat'] },
              { type: 'enum', name: 'running_state', label: 'Running state', property: 'running_state', access: 5, values: ['idle', 'heat'] },
            ],
          },
          linkquality,
        ],
        power: 'Battery',
      };
    default:
      return undefined;
  }
}

function ieee(n: number): string {
  return `0x00158d00${(0x10000000 + n).toString(16).slice(-8)}`;
}

function device(n: number, friendlyName: string, info: { vendor: string; model: string; description: string; exposes: Json[]; power: string }): Json {
  return {
    ieee_address: ieee(n),
    type: info.power === 'Battery' ? 'EndDevice' : 'Router',
    network_address: 1000 + n,
    supported: true,
    disabled: false,
    friendly_name: friendlyName,
    description: '',
    manufacturer: info.vendor,
    model_id: info.model,
    power_source: info.power,
    interview_completed: true,
    interviewing: false,
    definition: { model: info.model, vendor: info.vendor, description: info.description, supports_ota: true, options: [], exposes: info.exposes },
  };
}

/** The zigbee2mqtt payloads of the benchmark home. */
export interface Z2mHome {
  devices: Json[];
  groups: Json[];
  /** Areas to hand to DeviceCatalogue (`areas` option) so multi-word rooms like "laundry room" are recognised. */
  areas: string[];
  /** Devices with a setting (everything but the sensors and the coordinator). */
  actionableDevices: number;
}

/**
 * Build the zigbee2mqtt view of a catalogue: each non-scene entity becomes a device named as the
 * entity (zigbee2mqtt friendly names are what people say), each area gets a climate sensor, and
 * the scenes become scenes of one "whole house" group of all lights.
 */
export function z2mHomeFrom(entities: readonly IntentEntity[], areas: readonly string[]): Z2mHome {
  const devices: Json[] = [
    { ieee_address: '0x00124b0022ef1e2f', type: 'Coordinator', network_address: 0, supported: true, disabled: false, friendly_name: 'Coordinator', definition: null, power_source: null, interview_completed: true, interviewing: false, endpoints: {} },
  ];
  let n = 0;
  let actionable = 0;
  const lightIeees: string[] = [];
  for (const entity of entities) {
    const info = exposesFor(entity, n);
    if (!info) continue;
    n++;
    actionable++;
    devices.push(device(n, entity.name, info));
    if (entity.domain === 'light') lightIeees.push(ieee(n));
  }
  for (const area of areas) {
    n++;
    const chinese = /[\u3400-\u9fff]/.test(area);
    devices.push(
      device(n, chinese ? `${area}温湿度传感器` : `${area} climate sensor`, {
        vendor: 'Aqara',
        model: 'WSDCGQ11LM',
        description: 'Temperature, humidity and pressure sensor',
        power: 'Battery',
        exposes: [
          { type: 'numeric', name: 'battery', label: 'Battery', property: 'battery', access: 1, unit: '%', value_min: 0, value_max: 100, category: 'diagnostic' },
          { type: 'numeric', name: 'temperature', label: 'Temperature', property: 'temperature', access: 1, unit: '°C' },
          { type: 'numeric', name: 'humidity', label: 'Humidity', property: 'humidity', access: 1, unit: '%' },
          { type: 'numeric', name: 'pressure', label: 'Pressure', property: 'pressure', access: 1, unit: 'hPa' },
          linkquality,
        ],
      }),
    );
  }
  const scenes = entities.filter((e) => e.domain === 'scene').map((e, i) => ({ id: i + 1, name: e.name }));
  const groups: Json[] = [
    { id: 1, friendly_name: 'whole house lights', description: '', members: lightIeees.map((ieee_address) => ({ ieee_address, endpoint: 11 })), scenes },
  ];
  return { devices, groups, areas: [...areas], actionableDevices: actionable };
}

/** One more light, to show a device appearing while the hub runs. */
export function extraLight(n: number, friendlyName: string): Json {
  const m = LIGHT_MODELS[0];
  return device(10_000 + n, friendlyName, { vendor: m.vendor, model: m.model, description: m.description, exposes: lightExposes(m.colorTemp), power: 'Mains (single phase)' });
}
