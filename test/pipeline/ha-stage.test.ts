import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { DeviceGateway, type Session } from '../../src/gateway';
import { HaStage, HaStageError } from '../../src/pipeline/ha-stage';
import type { StageMessage } from '../../src/pipeline/llm-stage';
import { collect, connectClient, startTestBroker, waitUntil, type TestBroker } from '../broker/catalogue-peers';
import { connectMcpDevice, type McpDevice } from './ha-stage-fixtures';

type Seen = Array<{ topic: string; payload: string; retain: boolean }>;

/** Payloads seen on one topic, in order. */
const on = (seen: Seen, topic: string): string[] => seen.filter((s) => s.topic === topic).map((s) => s.payload);

describe('pipeline/ha-stage HaStage (real broker, gateway, raw devices, HA-side mqtt client)', function () {
  this.timeout(15_000);
  let tb: TestBroker;
  let ha: MqttClient;
  let gateway: DeviceGateway;
  let url: string;
  let stage: HaStage;
  let out: StageMessage[];
  let warnings: string[];
  let seen: Seen;
  const devices: McpDevice[] = [];
  const mac = 'aa:bb:cc:dd:ee:01';
  const tid = 'aabbccddee01';

  function newStage(extra: Partial<ConstructorParameters<typeof HaStage>[0]> = {}): HaStage {
    return new HaStage({ broker: tb.broker, send: (m) => out.push(m), warn: (w) => warnings.push(w), ...extra });
  }

  async function device(id = mac, opts: Parameters<typeof connectMcpDevice>[2] = {}): Promise<{ d: McpDevice; session: Session }> {
    const sessionPromise = new Promise<Session>((resolve) => gateway.once('session', resolve));
    const d = await connectMcpDevice(url, id, opts);
    devices.push(d);
    return { d, session: await sessionPromise };
  }

  beforeEach(async () => {
    out = [];
    warnings = [];
    tb = await startTestBroker();
    ha = await connectClient(tb.url, 'homeassistant');
    seen = await collect(ha, '#');
    gateway = new DeviceGateway({ port: 0, host: '127.0.0.1' });
    await gateway.start();
    url = `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`;
    stage = newStage();
    await stage.start();
    stage.attach(gateway);
  });

  afterEach(async () => {
    for (const d of devices.splice(0)) d.client.close();
    await stage.close();
    await gateway.close();
    await ha.endAsync();
    await tb.broker.close();
  });

  it('a connecting device appears in HA: retained device config with its entities, board from OTA, online, idle', async () => {
    // The firmware checks OTA before connecting: board and version come from there.
    const res = await fetch(`http://127.0.0.1:${gateway.port}/xiaozhi/ota/`, {
      method: 'POST',
      headers: { 'Device-Id': mac, 'Client-Id': 'c1', 'Content-Type': 'application/json' },
      body: JSON.stringify({ application: { version: '1.8.2' }, board: { type: 'esp-box-3', name: 'esp-box-3' }, mac_address: mac }),
    });
    assert.equal(res.status, 200);
    await device(mac, { name: 'Kitchen speaker' });
    const configTopic = `homeassistant/device/xiaozhi_${tid}/config`;
    await waitUntil(() => on(seen, `xiaozhi/${tid}/state`).length > 0, 3000, 'state');
    const retained = await tb.broker.retained(configTopic);
    assert.equal(retained.length, 1, 'config retained');
    const config = JSON.parse(retained[0]!.payload.toString()) as { device: Record<string, unknown>; components: Record<string, { platform: string; unique_id: string }> };
    assert.deepEqual(Object.keys(config.components).sort(), ['announce', 'reply', 'state', 'transcript', 'volume']);
    assert.deepEqual(
      Object.fromEntries(Object.entries(config.components).map(([k, c]) => [k, c.platform])),
      { state: 'sensor', transcript: 'sensor', reply: 'sensor', volume: 'number', announce: 'text' },
    );
    assert.equal(config.device.name, 'Kitchen speaker');
    assert.equal(config.device.model, 'esp-box-3');
    assert.equal(config.device.sw_version, '1.8.2');
    assert.deepEqual(config.device.connections, [['mac', mac]]);
    assert.deepEqual(on(seen, `xiaozhi/${tid}/availability`), ['online']);
    assert.deepEqual(on(seen, 'xiaozhi/bridge/availability'), ['online']);
    assert.deepEqual(on(seen, `xiaozhi/${tid}/state`), ['idle']);
    // The device reported volume 70 through get_device_status once its tools were known.
    await waitUntil(() => on(seen, `xiaozhi/${tid}/volume`).includes('70'), 3000, 'initial volume');
    assert.equal(stage.connectedDevices, 1);
  });

  it('state follows the turn: listening, thinking from stt to speech, speaking, listening; transcript and reply sensors', async () => {
    const { d, session } = await device();
    const stateTopic = `xiaozhi/${tid}/state`;
    await waitUntil(() => on(seen, stateTopic).length === 1, 3000, 'idle');
    d.client.sendJson({ type: 'listen', state: 'start', mode: 'auto' });
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'listening', 3000, 'listening');
    const turn = session.turn;
    const ids = { session: session.id, turn, device: { id: mac, clientId: session.clientId } };

    // Every msg passes through unchanged (same object).
    const stt: StageMessage = { ...ids, topic: 'stt', payload: 'what time is it' };
    stage.handle(stt);
    assert.equal(out.at(-1), stt);
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'thinking', 3000, 'thinking');
    await waitUntil(() => on(seen, `xiaozhi/${tid}/transcript`).at(-1) === 'what time is it', 3000, 'transcript');
    // The session is still "listening" on the gateway; the LLM's sentences do not end thinking either.
    stage.handle({ ...ids, topic: 'sentence', payload: 'It is ten past nine.' });
    stage.handle({ ...ids, topic: 'reply.end', payload: 'It is ten past nine.' });
    await waitUntil(() => on(seen, `xiaozhi/${tid}/reply`).at(-1) === 'It is ten past nine.', 3000, 'reply');
    assert.equal(on(seen, stateTopic).at(-1), 'thinking');

    // The out node plays the answer: the session enters speaking, then back to listening after tts stop.
    assert.ok(session.queueSentence('It is ten past nine.', turn));
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'speaking', 3000, 'speaking');
    assert.ok(session.finishSpeaking(turn));
    await d.client.waitJson((m) => m.type === 'tts' && m.state === 'stop');
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'listening', 3000, 'listening again');
    assert.deepEqual(on(seen, stateTopic), ['idle', 'listening', 'thinking', 'speaking', 'listening']);
    assert.equal(out.length, 3, 'stt, sentence, reply.end passed through');
  });

  it('with the node after the TTS: first audio ends thinking, subtitles become the reply at tts.stop', async () => {
    const { d, session } = await device();
    const stateTopic = `xiaozhi/${tid}/state`;
    d.client.sendJson({ type: 'listen', state: 'start', mode: 'manual' });
    d.client.sendJson({ type: 'listen', state: 'stop' });
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'idle' && on(seen, stateTopic).length >= 3, 3000, 'idle after listen stop');
    const ids = { session: session.id, turn: session.turn, device: { id: mac, clientId: session.clientId } };
    stage.handle({ ...ids, topic: 'stt', payload: 'tell me a joke' });
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'thinking', 3000, 'thinking');
    // Microphone PCM (no opus encoding) does not count as speech.
    stage.handle({ ...ids, topic: 'audio', payload: Buffer.alloc(1920), audio: { encoding: 'pcm', sampleRateHz: 16000 } });
    stage.handle({ ...ids, topic: 'tts.sentence', payload: 'Why did the chicken cross the road?' });
    stage.handle({ ...ids, topic: 'audio', payload: [Buffer.alloc(40)], audio: { encoding: 'opus', sampleRateHz: 24000 } });
    stage.handle({ ...ids, topic: 'tts.sentence', payload: 'To get to the other side.' });
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'speaking', 3000, 'speaking');
    stage.handle({ ...ids, topic: 'tts.stop' });
    await waitUntil(() => on(seen, `xiaozhi/${tid}/reply`).length === 1, 3000, 'reply from subtitles');
    assert.equal(on(seen, `xiaozhi/${tid}/reply`)[0], 'Why did the chicken cross the road? To get to the other side.');
    assert.deepEqual(on(seen, stateTopic), ['idle', 'listening', 'idle', 'thinking', 'speaking']);
    assert.equal(out.length, 6, 'every msg passed through');
  });

  it('a turn that ends without speech leaves thinking (tts.stop of an empty ASR result, or the thinking timeout)', async () => {
    await stage.close();
    stage = newStage({ thinkingTimeoutMs: 200 });
    await stage.start();
    stage.attach(gateway);
    const { session } = await device();
    const stateTopic = `xiaozhi/${tid}/state`;
    await waitUntil(() => on(seen, stateTopic).length >= 1, 3000, 'idle');
    const ids = { session: session.id, turn: session.turn };
    stage.handle({ ...ids, topic: 'stt', payload: 'hm' });
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'thinking', 3000, 'thinking');
    stage.handle({ ...ids, topic: 'tts.stop' });
    await waitUntil(() => on(seen, stateTopic).at(-1) === 'idle', 3000, 'idle after tts.stop');
    const before = on(seen, stateTopic).length;
    stage.handle({ ...ids, topic: 'stt', payload: 'and now nothing answers' });
    // Counted, not sampled: on a busy machine the 200 ms timeout may pass before a poll sees "thinking".
    await waitUntil(() => on(seen, stateTopic).length >= before + 2, 3000, 'thinking, then the timeout');
    assert.deepEqual(on(seen, stateTopic).slice(before), ['thinking', 'idle']);
  });

  it('HA sets the volume: the device gets the MCP tools/call, the accepted value is published; a refusal is a warning', async () => {
    const { d } = await device();
    await waitUntil(() => on(seen, `xiaozhi/${tid}/volume`).includes('70'), 3000, 'initial volume');
    await ha.publishAsync(`xiaozhi/${tid}/volume/set`, '35', { qos: 1 });
    await waitUntil(() => on(seen, `xiaozhi/${tid}/volume`).at(-1) === '35', 3000, 'volume 35 published');
    assert.deepEqual(d.volumeCalls, [35]);
    assert.deepEqual((await tb.broker.retained(`xiaozhi/${tid}/volume`)).map((r) => r.payload.toString()), ['35']);

    const other = await device('aa:bb:cc:dd:ee:02', { refuseVolume: true });
    await ha.publishAsync('xiaozhi/aabbccddee02/volume/set', '150', { qos: 1 });
    await waitUntil(() => warnings.some((w) => w.includes('volume out of range')), 3000, 'refusal warning');
    assert.deepEqual(other.d.volumeCalls, [100], 'clamped to 0..100 before the call');
    assert.ok(!on(seen, 'xiaozhi/aabbccddee02/volume').includes('100'), 'a refused volume is not shown as set');
  });

  it('HA announce text -> a new turn and a say msg for that session; speech in progress is cut with tts stop', async () => {
    const { d, session } = await device();
    assert.ok(session.queueSentence('A long answer', session.turn));
    await waitUntil(() => session.state === 'speaking', 3000, 'speaking');
    const before = session.turn;
    const fromIndex = d.client.received.length;
    await ha.publishAsync(`xiaozhi/${tid}/announce`, 'Dinner is ready', { qos: 1 });
    await waitUntil(() => out.some((m) => m.topic === 'say'), 3000, 'say msg');
    const say = out.find((m) => m.topic === 'say')!;
    assert.deepEqual(say, { topic: 'say', session: session.id, turn: session.turn, device: { id: mac, clientId: session.clientId }, payload: 'Dinner is ready' });
    assert.ok(session.turn > before, 'a new turn');
    await d.client.waitJson((m) => m.type === 'tts' && m.state === 'stop', 3000, fromIndex);
    // JSON payloads (HA's mqtt.publish with data) work too; `all` reaches every device.
    await device('aa:bb:cc:dd:ee:02');
    out.length = 0;
    await ha.publishAsync('xiaozhi/all/announce', '{"text":"Good night"}', { qos: 1 });
    await waitUntil(() => out.length === 2, 3000, 'two say msgs');
    assert.deepEqual(out.map((m) => [(m.device as { id: string }).id, m.payload]).sort(), [
      [mac, 'Good night'],
      ['aa:bb:cc:dd:ee:02', 'Good night'],
    ]);
  });

  it('announce input msgs: by device id (any MAC spelling), session or "all"; not connected -> warning; bad msgs throw', async () => {
    const { session } = await device();
    const second = await device('aa:bb:cc:dd:ee:02');
    const input: StageMessage = { _msgid: 'm1', topic: 'announce', payload: 'Hello kitchen', device: { id: 'AA-BB-CC-DD-EE-01', clientId: '' } };
    stage.handle(input);
    assert.equal(out.length, 1, 'the announce msg itself is consumed');
    assert.deepEqual(out[0], { topic: 'say', session: session.id, turn: session.turn, device: { id: mac, clientId: session.clientId }, payload: 'Hello kitchen', _msgid: 'm1' });

    stage.handle({ topic: 'announce', payload: { text: 'By session' }, session: second.session.id });
    assert.equal(out[1]?.session, second.session.id);
    assert.equal(out[1]?.payload, 'By session');

    stage.handle({ topic: 'announce', payload: 'Everyone', device: 'all' as unknown as StageMessage['device'] });
    assert.deepEqual(out.slice(2).map((m) => m.session).sort(), [session.id, second.session.id].sort());

    stage.handle({ topic: 'announce', payload: 'Hello?', device: { id: 'aa:bb:cc:dd:ee:99', clientId: '' } });
    assert.deepEqual(warnings, ['device aa:bb:cc:dd:ee:99 is not connected']);
    assert.equal(out.length, 4);

    assert.throws(() => stage.handle({ topic: 'announce', payload: '  ', device: { id: mac, clientId: '' } }), (e: HaStageError) => e.code === 'bad_announce');
    assert.throws(() => stage.handle({ topic: 'announce', payload: 'to whom?' }), (e: HaStageError) => e.code === 'bad_announce' && /msg\.device\.id/.test(e.message));
  });

  it('disconnect -> offline (not while a newer session of the device is open); an offline device gets no announcement', async () => {
    const first = await device();
    const second = await device(); // the same device reconnected before its old socket closed
    await waitUntil(() => on(seen, `xiaozhi/${tid}/availability`).length === 2, 3000, 'second session published');
    first.d.client.close();
    await waitUntil(() => gateway.list().length === 1, 3000, 'first session closed');
    // Nothing must follow: give a wrong "offline" time to arrive.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(on(seen, `xiaozhi/${tid}/availability`), ['online', 'online']);
    second.d.client.close();
    await waitUntil(() => on(seen, `xiaozhi/${tid}/availability`).at(-1) === 'offline', 3000, 'offline');
    assert.equal(stage.connectedDevices, 0);
    // HA's text entity still exists while offline: the command is answered with a warning.
    await ha.publishAsync(`xiaozhi/${tid}/announce`, 'Anyone there?', { qos: 1 });
    await waitUntil(() => warnings.includes(`device ${mac} is not connected`), 3000, 'not connected warning');
    assert.equal(out.filter((m) => m.topic === 'say').length, 0);
  });

  it('HA restarts (homeassistant/status online): configs and states are published again', async () => {
    await device();
    const configTopic = `homeassistant/device/xiaozhi_${tid}/config`;
    await waitUntil(() => on(seen, `xiaozhi/${tid}/state`).length === 1, 3000, 'first publish');
    const configsBefore = on(seen, configTopic).length;
    await ha.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await waitUntil(() => on(seen, configTopic).length === configsBefore + 1, 3000, 'config republished');
    await waitUntil(() => on(seen, `xiaozhi/${tid}/state`).length === 2, 3000, 'state republished');
    assert.equal(on(seen, `xiaozhi/${tid}/availability`).at(-1), 'online');
  });

  it('sessions already open when the stage attaches are published; close() marks devices and the hub offline', async () => {
    await device();
    await stage.close();
    await waitUntil(() => on(seen, `xiaozhi/${tid}/availability`).at(-1) === 'offline', 3000, 'offline on close');
    assert.equal(on(seen, 'xiaozhi/bridge/availability').at(-1), 'offline');
    stage = newStage();
    await stage.start();
    stage.attach(gateway);
    await waitUntil(() => on(seen, `xiaozhi/${tid}/availability`).at(-1) === 'online', 3000, 'online again');
    assert.equal(on(seen, 'xiaozhi/bridge/availability').at(-1), 'online');
    assert.equal(stage.connectedDevices, 1);
  });

  it('close({forget}) removes its devices from HA, also those retained by an earlier run, and leaves foreign configs alone', async () => {
    // Left by an earlier run of the hub, and one from someone else under a look-alike id.
    const old = new HaStage({ broker: tb.broker, send: () => undefined });
    await old.publisher.deviceConnected({ id: '11:22:33:44:55:66' });
    await old.close();
    const foreign = JSON.stringify({ device: { identifiers: ['xiaozhi_other'] }, origin: { name: 'someone-else' }, components: {} });
    await tb.broker.publish('homeassistant/device/xiaozhi_other/config', foreign, { qos: 1, retain: true });
    await device();
    await waitUntil(() => on(seen, `xiaozhi/${tid}/state`).length === 1, 3000, 'published');
    await stage.close({ forget: true });
    const configs = (await tb.broker.retained('homeassistant/device/+/config')).map((r) => r.topic).sort();
    assert.deepEqual(configs, ['homeassistant/device/xiaozhi_other/config']);
    assert.deepEqual(await tb.broker.retained(`xiaozhi/${tid}/#`), [], 'state topics cleared');
    assert.deepEqual(await tb.broker.retained('xiaozhi/112233445566/#'), []);
    assert.deepEqual(await tb.broker.retained('xiaozhi/bridge/availability'), []);
  });
});
