import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { DeviceCatalogue } from '../../src/broker/catalogue';
import { executeAction } from '../../src/broker/actions';
import { resolveColor, resolveColorTempMireds, rgbToXy } from '../../src/broker/actions-colors';
import { collect, connectClient, startTestBroker, waitUntil, Zigbee2mqttPeer, type TestBroker } from './catalogue-peers';

const GARDEN_PUMP = {
  '~': 'garden/pump',
  name: null,
  uniq_id: 'garden_pump_01',
  cmd_t: '~/set',
  stat_t: '~/state',
  dev: { ids: ['garden_pump_01'], name: 'Garden Pump', sa: 'Garden' },
};
const BEDROOM_LAMP = {
  schema: 'json',
  name: 'Bedroom Lamp',
  uniq_id: 'bedroom_lamp_01',
  cmd_t: 'lamp/bedroom/set',
  stat_t: 'lamp/bedroom/state',
  sup_clrm: ['color_temp', 'rgb'],
  bri_scl: 100,
};
const DESK = {
  dev: { ids: 'desk01', name: 'Study Desk', sa: 'Study' },
  o: { name: 'acme2mqtt' },
  cmps: {
    lamp: {
      p: 'light',
      uniq_id: 'desk01_lamp',
      name: 'Lamp',
      cmd_t: 'desk01/lamp/set',
      stat_t: 'desk01/lamp/state',
      bri_cmd_t: 'desk01/lamp/brightness/set',
      bri_stat_t: 'desk01/lamp/brightness',
    },
  },
};
/** An HA light with no state topic: commands cannot be confirmed. */
const OPTIMISTIC = { name: 'Shed Light', uniq_id: 'shed1', cmd_t: 'shed/light/set' };

/** A device behind HA discovery configs: echoes commands on its state topics like a real one. */
async function startHaDevicePeer(url: string): Promise<MqttClient> {
  const client = await connectClient(url, 'ha-device');
  let lamp: Record<string, unknown> = { state: 'OFF' };
  client.on('message', (topic, payload) => {
    const text = payload.toString('utf8');
    if (topic === 'garden/pump/set') void client.publishAsync('garden/pump/state', text, { retain: true });
    if (topic === 'desk01/lamp/set') void client.publishAsync('desk01/lamp/state', text, { retain: true });
    if (topic === 'desk01/lamp/brightness/set') void client.publishAsync('desk01/lamp/brightness', text, { retain: true });
    if (topic === 'lamp/bedroom/set') {
      lamp = { ...lamp, ...(JSON.parse(text) as Record<string, unknown>) };
      void client.publishAsync('lamp/bedroom/state', JSON.stringify(lamp), { retain: true });
    }
  });
  await client.subscribeAsync(['garden/pump/set', 'desk01/lamp/#', 'lamp/bedroom/set']);
  return client;
}

describe('broker/actions colour helpers', () => {
  it('resolves colour words in English and Chinese, and hex', () => {
    assert.equal(resolveColor('red')?.hex, '#ff0000');
    assert.equal(resolveColor('红色')?.hex, '#ff0000');
    assert.equal(resolveColor('#00FF00')?.en, 'green');
    assert.equal(resolveColor('plaid'), undefined);
    const xy = rgbToXy(255, 0, 0);
    assert.ok(Math.abs(xy.x - 0.64) < 0.01 && Math.abs(xy.y - 0.33) < 0.01, `sRGB red is x 0.64 y 0.33, got ${JSON.stringify(xy)}`);
  });

  it('resolves colour temperature from kelvin, mireds and words, clamped to the device range', () => {
    assert.equal(resolveColorTempMireds(2700, 150, 500), 370);
    assert.equal(resolveColorTempMireds('4000K', 150, 500), 250);
    assert.equal(resolveColorTempMireds(300, 150, 500), 300);
    assert.equal(resolveColorTempMireds('warm', 150, 500), 500);
    assert.equal(resolveColorTempMireds('冷光', 150, 500), 150);
    assert.equal(resolveColorTempMireds(10000, 150, 500), 150);
    assert.equal(resolveColorTempMireds('purple', 150, 500), undefined);
  });
});

