// The intent stage on text, against a real embedded broker with a zigbee2mqtt-like peer, and a
// real gateway session whose raw client answers MCP (the device's own volume).
import assert from 'node:assert/strict';
import { DeviceGateway } from '../../src/gateway/device-gateway';
import type { Session } from '../../src/gateway/session';
import { PhraseBus } from '../../src/intents/phrase-bus';
import { IntentStage, type IntentOutcome, type IntentStageOptions, type IntentStageStatus } from '../../src/pipeline/intent-stage';
import type { StageMessage } from '../../src/pipeline/llm-stage';
import { RawClient } from '../helpers/raw-client';
import { startTestBroker, waitUntil, Zigbee2mqttPeer, zigbee2mqttDevices, type TestBroker } from '../broker/catalogue-peers';

/** The peer's devices plus a Chinese-named colour light. */
function devicesWithChinese(): unknown[] {
  const devices = zigbee2mqttDevices();
  const kitchen = JSON.parse(JSON.stringify(devices[1])) as Record<string, unknown>;
  kitchen.ieee_address = '0x0017880104e4aaaa';
  kitchen.friendly_name = '客厅灯';
  return [...devices, kitchen];
}

interface Harness {
  stage: IntentStage;
  hits: StageMessage[];
  misses: StageMessage[];
  warnings: string[];
  statuses: IntentStageStatus[];
  bus: PhraseBus;
}

