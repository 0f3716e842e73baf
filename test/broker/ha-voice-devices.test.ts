import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { HaVoiceDevicePublisher, VOICE_DEVICE_STATES } from '../../src/broker/ha-voice-devices';
import { DeviceCatalogue } from '../../src/broker/catalogue';
import { collect, connectClient, startTestBroker, waitUntil, type TestBroker } from './catalogue-peers';

/**
 * Home Assistant's documented rules for a device-based discovery message (integrations/mqtt
 * "Device discovery payload", and the sensor/number/text platform options), checked key by key.
 * Returns the list of violations.
 */
function haDeviceDiscoveryViolations(topic: string, payload: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const validPublishTopic = (t: unknown): boolean => typeof t === 'string' && t.length > 0 && !/[+#]/.test(t);
  const validSubscribeTopic = (t: unknown): boolean => typeof t === 'string' && t.length > 0;
  if (!/^homeassistant\/device\/[a-zA-Z0-9_-]+\/config$/.test(topic)) errors.push(`topic ${topic}`);
  const allowedTop = new Set(['device', 'origin', 'components', 'availability', 'availability_mode', 'availability_topic', 'payload_available', 'payload_not_available', 'state_topic', 'command_topic', 'qos', 'encoding']);
  for (const key of Object.keys(payload)) if (!allowedTop.has(key)) errors.push(`unknown top-level key ${key}`);
  const device = payload.device as Record<string, unknown> | undefined;
  if (!device) errors.push('device is required');
  else {
    const ids = device.identifiers as unknown[] | undefined;
    const cns = device.connections as unknown[] | undefined;
    if (!(ids?.length || cns?.length)) errors.push('device needs identifiers or connections');
    if (ids && !ids.every((i) => typeof i === 'string')) errors.push('identifiers must be strings');
    if (cns && !cns.every((c) => Array.isArray(c) && c.length === 2 && c.every((x) => typeof x === 'string'))) errors.push('connections must be [type, value] pairs');
    const allowedDevice = new Set(['identifiers', 'connections', 'manufacturer', 'model', 'model_id', 'name', 'hw_version', 'serial_number', 'sw_version', 'via_device', 'suggested_area', 'configuration_url']);
    for (const key of Object.keys(device)) if (!allowedDevice.has(key)) errors.push(`unknown device key ${key}`);
  }
  const origin = payload.origin as Record<string, unknown> | undefined;
  if (!origin || typeof origin.name !== 'string') errors.push('origin.name is required');
  else for (const key of Object.keys(origin)) if (!['name', 'sw_version', 'support_url'].includes(key)) errors.push(`unknown origin key ${key}`);
  if (payload.availability !== undefined) {
    if (!Array.isArray(payload.availability)) errors.push('availability must be a list');
    else for (const a of payload.availability as Array<Record<string, unknown>>) if (!validSubscribeTopic(a.topic)) errors.push('availability entry needs a topic');
    if (payload.availability_topic !== undefined) errors.push('availability and availability_topic are exclusive');
  }
  if (payload.availability_mode !== undefined && !['all', 'any', 'latest'].includes(String(payload.availability_mode))) errors.push('availability_mode');
  const components = payload.components as Record<string, Record<string, unknown>> | undefined;
  if (!components || typeof components !== 'object') return [...errors, 'components is required'];
  const uniqueIds = new Set<string>();
  const common = ['platform', 'name', 'unique_id', 'icon', 'device_class', 'entity_category', 'enabled_by_default', 'json_attributes_topic', 'json_attributes_template', 'default_entity_id', 'qos', 'availability', 'availability_mode', 'availability_topic', 'entity_picture'];
  const allowedByPlatform: Record<string, string[]> = {
    sensor: [...common, 'state_topic', 'value_template', 'unit_of_measurement', 'state_class', 'options', 'expire_after', 'force_update', 'suggested_display_precision'],
    number: [...common, 'command_topic', 'command_template', 'state_topic', 'value_template', 'min', 'max', 'step', 'mode', 'unit_of_measurement', 'optimistic', 'retain', 'payload_reset'],
    text: [...common, 'command_topic', 'command_template', 'state_topic', 'value_template', 'min', 'max', 'mode', 'pattern', 'retain'],
  };
  for (const [key, c] of Object.entries(components)) {
    const platform = String(c.platform);
    const allowed = allowedByPlatform[platform];
    if (!allowed) {
      errors.push(`${key}: platform ${platform} not expected`);
      continue;
    }
    for (const k of Object.keys(c)) if (!allowed.includes(k)) errors.push(`${key}: unknown key ${k}`);
    if (typeof c.unique_id !== 'string' || !c.unique_id) errors.push(`${key}: unique_id is required with a device`);
    else if (uniqueIds.has(c.unique_id)) errors.push(`${key}: duplicate unique_id`);
    else uniqueIds.add(c.unique_id);
    if (platform === 'sensor') {
      if (!validSubscribeTopic(c.state_topic)) errors.push(`${key}: sensor needs state_topic`);
      if (c.device_class === 'enum' && !(Array.isArray(c.options) && c.options.length > 0)) errors.push(`${key}: enum sensor needs options`);
      if (c.options !== undefined && c.device_class !== 'enum') errors.push(`${key}: options only with device_class enum`);
    }
    if (platform === 'number') {
      if (!validPublishTopic(c.command_topic)) errors.push(`${key}: number needs a publishable command_topic`);
      const min = Number(c.min ?? 1);
      const max = Number(c.max ?? 100);
      if (!(min < max)) errors.push(`${key}: min < max`);
      if (c.step !== undefined && !(Number(c.step) >= 0.001)) errors.push(`${key}: step >= 0.001`);
      if (c.mode !== undefined && !['auto', 'box', 'slider'].includes(String(c.mode))) errors.push(`${key}: number mode`);
    }
    if (platform === 'text') {
      if (!validPublishTopic(c.command_topic)) errors.push(`${key}: text needs a publishable command_topic`);
      const min = Number(c.min ?? 0);
      const max = Number(c.max ?? 255);
      if (!(min <= max && max <= 255)) errors.push(`${key}: text 0 <= min <= max <= 255`);
      if (c.mode !== undefined && !['text', 'password'].includes(String(c.mode))) errors.push(`${key}: text mode`);
    }
  }
  return errors;
}

describe('broker/ha-voice-devices HaVoiceDevicePublisher (real broker, HA-side mqtt client)', function () {
  let tb: TestBroker;
  let ha: MqttClient;
  let publisher: HaVoiceDevicePublisher;
  const volumes: Array<[string, number]> = [];
  const announcements: Array<[string, string]> = [];
  const device = { id: 'AA:BB:CC:DD:EE:FF', name: 'Kitchen Speaker', model: 'esp-box-3', firmwareVersion: '1.6.2', area: 'Kitchen' };
  const configTopic = 'homeassistant/device/xiaozhi_aabbccddeeff/config';

  beforeEach(async () => {
    volumes.length = 0;
    announcements.length = 0;
    tb = await startTestBroker();
    ha = await connectClient(tb.url, 'homeassistant');
    publisher = new HaVoiceDevicePublisher(tb.broker, {
      onVolume: (id, v) => volumes.push([id, v]),
      onAnnounce: (id, text) => announcements.push([id, text]),
    });
  });

  afterEach(async () => {
    await publisher.close();
    await ha.endAsync();
    await tb.broker.close();
  });

  it('publishes one retained device-based discovery config that follows HA schema, field by field', async () => {
    await publisher.deviceConnected(device);
    const retained = await tb.broker.retained(configTopic);
    assert.equal(retained.length, 1, 'the config is retained');
    const payload = JSON.parse(retained[0]!.payload.toString('utf8')) as Record<string, any>;
    assert.deepEqual(haDeviceDiscoveryViolations(configTopic, payload), []);

    assert.deepEqual(payload.device, {
      identifiers: ['xiaozhi_aabbccddeeff'],
      connections: [['mac', 'aa:bb:cc:dd:ee:ff']],
      name: 'Kitchen Speaker',
      manufacturer: 'xiaozhi',
      model: 'esp-box-3',
      sw_version: '1.6.2',
      suggested_area: 'Kitchen',
    });
    assert.equal(payload.origin.name, 'node-red-contrib-xiaozhi');
    // The version is read from the package.json above the compiled file: present in dist/, absent
    // when compiled to an outside directory.
    if (payload.origin.sw_version !== undefined) assert.match(payload.origin.sw_version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(payload.availability, [
      { topic: 'xiaozhi/aabbccddeeff/availability', payload_available: 'online', payload_not_available: 'offline' },
      { topic: 'xiaozhi/bridge/availability', payload_available: 'online', payload_not_available: 'offline' },
    ]);
    assert.equal(payload.availability_mode, 'all');
    assert.deepEqual(Object.keys(payload.components).sort(), ['announce', 'reply', 'state', 'transcript', 'volume']);
    const c = payload.components;
    assert.deepEqual(
      [c.state.platform, c.state.unique_id, c.state.state_topic, c.state.device_class, c.state.options],
      ['sensor', 'xiaozhi_aabbccddeeff_state', 'xiaozhi/aabbccddeeff/state', 'enum', [...VOICE_DEVICE_STATES]],
    );
    assert.deepEqual([c.transcript.platform, c.transcript.state_topic], ['sensor', 'xiaozhi/aabbccddeeff/transcript']);
    assert.deepEqual([c.reply.platform, c.reply.state_topic], ['sensor', 'xiaozhi/aabbccddeeff/reply']);
    assert.deepEqual(
      [c.volume.platform, c.volume.command_topic, c.volume.state_topic, c.volume.min, c.volume.max, c.volume.step],
      ['number', 'xiaozhi/aabbccddeeff/volume/set', 'xiaozhi/aabbccddeeff/volume', 0, 100, 1],
    );
    assert.deepEqual([c.announce.platform, c.announce.command_topic, c.announce.max], ['text', 'xiaozhi/aabbccddeeff/announce', 255]);

    const availability = await tb.broker.retained('xiaozhi/+/availability');
    assert.deepEqual(
      availability.map((m) => [m.topic, m.payload.toString()]).sort(),
      [['xiaozhi/aabbccddeeff/availability', 'online'], ['xiaozhi/bridge/availability', 'online']],
    );
  });

  it('the validator itself rejects what HA rejects', () => {
    const bad = {
      device: { name: 'x' },
      components: { a: { platform: 'number', command_topic: 'x/+/set', min: 5, max: 5 }, b: { platform: 'text', unique_id: 'b', command_topic: 't', max: 300 } },
    };
    const errors = haDeviceDiscoveryViolations('homeassistant/device/bad id/config', bad);
    for (const expected of ['topic', 'identifiers or connections', 'origin.name', 'unique_id', 'publishable command_topic', 'min < max', 'max <= 255']) {
      assert.ok(errors.some((e) => e.includes(expected)), `expected a violation about ${expected}: ${errors.join('; ')}`);
    }
  });

  it('publishes state, transcript, reply and volume as retained state topics (long text cut to 255)', async () => {
    await publisher.deviceConnected({ ...device, volume: 70 });
    await publisher.deviceState(device.id, 'listening');
    await publisher.transcript(device.id, 'turn on the kitchen light');
    await publisher.reply(device.id, 'x'.repeat(400));
    await publisher.deviceVolume(device.id, 55);
    await publisher.deviceState(device.id, 'upgrading' as never); // not an enum option: not published
    const retained = new Map((await tb.broker.retained('xiaozhi/aabbccddeeff/+')).map((m) => [m.topic, m.payload.toString()]));
    assert.equal(retained.get('xiaozhi/aabbccddeeff/state'), 'listening');
    assert.equal(retained.get('xiaozhi/aabbccddeeff/transcript'), 'turn on the kitchen light');
    assert.equal([...(retained.get('xiaozhi/aabbccddeeff/reply') ?? '')].length, 255);
    assert.equal(retained.get('xiaozhi/aabbccddeeff/volume'), '55');
  });

  it('routes HA commands: volume number -> onVolume, announce text -> onAnnounce', async () => {
    await publisher.deviceConnected(device);
    await ha.publishAsync('xiaozhi/aabbccddeeff/volume/set', '35', { qos: 1 });
    await ha.publishAsync('xiaozhi/aabbccddeeff/announce', 'Dinner is ready', { qos: 1 });
    await ha.publishAsync('xiaozhi/001122334455/volume/set', '10', { qos: 1 }); // unknown device: ignored
    await waitUntil(() => volumes.length >= 1 && announcements.length >= 1, 3000, 'commands');
    assert.deepEqual(volumes, [['AA:BB:CC:DD:EE:FF', 35]]);
    assert.deepEqual(announcements, [['AA:BB:CC:DD:EE:FF', 'Dinner is ready']]);
  });

  it('marks a disconnected device offline and republishes everything when HA comes online', async () => {
    await publisher.deviceConnected(device);
    await publisher.deviceState(device.id, 'idle');
    await publisher.deviceDisconnected(device.id);
    const availability = await tb.broker.retained('xiaozhi/aabbccddeeff/availability');
    assert.equal(availability[0]?.payload.toString(), 'offline');

    const configs = await collect(ha, configTopic);
    await waitUntil(() => configs.length === 1, 3000, 'retained config at subscribe');
    assert.equal(configs[0]?.retain, true);
    await ha.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await waitUntil(() => configs.length === 2, 3000, 'republished config');
    assert.equal(configs[1]?.retain, false, 'a fresh publish, not the stored copy');
    assert.deepEqual(JSON.parse(configs[1]!.payload), JSON.parse(configs[0]!.payload));
    await ha.publishAsync('homeassistant/status', 'offline', { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(configs.length, 2, 'HA going offline republishes nothing');
  });

  it('forget removes the device (empty retained config) and clears its retained topics', async () => {
    await publisher.deviceConnected(device);
    await publisher.transcript(device.id, 'hello');
    await publisher.forget(device.id);
    assert.deepEqual(await tb.broker.retained(configTopic), []);
    assert.deepEqual(await tb.broker.retained('xiaozhi/aabbccddeeff/#'), []);
    assert.deepEqual(publisher.deviceIds(), []);
  });

  it('close marks the hub and connected devices offline', async () => {
    await publisher.deviceConnected(device);
    await publisher.close();
    const retained = new Map((await tb.broker.retained('xiaozhi/+/availability')).map((m) => [m.topic, m.payload.toString()]));
    assert.equal(retained.get('xiaozhi/bridge/availability'), 'offline');
    assert.equal(retained.get('xiaozhi/aabbccddeeff/availability'), 'offline');
  });

  it('the device catalogue does not list the hub\'s own voice devices', async () => {
    await publisher.deviceConnected(device);
    const catalogue = new DeviceCatalogue(tb.broker);
    await catalogue.start();
    try {
      assert.deepEqual(catalogue.entities(), []);
    } finally {
      await catalogue.close();
    }
  });
});