describe('broker/actions executeAction (real broker, zigbee2mqtt peer, HA device peer)', function () {
  let tb: TestBroker;
  let z2m: Zigbee2mqttPeer;
  let ha: MqttClient;
  let device: MqttClient;
  let observer: MqttClient;
  let catalogue: DeviceCatalogue;

  beforeEach(async () => {
    tb = await startTestBroker();
    z2m = await Zigbee2mqttPeer.start(tb.url);
    ha = await connectClient(tb.url, 'ha-config');
    await ha.publishAsync('homeassistant/switch/garden/pump/config', JSON.stringify(GARDEN_PUMP), { retain: true, qos: 1 });
    await ha.publishAsync('homeassistant/light/bedroom_lamp/config', JSON.stringify(BEDROOM_LAMP), { retain: true, qos: 1 });
    await ha.publishAsync('homeassistant/device/desk01/config', JSON.stringify(DESK), { retain: true, qos: 1 });
    await ha.publishAsync('homeassistant/light/shed/config', JSON.stringify(OPTIMISTIC), { retain: true, qos: 1 });
    device = await startHaDevicePeer(tb.url);
    observer = await connectClient(tb.url, 'observer');
    catalogue = new DeviceCatalogue(tb.broker);
    await catalogue.start();
  });

  afterEach(async () => {
    await catalogue.close();
    await Promise.all([z2m.close(), ha.endAsync(), device.endAsync(), observer.endAsync()]);
    await tb.broker.close();
  });

  it('turns on a zigbee2mqtt light: exactly {"state":"ON"} on <base>/<name>/set, confirmed by the echo', async () => {
    const seen = await collect(observer, 'zigbee2mqtt/kitchen light/set');
    const result = await executeAction(catalogue, tb.broker, { action: 'turn_on', entityId: 'zigbee2mqtt/kitchen light' });
    await waitUntil(() => seen.length >= 1, 3000, 'observer copy');
    assert.deepEqual(seen.map((m) => [m.topic, m.payload]), [['zigbee2mqtt/kitchen light/set', '{"state":"ON"}']]);
    assert.deepEqual(z2m.received, [{ topic: 'zigbee2mqtt/kitchen light/set', payload: '{"state":"ON"}' }]);
    assert.equal(result.ok, true);
    assert.equal(result.confirmed, true);
    assert.equal(result.spoken, 'Turned on the kitchen light.');
    assert.equal(result.state?.on, true);
  });

  it('scales brightness percent to the exposed range, sets colour temperature and colour', async () => {
    const bri = await executeAction(catalogue, tb.broker, { action: 'set_brightness', entityId: 'zigbee2mqtt/kitchen light', value: 50 });
    assert.equal(bri.confirmed, true);
    assert.equal(bri.spoken, 'Set the kitchen light to 50 percent.');
    const ct = await executeAction(catalogue, tb.broker, { action: 'set_color_temp', entityId: 'zigbee2mqtt/kitchen light', value: 2700 });
    assert.equal(ct.confirmed, true);
    assert.equal(ct.spoken, 'Set the kitchen light to 2700 kelvin.');
    const color = await executeAction(catalogue, tb.broker, { action: 'set_color', entityId: 'zigbee2mqtt/kitchen light', value: '红色' }, { language: 'zh' });
    assert.equal(color.confirmed, true);
    assert.equal(color.spoken, '已将kitchen light调成红色。');
    assert.deepEqual(
      z2m.received.map((m) => m.payload),
      ['{"brightness":127}', '{"color_temp":370}', '{"color":{"hex":"#ff0000"}}'],
    );
  });

  it('switches one gang of a 2-gang switch with its endpoint property, and toggles', async () => {
    const on = await executeAction(catalogue, tb.broker, { action: 'turn_on', entityId: 'zigbee2mqtt/hall switch#l2' });
    assert.equal(on.confirmed, true);
    const toggled = await executeAction(catalogue, tb.broker, { action: 'toggle', entityId: 'zigbee2mqtt/hall switch#l2' });
    assert.equal(toggled.confirmed, true);
    assert.equal(toggled.spoken, 'Turned off the hall switch l2.');
    assert.deepEqual(z2m.received.map((m) => m.payload), ['{"state_l2":"ON"}', '{"state_l2":"TOGGLE"}']);
  });

  it('covers, climate setpoints and group scenes', async () => {
    const pos = await executeAction(catalogue, tb.broker, { action: 'set_position', entityId: 'zigbee2mqtt/bedroom blind', value: 40 });
    assert.equal(pos.confirmed, true);
    const close = await executeAction(catalogue, tb.broker, { action: 'close', entityId: 'zigbee2mqtt/bedroom blind' });
    assert.equal(close.spoken, 'Closed the bedroom blind.');
    const temp = await executeAction(catalogue, tb.broker, { action: 'set_temperature', entityId: 'zigbee2mqtt/study radiator', value: 21.3 });
    assert.equal(temp.confirmed, true);
    assert.equal(temp.spoken, 'Set the study radiator to 21.5 degrees.');
    const scene = await executeAction(catalogue, tb.broker, { action: 'activate_scene', entityId: 'zigbee2mqtt/living room lights#scene1' });
    assert.equal(scene.ok, true);
    assert.equal(scene.confirmed, false, 'a scene recall has no state echo to wait for');
    assert.equal(scene.spoken, 'Activated movie time.');
    await waitUntil(() => z2m.received.length >= 4, 3000, 'scene recall at the peer');
    assert.deepEqual(
      z2m.received.map((m) => [m.topic, m.payload]),
      [
        ['zigbee2mqtt/bedroom blind/set', '{"position":40}'],
        ['zigbee2mqtt/bedroom blind/set', '{"state":"CLOSE"}'],
        ['zigbee2mqtt/study radiator/set', '{"occupied_heating_setpoint":21.5}'],
        ['zigbee2mqtt/living room lights/set', '{"scene_recall":1}'],
      ],
    );
  });

  it('says the device did not respond when no echo comes', async () => {
    z2m.silent.add('kitchen light');
    const result = await executeAction(catalogue, tb.broker, { action: 'turn_on', entityId: 'zigbee2mqtt/kitchen light' }, { waitForEchoMs: 300 });
    assert.equal(result.ok, false);
    assert.equal(result.confirmed, false);
    assert.equal(result.error, 'no_response');
    assert.equal(result.spoken, 'Sorry, the kitchen light did not respond.');
    assert.equal(z2m.received.length, 1, 'the command was still sent');
    const zh = await executeAction(catalogue, tb.broker, { action: 'turn_off', entityId: 'zigbee2mqtt/kitchen light' }, { waitForEchoMs: 200, language: 'zh' });
    assert.equal(zh.spoken, '抱歉，kitchen light没有响应。');
  });

  it('does not wait when waitForEchoMs is 0', async () => {
    z2m.silent.add('coffee plug');
    const result = await executeAction(catalogue, tb.broker, { action: 'turn_on', entityId: 'zigbee2mqtt/coffee plug' }, { waitForEchoMs: 0 });
    assert.deepEqual([result.ok, result.confirmed, result.spoken], [true, false, 'Turned on the coffee plug.']);
  });

  it('commands an HA default-schema switch with its payloads and confirms from its state topic', async () => {
    const seen = await collect(observer, 'garden/pump/set');
    const result = await executeAction(catalogue, tb.broker, { action: 'turn_off', entityId: 'switch/garden/pump' });
    await waitUntil(() => seen.length >= 1, 3000, 'observer copy');
    assert.deepEqual(seen.map((m) => m.payload), ['OFF']);
    assert.deepEqual([result.ok, result.confirmed, result.spoken], [true, true, 'Turned off the Garden Pump.']);
    assert.equal(catalogue.state('switch/garden/pump')?.on, false);
  });

  it('commands an HA JSON-schema light (brightness scale, colour temperature, rgb colour)', async () => {
    const seen = await collect(observer, 'lamp/bedroom/set');
    const bri = await executeAction(catalogue, tb.broker, { action: 'set_brightness', entityId: 'light/bedroom_lamp', value: 40 });
    assert.equal(bri.confirmed, true);
    const ct = await executeAction(catalogue, tb.broker, { action: 'set_color_temp', entityId: 'light/bedroom_lamp', value: 'warm' });
    assert.equal(ct.confirmed, true);
    const color = await executeAction(catalogue, tb.broker, { action: 'set_color', entityId: 'light/bedroom_lamp', value: 'blue' });
    assert.equal(color.spoken, 'Set the Bedroom Lamp to blue.');
    await waitUntil(() => seen.length >= 3, 3000, 'observer copies');
    assert.deepEqual(
      seen.map((m) => JSON.parse(m.payload) as unknown),
      [
        { state: 'ON', brightness: 40 },
        { state: 'ON', color_temp: 500 },
        { state: 'ON', color: { r: 0, g: 0, b: 255 } },
      ],
    );
  });

  it('commands a device-based HA light: brightness topic then payload_on (on_command_type last)', async () => {
    const seen = await collect(observer, 'desk01/lamp/+/set');
    const seenOn = await collect(observer, 'desk01/lamp/set');
    const result = await executeAction(catalogue, tb.broker, { action: 'set_brightness', entityId: 'device/desk01/lamp', value: 25 });
    assert.equal(result.confirmed, true);
    await waitUntil(() => seen.length >= 1 && seenOn.length >= 1, 3000, 'observer copies');
    assert.deepEqual(seen.map((m) => [m.topic, m.payload]), [['desk01/lamp/brightness/set', '64']]);
    assert.deepEqual(seenOn.map((m) => m.payload), ['ON']);
    assert.equal(result.spoken, 'Set the Study Desk Lamp to 25 percent.');
  });

  it('an entity without a state topic is commanded but not confirmed', async () => {
    const seen = await collect(observer, 'shed/light/set');
    const result = await executeAction(catalogue, tb.broker, { action: 'turn_on', entityId: 'light/shed' });
    await waitUntil(() => seen.length >= 1, 3000, 'observer copy');
    assert.deepEqual(seen.map((m) => m.payload), ['ON']);
    assert.deepEqual([result.ok, result.confirmed], [true, false]);
  });

  it('answers state questions from the tracked state, and asks zigbee2mqtt with /get when it knows nothing', async () => {
    await z2m.publishState('kitchen light', { state: 'ON', brightness: 254 });
    await waitUntil(() => catalogue.state('zigbee2mqtt/kitchen light') !== undefined);
    const q = await executeAction(catalogue, tb.broker, { action: 'query_state', entityId: 'zigbee2mqtt/kitchen light' });
    assert.deepEqual([q.ok, q.spoken], [true, 'The kitchen light is on at 100 percent.']);
    const zh = await executeAction(catalogue, tb.broker, { action: 'query_state', entityId: 'zigbee2mqtt/kitchen light' }, { language: 'zh' });
    assert.equal(zh.spoken, 'kitchen light开着，亮度百分之100。');

    // The plug has reported nothing: the action asks with /get; our peer answers /get like /set would not,
    // so answer it here the way zigbee2mqtt does (publishing the device state).
    const gets = await collect(observer, 'zigbee2mqtt/coffee plug/get');
    observer.on('message', (topic) => {
      if (topic === 'zigbee2mqtt/coffee plug/get') void z2m.publishState('coffee plug', { state: 'OFF' });
    });
    const plug = await executeAction(catalogue, tb.broker, { action: 'query_state', entityId: 'zigbee2mqtt/coffee plug' });
    await waitUntil(() => gets.length >= 1, 3000, 'observer copy');
    assert.deepEqual(gets.map((m) => m.payload), ['{"state":""}']);
    assert.deepEqual([plug.ok, plug.spoken], [true, 'The coffee plug is off.']);

    await z2m.publishState('bedroom sensor', { temperature: 19.25 });
    await waitUntil(() => catalogue.state('zigbee2mqtt/bedroom sensor#temperature') !== undefined);
    const t = await executeAction(catalogue, tb.broker, { action: 'query_state', entityId: 'zigbee2mqtt/bedroom sensor#temperature' });
    assert.equal(t.spoken, 'The bedroom sensor temperature is 19.3 degrees.');
  });

  it('fails clearly: unknown entity, unsupported action, bad value', async () => {
    const missing = await executeAction(catalogue, tb.broker, { action: 'turn_on', entityId: 'zigbee2mqtt/nothing' });
    assert.deepEqual([missing.ok, missing.error, missing.spoken], [false, 'not_found', 'Sorry, I could not find that device.']);
    const unsupported = await executeAction(catalogue, tb.broker, { action: 'set_color', entityId: 'zigbee2mqtt/coffee plug', value: 'red' });
    assert.deepEqual([unsupported.ok, unsupported.error, unsupported.spoken], [false, 'unsupported', 'Sorry, the coffee plug cannot change colour.']);
    const bad = await executeAction(catalogue, tb.broker, { action: 'set_brightness', entityId: 'zigbee2mqtt/kitchen light', value: 'bright-ish' });
    assert.deepEqual([bad.ok, bad.error], [false, 'bad_value']);
    assert.equal(z2m.received.length, 0, 'nothing was published for failed plans');
    const downBroker = { publish: () => Promise.reject(new Error('broker down')), subscribe: tb.broker.subscribe.bind(tb.broker) };
    const down = await executeAction(catalogue, downBroker, { action: 'turn_on', entityId: 'zigbee2mqtt/kitchen light' });
    assert.deepEqual([down.ok, down.error, down.spoken], [false, 'publish_failed', 'Sorry, I could not send the command to the kitchen light.']);
  });

  it('Chinese device names: found by name or area, confirmed in Chinese', async () => {
    await ha.publishAsync(
      'homeassistant/switch/living_light/config',
      JSON.stringify({ name: '客厅灯', uniq_id: 'living_light', cmd_t: 'living/light/set', stat_t: 'living/light/state' }),
      { retain: true, qos: 1 },
    );
    await waitUntil(() => catalogue.get('switch/living_light') !== undefined, 3000, 'living room light');
    assert.equal(catalogue.get('switch/living_light')?.area, '客厅');
    assert.deepEqual(catalogue.find('客厅灯').map((e) => e.id), ['switch/living_light']);
    assert.deepEqual(catalogue.find('灯', { area: '客厅' }).map((e) => e.id), ['switch/living_light']);
    const seen = await collect(observer, 'living/light/set');
    const result = await executeAction(catalogue, tb.broker, { action: 'turn_on', entityId: 'switch/living_light' }, { language: 'zh', waitForEchoMs: 200 });
    await waitUntil(() => seen.length >= 1, 3000, 'command');
    assert.deepEqual(seen.map((m) => m.payload), ['ON']);
    assert.deepEqual([result.ok, result.spoken], [false, '抱歉，客厅灯没有响应。']);
    await observer.publishAsync('living/light/state', 'ON', { qos: 1 });
    await waitUntil(() => catalogue.state('switch/living_light')?.on === true, 3000, 'state');
    const q = await executeAction(catalogue, tb.broker, { action: 'query_state', entityId: 'switch/living_light' }, { language: 'zh' });
    assert.equal(q.spoken, '客厅灯开着。');
    const off = await executeAction(catalogue, tb.broker, { action: 'turn_off', entityId: 'switch/living_light' }, { language: 'zh', waitForEchoMs: 0 });
    assert.equal(off.spoken, '已关闭客厅灯。');
  });
});