describe('pipeline/IntentStage', function () {
  this.timeout(20_000);
  let tb: TestBroker;
  let peer: Zigbee2mqttPeer;
  const stages: IntentStage[] = [];

  beforeEach(async () => {
    tb = await startTestBroker();
    peer = await Zigbee2mqttPeer.start(tb.url, { devices: devicesWithChinese() });
  });
  afterEach(async () => {
    for (const s of stages.splice(0)) await s.close();
    await peer.close();
    await tb.broker.close();
  });

  async function harness(extra: Partial<IntentStageOptions> = {}): Promise<Harness> {
    const h: Harness = { hits: [], misses: [], warnings: [], statuses: [], bus: new PhraseBus() } as unknown as Harness;
    h.stage = new IntentStage({
      broker: tb.broker,
      phraseBus: h.bus,
      phraseSourceId: 'test-intents',
      rebuildDebounceMs: 50,
      send: (output, msg) => (output === 0 ? h.hits : h.misses).push(msg),
      warn: (m) => h.warnings.push(m),
      onStatus: (s) => h.statuses.push(s),
      ...extra,
    });
    stages.push(h.stage);
    await h.stage.ready;
    return h;
  }

  const stt = (text: string, extra: Partial<StageMessage> = {}): StageMessage => ({ topic: 'stt', payload: text, _msgid: 'm1', timings: { asrEnd: 5 }, ...extra });

  it('"turn on the kitchen light": exactly one zigbee2mqtt /set, then stt and a confirmed say on output 1', async () => {
    const h = await harness();
    assert.deepEqual(h.stage.status().error, undefined);
    assert.ok(h.stage.status().devices >= 7, `devices known: ${h.stage.status().devices}`);
    const msg = stt('turn on the kitchen light');
    await h.stage.handle(msg);
    assert.deepEqual(peer.received, [{ topic: 'zigbee2mqtt/kitchen light/set', payload: '{"state":"ON"}' }]);
    assert.equal(h.misses.length, 0);
    assert.deepEqual(h.hits.map((m) => m.topic), ['stt', 'say']);
    assert.equal(h.hits[0], msg, 'the stt msg goes on unchanged');
    const say = h.hits[1]!;
    assert.equal(say.payload, 'Turned on the kitchen light.');
    assert.equal(say._msgid, 'm1');
    const intent = say.intent as IntentOutcome;
    assert.equal(intent.intent, 'HassTurnOn');
    assert.deepEqual(intent.entities, [{ id: 'zigbee2mqtt/kitchen light', name: 'kitchen light' }]);
    assert.equal(intent.ok, true);
    assert.equal(intent.confirmed, true);
    const timings = say.timings as Record<string, number>;
    assert.equal(timings.asrEnd, 5);
    assert.ok(Number.isInteger(timings.intentMs) && timings.intentMs! >= 0);
    assert.ok(timings.intentEnd! >= timings.intentStart!);
    assert.match(String(h.statuses.at(-1)?.last?.intent), /HassTurnOn/);
  });

  it('a device that does not echo: "Sorry, the kitchen light did not respond.", ok false', async () => {
    const h = await harness({ waitForEchoMs: 300 });
    peer.silent.add('kitchen light');
    await h.stage.handle(stt('switch off the kitchen light'));
    assert.deepEqual(peer.received, [{ topic: 'zigbee2mqtt/kitchen light/set', payload: '{"state":"OFF"}' }]);
    const say = h.hits[1]!;
    assert.equal(say.payload, 'Sorry, the kitchen light did not respond.');
    assert.deepEqual([(say.intent as IntentOutcome).ok, (say.intent as IntentOutcome).confirmed], [false, false]);
  });

  it('brightness, colour and a state query act on the same light', async () => {
    const h = await harness();
    await h.stage.handle(stt('set the kitchen light to 40 percent'));
    assert.deepEqual(JSON.parse(peer.received.at(-1)!.payload), { brightness: 102 });
    assert.equal(h.hits.at(-1)!.payload, 'Set the kitchen light to 40 percent.');
    await h.stage.handle(stt('is the kitchen light on'));
    const query = h.hits.at(-1)!;
    assert.equal((query.intent as IntentOutcome).intent, 'HassGetState');
    assert.match(String(query.payload), /^The kitchen light is on/);
  });

  it('a miss goes on unchanged on output 2, and so does every other msg', async () => {
    const h = await harness();
    const msg = stt('what is the capital of France');
    await h.stage.handle(msg);
    await h.stage.handle({ topic: 'emotion', payload: 'happy' });
    await h.stage.handle({ topic: 'abort', payload: 'user', session: 'nope' });
    assert.equal(h.hits.length, 0);
    assert.equal(h.misses[0], msg);
    assert.deepEqual(h.misses.map((m) => m.topic), ['stt', 'emotion', 'abort']);
    assert.equal(peer.received.length, 0);
    // An unknown device is a miss too: the LLM may know better.
    await h.stage.handle(stt('turn on the garage heater'));
    assert.equal(h.misses.at(-1)?.payload, 'turn on the garage heater');
  });

  it('Chinese text: 把客厅灯打开 switches the Chinese-named light and answers in Chinese', async () => {
    const h = await harness();
    await h.stage.handle(stt('把客厅灯打开'));
    assert.deepEqual(peer.received, [{ topic: 'zigbee2mqtt/客厅灯/set', payload: '{"state":"ON"}' }]);
    const say = h.hits[1]!;
    assert.equal(say.payload, '已打开客厅灯。');
    assert.equal((say.intent as IntentOutcome).language, 'zh');
    assert.equal((say.intent as IntentOutcome).confirmed, true);
  });

  it('feeds the grammar bus and follows new devices on the broker', async () => {
    const h = await harness();
    const phrases = h.bus.all();
    assert.ok(phrases.includes('turn on the kitchen light'), `phrases: ${phrases.slice(0, 5).join(' | ')}`);
    assert.ok(phrases.some((p) => p.startsWith('set the volume to')), 'device volume phrases too');
    assert.ok(!phrases.some((p) => /客厅/.test(p)), 'no Chinese names in the English grammar');
    assert.equal(await matchAfterChange(h), 'zigbee2mqtt/garage lamp');
    assert.ok(h.bus.all().includes('turn on the garage lamp'));
    await h.stage.close();
    assert.deepEqual(h.bus.all(), [], 'phrases withdrawn on close');
  });

  async function matchAfterChange(h: Harness): Promise<string | undefined> {
    const garage = JSON.parse(JSON.stringify(zigbee2mqttDevices()[3])) as Record<string, unknown>;
    garage.ieee_address = '0x000b57fffec6ffff';
    garage.friendly_name = 'garage lamp';
    await peer.publishDevices([...devicesWithChinese(), garage]);
    await waitUntil(() => h.stage.match('turn on the garage lamp') !== undefined, 3000, 'matcher rebuilt with the garage lamp');
    return h.stage.match('turn on the garage lamp')?.entities[0]?.id;
  }

  it('bad custom sentences: status says why and every stt goes to the LLM', async () => {
    const h = await harness({ customSentences: 'intents:\n  A:\n    sentence: ["x"]\n' });
    assert.match(String(h.stage.status().error), /custom sentences: .*line 3/);
    const msg = stt('turn on the kitchen light');
    await h.stage.handle(msg);
    assert.deepEqual(h.misses, [msg]);
    assert.equal(peer.received.length, 0);
  });

  it('custom intents answer with their response and carry msg.intent for the flow', async () => {
    const h = await harness({ customSentences: 'intents:\n  GoodNight:\n    sentences: {en: ["good night"], zh: ["晚安"]}\n    response: {en: "Sleep well", zh: "晚安"}\n' });
    await h.stage.handle(stt('good night'));
    assert.equal(h.hits[1]!.payload, 'Sleep well');
    assert.equal((h.hits[1]!.intent as IntentOutcome).intent, 'GoodNight');
  });

  it('without a broker: ready at once, home commands go to the LLM (no devices known)', async () => {
    const h = await harness({ broker: undefined });
    assert.equal(h.stage.status().ready, true);
    assert.equal(h.stage.status().hasBroker, false);
    await h.stage.handle(stt('turn on the kitchen light'));
    assert.deepEqual(h.misses.map((m) => m.payload), ['turn on the kitchen light']);
    assert.equal(peer.received.length, 0);
  });

  describe('with a real gateway session', () => {
    let gateway: DeviceGateway;
    const clients: RawClient[] = [];
    before(async () => {
      gateway = new DeviceGateway({ port: 0, host: '127.0.0.1' });
      await gateway.start();
    });
    after(async () => {
      for (const c of clients.splice(0)) c.close();
      await gateway.close();
    });

    /** A device that answers MCP like the firmware: volume tool and a device status reporting `volume`. */
    async function device(deviceId: string, volume = 60): Promise<{ client: RawClient; session: Session; calls: Array<{ name: string; arguments: Record<string, unknown> }> }> {
      const client = await RawClient.connect(`ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`, { 'Device-Id': deviceId, 'Client-Id': '4a2c6f0e-0000-4000-8000-0000000000bb' });
      clients.push(client);
      const calls: Array<{ name: string; arguments: Record<string, unknown> }> = [];
      client.ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const m = JSON.parse(data.toString()) as { type: string; payload?: { id: number; method: string; params?: { name: string; arguments: Record<string, unknown> } } };
        if (m.type !== 'mcp' || !m.payload) return;
        const { id, method, params } = m.payload;
        let result: unknown;
        if (method === 'initialize') result = { protocolVersion: '2024-11-05', capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1' } };
        else if (method === 'tools/list') {
          result = {
            tools: [
              { name: 'self.get_device_status', description: 'status', inputSchema: { type: 'object', properties: {} } },
              { name: 'self.audio_speaker.set_volume', description: 'volume', inputSchema: { type: 'object', properties: { volume: { type: 'integer' } }, required: ['volume'] } },
            ],
          };
        } else {
          calls.push({ name: params!.name, arguments: params!.arguments });
          const text = params!.name === 'self.get_device_status' ? JSON.stringify({ audio_speaker: { volume } }) : 'true';
          if (params!.name === 'self.audio_speaker.set_volume') volume = Number(params!.arguments.volume);
          result = { content: [{ type: 'text', text }], isError: false };
        }
        client.sendJson({ type: 'mcp', payload: { jsonrpc: '2.0', id, result } });
      });
      const ready = new Promise<Session>((resolve) => {
        const on = (s: Session) => {
          if (s.deviceId !== deviceId) return;
          gateway.off('session', on);
          resolve(s);
        };
        gateway.on('session', on);
      });
      client.sendJson({ type: 'hello', version: 1, features: { mcp: true }, transport: 'websocket', audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 } });
      const session = await ready;
      if (session.tools.length === 0) await new Promise((resolve) => session.once('tools', resolve));
      return { client, session, calls };
    }

    it('"set the volume to 35" calls the device tool; "louder" reads the volume and adds 10, clamped', async () => {
      const h = await harness();
      const d = await device('aa:bb:cc:00:01:01', 95);
      const ids = { session: d.session.id, turn: d.session.turn, device: { id: d.session.deviceId, clientId: d.session.clientId } };
      await h.stage.handle(stt('set the volume to 35', ids));
      assert.deepEqual(d.calls, [{ name: 'self.audio_speaker.set_volume', arguments: { volume: 35 } }]);
      assert.equal(h.hits.at(-1)!.payload, 'Volume set to 35');
      assert.equal((h.hits.at(-1)!.intent as IntentOutcome).confirmed, true);
      await h.stage.handle(stt('louder', ids));
      assert.deepEqual(d.calls.slice(1), [
        { name: 'self.get_device_status', arguments: {} },
        { name: 'self.audio_speaker.set_volume', arguments: { volume: 45 } },
      ]);
      d.calls.length = 0;
      await h.stage.handle(stt('max volume', ids));
      await h.stage.handle(stt('louder', ids));
      assert.deepEqual(d.calls.at(-1), { name: 'self.audio_speaker.set_volume', arguments: { volume: 100 } }, 'clamped at 100');
    });

    it('drops the answer of a stale turn and stt of a closed session', async () => {
      const h = await harness();
      const d = await device('aa:bb:cc:00:01:02');
      const turn = d.session.turn;
      d.session.beginTurn();
      await h.stage.handle(stt('turn on the kitchen light', { session: d.session.id, turn }));
      assert.equal(h.hits.length + h.misses.length, 0, 'an stt of an older turn is dropped');
      assert.equal(peer.received.length, 0);
      await h.stage.handle(stt('turn on the kitchen light', { session: 'no-such-session', turn: 1 }));
      assert.equal(h.hits.length + h.misses.length, 0);
    });

    it('an abort during the echo wait drops the say (the command stays sent)', async () => {
      const h = await harness({ waitForEchoMs: 3000 });
      peer.silent.add('kitchen light');
      const d = await device('aa:bb:cc:00:01:03');
      const ids = { session: d.session.id, turn: d.session.turn };
      const running = h.stage.handle(stt('turn on the kitchen light', ids));
      await waitUntil(() => peer.received.length === 1, 3000, 'the command');
      await h.stage.handle({ topic: 'abort', payload: 'user', ...ids });
      await running;
      assert.deepEqual(h.hits.map((m) => m.topic), ['stt'], 'no say after the abort');
      assert.deepEqual(h.misses.map((m) => m.topic), ['abort']);
    });
  });
});
