import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { DeviceCatalogue } from '../../src/broker/catalogue';
import { intentCatalogueView } from '../../src/broker/catalogue-intents';
import type { CatalogueChange } from '../../src/broker/catalogue-types';
import { renderTemplate, evaluateTemplate, TemplateUnsupportedError } from '../../src/broker/catalogue-template';
import { expandDiscoveryPayload, applyTopicBase, areaFromName, DEFAULT_AREAS, normalizeName } from '../../src/broker/catalogue-normalize';
import { connectClient, startTestBroker, waitUntil, Zigbee2mqttPeer, zigbee2mqttDevices, type TestBroker } from './catalogue-peers';

/** HA discovery configs as integrations publish them: abbreviated keys, `~`, one device-based. */
const HA_SWITCH = {
  '~': 'garden/pump',
  name: null,
  uniq_id: 'garden_pump_01',
  cmd_t: '~/set',
  stat_t: '~/state',
  pl_on: 'on',
  pl_off: 'off',
  avty_t: '~/status',
  dev: { ids: ['garden_pump_01'], name: 'Garden Pump', mf: 'Shelly', mdl: 'Plus 1', sa: 'Garden' },
  o: { name: 'shelly2mqtt', sw: '1.0.0' },
};

const HA_JSON_LIGHT = {
  schema: 'json',
  name: 'Bedroom Lamp',
  uniq_id: 'bedroom_lamp_01',
  cmd_t: 'lamp/bedroom/set',
  stat_t: 'lamp/bedroom/state',
  sup_clrm: ['color_temp', 'rgb'],
  bri_scl: 100,
  min_mirs: 153,
  max_mirs: 454,
};

const HA_DEVICE_DESK = {
  dev: { ids: 'desk01', name: 'Study Desk', mf: 'Acme', sa: 'Study' },
  o: { name: 'acme2mqtt', sw: '2.1', url: 'https://example.invalid/acme' },
  avty_t: 'desk01/availability',
  cmps: {
    lamp: {
      p: 'light',
      uniq_id: 'desk01_lamp',
      name: 'Lamp',
      cmd_t: 'desk01/lamp/set',
      stat_t: 'desk01/lamp/state',
      bri_cmd_t: 'desk01/lamp/brightness/set',
      bri_stat_t: 'desk01/lamp/brightness',
      bri_scl: 255,
    },
    fan: { p: 'fan', uniq_id: 'desk01_fan', name: 'Fan', cmd_t: 'desk01/fan/set', stat_t: 'desk01/fan/state' },
  },
};

describe('broker/catalogue helpers', () => {
  it('expands abbreviations, device and origin keys, and the ~ base', () => {
    const expanded = applyTopicBase(expandDiscoveryPayload(HA_SWITCH));
    assert.equal(expanded.command_topic, 'garden/pump/set');
    assert.equal(expanded.state_topic, 'garden/pump/state');
    assert.equal(expanded.availability_topic, 'garden/pump/status');
    assert.equal(expanded.unique_id, 'garden_pump_01');
    assert.deepEqual(expanded.device, { identifiers: ['garden_pump_01'], name: 'Garden Pump', manufacturer: 'Shelly', model: 'Plus 1', suggested_area: 'Garden' });
    assert.deepEqual(expanded.origin, { name: 'shelly2mqtt', sw_version: '1.0.0' });
    assert.equal('~' in expanded, false);
  });

  it('renders the template subset and refuses the rest', () => {
    assert.equal(renderTemplate('{{ value }}', { value: 'ON' }), 'ON');
    assert.equal(renderTemplate('{"state": "{{ value | lower }}"}', { value: 'ON' }), '{"state": "on"}');
    assert.equal(evaluateTemplate('{{ value_json.brightness | int }}', { value_json: { brightness: '127.6' } }), 127);
    assert.equal(evaluateTemplate("{{ value_json['POWER'] }}", { value_json: { POWER: 'OFF' } }), 'OFF');
    assert.throws(() => renderTemplate('{% if value %}1{% endif %}', { value: 1 }), TemplateUnsupportedError);
    assert.throws(() => renderTemplate('{{ value * 2 }}', { value: 1 }), TemplateUnsupportedError);
  });

  it('finds areas at the start of names, English and Chinese', () => {
    assert.equal(areaFromName('Kitchen Ceiling Light', DEFAULT_AREAS), 'kitchen');
    assert.equal(areaFromName('living room lamp', DEFAULT_AREAS), 'living room');
    assert.equal(areaFromName('客厅灯', DEFAULT_AREAS), '客厅');
    assert.equal(areaFromName('kitchen', DEFAULT_AREAS), undefined);
    assert.equal(areaFromName('desk lamp', DEFAULT_AREAS), undefined);
    assert.equal(normalizeName('Living_Room/Floor-Lamp!'), 'living room floor lamp');
  });
});

describe('broker/catalogue DeviceCatalogue (real broker, zigbee2mqtt peer, HA discovery)', function () {
  let tb: TestBroker;
  let z2m: Zigbee2mqttPeer;
  let ha: MqttClient;
  let catalogue: DeviceCatalogue;

  beforeEach(async () => {
    tb = await startTestBroker();
    z2m = await Zigbee2mqttPeer.start(tb.url);
    ha = await connectClient(tb.url, 'ha-peer');
    await ha.publishAsync('homeassistant/switch/garden/pump/config', JSON.stringify(HA_SWITCH), { retain: true, qos: 1 });
    await ha.publishAsync('homeassistant/light/bedroom_lamp/config', JSON.stringify(HA_JSON_LIGHT), { retain: true, qos: 1 });
    await ha.publishAsync('homeassistant/device/desk01/config', JSON.stringify(HA_DEVICE_DESK), { retain: true, qos: 1 });
    catalogue = new DeviceCatalogue(tb.broker);
    await catalogue.start();
  });

  afterEach(async () => {
    await catalogue.close();
    await z2m.close();
    await ha.endAsync();
    await tb.broker.close();
  });

  it('reads zigbee2mqtt exposes into entities with capabilities and areas', () => {
    const light = catalogue.get('zigbee2mqtt/kitchen light');
    assert.ok(light, 'kitchen light is listed');
    assert.equal(light.domain, 'light');
    assert.equal(light.source, 'zigbee2mqtt');
    assert.equal(light.area, 'kitchen');
    assert.deepEqual(light.capabilities, { onOff: true, brightness: { min: 0, max: 254 }, colorTemp: { minMireds: 150, maxMireds: 500 }, color: true });
    assert.equal(light.command.kind, 'zigbee2mqtt');
    if (light.command.kind === 'zigbee2mqtt') {
      assert.equal(light.command.setTopic, 'zigbee2mqtt/kitchen light/set');
      assert.deepEqual(light.command.properties, { state: 'state', brightness: 'brightness', colorTemp: 'color_temp', color: 'color' });
    }
    assert.ok(light.aliases.includes('kitchen light'));
    assert.ok(light.aliases.includes('light'), 'the name without its area is an alias');

    const plug = catalogue.get('zigbee2mqtt/coffee plug');
    assert.equal(plug?.domain, 'switch');
    assert.equal(plug?.area, 'kitchen', 'area from the device description');
    assert.deepEqual(plug?.capabilities, { onOff: true });

    const lamp = catalogue.get('zigbee2mqtt/living room/floor lamp');
    assert.equal(lamp?.name, 'living room floor lamp');
    assert.equal(lamp?.area, 'living room', 'area from the first friendly-name segment');
    assert.deepEqual(lamp?.capabilities, { onOff: true, brightness: { min: 0, max: 254 } });
    assert.ok(lamp?.aliases.includes('floor lamp'));

    const blind = catalogue.get('zigbee2mqtt/bedroom blind');
    assert.equal(blind?.domain, 'cover');
    assert.deepEqual(blind?.capabilities, { openClose: true, position: true });

    const radiator = catalogue.get('zigbee2mqtt/study radiator');
    assert.equal(radiator?.domain, 'climate');
    assert.deepEqual(radiator?.capabilities, { setpoint: { min: 5, max: 35, step: 0.5 } });
    assert.equal(radiator?.area, 'study');

    const temperature = catalogue.get('zigbee2mqtt/bedroom sensor#temperature');
    assert.equal(temperature?.domain, 'sensor');
    assert.equal(temperature?.unit, '°C');
    assert.equal(catalogue.get('zigbee2mqtt/bedroom sensor#linkquality'), undefined, 'diagnostics are not entities');

    const gang1 = catalogue.get('zigbee2mqtt/hall switch#l1');
    assert.equal(gang1?.name, 'hall switch l1');
    assert.ok(gang1?.command.kind === 'zigbee2mqtt' && gang1.command.properties.state === 'state_l1');
    assert.ok(catalogue.get('zigbee2mqtt/hall switch#l2'));

    assert.equal(catalogue.entities().some((e) => e.name === 'Coordinator'), false);
  });

  it('reads zigbee2mqtt groups (member capabilities) and group scenes', () => {
    const group = catalogue.get('zigbee2mqtt/living room lights');
    assert.equal(group?.domain, 'light');
    assert.deepEqual(group?.capabilities, { onOff: true, brightness: { min: 0, max: 254 } });
    const scene = catalogue.get('zigbee2mqtt/living room lights#scene1');
    assert.equal(scene?.domain, 'scene');
    assert.equal(scene?.name, 'movie time');
    assert.ok(scene?.command.kind === 'zigbee2mqtt' && scene.command.sceneId === 1);
  });

  it('reads HA discovery configs: abbreviated, ~ base, JSON schema, device-based', () => {
    const pump = catalogue.get('switch/garden/pump');
    assert.ok(pump, 'switch with node id is listed');
    assert.equal(pump.name, 'Garden Pump', 'name null takes the device name');
    assert.equal(pump.area, 'garden', 'suggested_area');
    assert.equal(pump.source, 'ha-discovery');
    assert.deepEqual(pump.capabilities, { onOff: true });
    assert.equal(pump.stateTopic, 'garden/pump/state');
    assert.ok(pump.command.kind === 'ha-mqtt' && pump.command.commandTopic === 'garden/pump/set');

    const lamp = catalogue.get('light/bedroom_lamp');
    assert.equal(lamp?.area, 'bedroom', 'area from the name prefix');
    assert.ok(lamp?.command.kind === 'ha-mqtt' && lamp.command.schema === 'json');
    assert.deepEqual(lamp?.capabilities, { onOff: true, brightness: { min: 1, max: 100 }, colorTemp: { minMireds: 153, maxMireds: 454 }, color: true });

    const deskLamp = catalogue.get('device/desk01/lamp');
    assert.equal(deskLamp?.name, 'Study Desk Lamp', 'device name + entity name');
    assert.equal(deskLamp?.area, 'study');
    assert.deepEqual(deskLamp?.capabilities, { onOff: true, brightness: { min: 1, max: 255 } });
    assert.equal(deskLamp?.discovery?.availability_topic, 'desk01/availability', 'shared option inherited');
    assert.ok(deskLamp?.aliases.includes('lamp'));
    const deskFan = catalogue.get('device/desk01/fan');
    assert.equal(deskFan?.domain, 'fan');
    assert.equal(deskFan?.deviceId, 'desk01');
  });

  it('finds entities by spoken name, with or without the area', () => {
    assert.deepEqual(catalogue.find('Kitchen Light').map((e) => e.id), ['zigbee2mqtt/kitchen light']);
    assert.deepEqual(catalogue.find('light', { area: 'kitchen' }).map((e) => e.id), ['zigbee2mqtt/kitchen light']);
    assert.deepEqual(catalogue.find('floor lamp').map((e) => e.id), ['zigbee2mqtt/living room/floor lamp']);
    assert.deepEqual(catalogue.find('garden pump', { domain: 'switch' }).map((e) => e.id), ['switch/garden/pump']);
    assert.deepEqual(catalogue.find('garden pump', { domain: 'light' }), []);
    assert.ok(catalogue.areas().includes('kitchen'));
  });

  it('offers an intent-matcher view that follows changes', async () => {
    const view = intentCatalogueView(catalogue);
    try {
      const light = view.entities().find((e) => e.id === 'zigbee2mqtt/kitchen light');
      assert.deepEqual(light, {
        id: 'zigbee2mqtt/kitchen light',
        name: 'kitchen light',
        aliases: ['kitchen light', 'light'],
        domain: 'light',
        area: 'kitchen',
        capabilities: { onOff: true, brightness: true, colorTemp: true, color: true },
      });
      assert.ok(view.areas().includes('kitchen'));
      assert.equal(view.entities(), view.entities(), 'cached between changes');
      await ha.publishAsync('homeassistant/switch/attic_fan/config', JSON.stringify({ name: 'Attic Fan', cmd_t: 'attic/fan/set' }), { retain: true, qos: 1 });
      await waitUntil(() => view.entities().some((e) => e.id === 'switch/attic_fan'), 3000, 'attic fan in the view');
      assert.ok(view.areas().includes('attic'));
    } finally {
      view.dispose();
    }
  });

  it('adds a device published after start, without a restart', async () => {
    const changes: CatalogueChange[] = [];
    catalogue.on('changed', (c: CatalogueChange) => changes.push(c));
    await ha.publishAsync(
      'homeassistant/switch/porch_light/config',
      JSON.stringify({ name: 'Porch Light', uniq_id: 'porch1', cmd_t: 'porch/light/set', stat_t: 'porch/light/state' }),
      { retain: true, qos: 1 },
    );
    await waitUntil(() => catalogue.get('switch/porch_light') !== undefined, 3000, 'porch light');
    assert.equal(changes.length, 1);
    assert.equal(changes[0]?.kind, 'added');
    assert.equal(changes[0]?.entity.area, 'porch');

    const devices = zigbee2mqttDevices();
    devices.push({
      ieee_address: '0x0017880109abcdef',
      type: 'Router',
      friendly_name: 'office lamp',
      supported: true,
      disabled: false,
      definition: { model: 'X', vendor: 'Y', description: 'Z', exposes: [{ type: 'light', features: [{ type: 'binary', name: 'state', property: 'state', access: 7, value_on: 'ON', value_off: 'OFF' }] }] },
    });
    await z2m.publishDevices(devices);
    await waitUntil(() => catalogue.get('zigbee2mqtt/office lamp') !== undefined, 3000, 'office lamp');
    assert.equal(catalogue.get('zigbee2mqtt/office lamp')?.area, 'office');
    assert.equal(changes.filter((c) => c.kind === 'added').length, 2, 'only the new lamp is added, the rest unchanged');
  });

  it('removes entities: empty retained config, a component left out, a device gone from bridge/devices', async () => {
    const removed: string[] = [];
    catalogue.on('changed', (c: CatalogueChange) => {
      if (c.kind === 'removed') removed.push(c.entity.id);
    });
    await ha.publishAsync('homeassistant/switch/garden/pump/config', '', { retain: true, qos: 1 });
    await waitUntil(() => catalogue.get('switch/garden/pump') === undefined, 3000, 'pump removal');

    const withoutFan = { ...HA_DEVICE_DESK, cmps: { lamp: HA_DEVICE_DESK.cmps.lamp, fan: { p: 'fan' } } };
    await ha.publishAsync('homeassistant/device/desk01/config', JSON.stringify(withoutFan), { retain: true, qos: 1 });
    await waitUntil(() => catalogue.get('device/desk01/fan') === undefined, 3000, 'fan removal');
    assert.ok(catalogue.get('device/desk01/lamp'), 'the lamp stays');

    await ha.publishAsync('homeassistant/device/desk01/config', '', { retain: true, qos: 1 });
    await waitUntil(() => catalogue.get('device/desk01/lamp') === undefined, 3000, 'device removal');

    await z2m.publishDevices(zigbee2mqttDevices().filter((d) => (d as { friendly_name: string }).friendly_name !== 'coffee plug'));
    await waitUntil(() => catalogue.get('zigbee2mqtt/coffee plug') === undefined, 3000, 'plug removal');
    assert.ok(catalogue.get('zigbee2mqtt/kitchen light'), 'other z2m devices stay');
    assert.deepEqual(removed.sort(), ['device/desk01/fan', 'device/desk01/lamp', 'switch/garden/pump', 'zigbee2mqtt/coffee plug'].sort());
  });

  it('ignores discovery configs zigbee2mqtt published for devices it already lists', async () => {
    const z2mConfig = {
      name: null,
      unique_id: '0x0017880104e45517_light_zigbee2mqtt',
      schema: 'json',
      command_topic: 'zigbee2mqtt/kitchen light/set',
      state_topic: 'zigbee2mqtt/kitchen light',
      device: { identifiers: ['zigbee2mqtt_0x0017880104e45517'], name: 'kitchen light' },
      origin: { name: 'Zigbee2MQTT', sw: '2.1.0', url: 'https://www.zigbee2mqtt.io' },
    };
    await ha.publishAsync('homeassistant/light/0x0017880104e45517/light/config', JSON.stringify(z2mConfig), { retain: true, qos: 1 });
    await ha.publishAsync('homeassistant/switch/marker/config', JSON.stringify({ name: 'Marker', cmd_t: 'm/set' }), { retain: true, qos: 1 });
    await waitUntil(() => catalogue.get('switch/marker') !== undefined, 3000, 'marker');
    assert.equal(catalogue.get('light/0x0017880104e45517/light'), undefined);
    assert.equal(catalogue.find('kitchen light').length, 1);
  });

  it('tracks state from zigbee2mqtt device topics and HA state topics', async () => {
    await z2m.publishState('kitchen light', { state: 'ON', brightness: 127, color_temp: 370, linkquality: 90 });
    await waitUntil(() => catalogue.state('zigbee2mqtt/kitchen light')?.on === true, 3000, 'light state');
    const light = catalogue.state('zigbee2mqtt/kitchen light');
    assert.equal(light?.brightnessPercent, 50);
    assert.equal(light?.colorTempMireds, 370);

    await z2m.publishState('bedroom sensor', { temperature: 21.5, humidity: 40, battery: 90 });
    await waitUntil(() => catalogue.state('zigbee2mqtt/bedroom sensor#temperature') !== undefined, 3000, 'sensor state');
    assert.equal(catalogue.state('zigbee2mqtt/bedroom sensor#temperature')?.value, 21.5);
    assert.equal(catalogue.state('zigbee2mqtt/bedroom sensor#humidity')?.value, 40);

    await ha.publishAsync('garden/pump/state', 'on', { retain: true, qos: 1 });
    await waitUntil(() => catalogue.state('switch/garden/pump')?.on === true, 3000, 'pump state');
    await ha.publishAsync('garden/pump/state', 'off', { retain: true, qos: 1 });
    await waitUntil(() => catalogue.state('switch/garden/pump')?.on === false, 3000, 'pump off');

    await ha.publishAsync('desk01/lamp/brightness', '64', { qos: 1 });
    await waitUntil(() => catalogue.state('device/desk01/lamp')?.brightness === 64, 3000, 'desk brightness');
    assert.equal(catalogue.state('device/desk01/lamp')?.brightnessPercent, 25);
  });

  it('reads retained state of a new catalogue immediately', async () => {
    await ha.publishAsync('lamp/bedroom/state', JSON.stringify({ state: 'ON', brightness: 30, color_mode: 'color_temp', color_temp: 300 }), { retain: true, qos: 1 });
    const second = new DeviceCatalogue(tb.broker);
    await second.start();
    try {
      await waitUntil(() => second.state('light/bedroom_lamp') !== undefined, 3000, 'retained lamp state');
      assert.deepEqual(
        { on: second.state('light/bedroom_lamp')?.on, pct: second.state('light/bedroom_lamp')?.brightnessPercent },
        { on: true, pct: 30 },
      );
    } finally {
      await second.close();
    }
  });
});
