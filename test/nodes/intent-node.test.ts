// The xiaozhi intent node (and the llm node's home devices) in a real Node-RED runtime
// (node-red-node-test-helper), on the embedded broker of a xiaozhi-broker config node with a
// zigbee2mqtt-like peer connected over MQTT.
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { EmbeddedBroker } from '../../src/broker/broker-embedded';
import { phraseBus } from '../../src/intents/phrase-bus';
import { Zigbee2mqttPeer } from '../broker/catalogue-peers';
import { FakeOpenAiServer, textReply, toolCallReply } from '../providers/llm/fake-openai-server';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const brokerNode = require('../../nodes/xiaozhi-broker/xiaozhi-broker');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const intentNode = require('../../nodes/xiaozhi-intent/xiaozhi-intent');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const openAiNode = require('../../nodes/xiaozhi-openai/xiaozhi-openai');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const llmNode = require('../../nodes/xiaozhi-llm/xiaozhi-llm');

helper.init(require.resolve('node-red'));

type Msg = Record<string, unknown>;
interface SpyCall {
  thisValue: { id: string };
  args: unknown[];
}

async function waitFor<T>(get: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function statusTexts(id: string): string[] {
  const spy = helper.getNode(id).status as unknown as { getCalls(): SpyCall[] };
  return spy
    .getCalls()
    .filter((c) => c.thisValue.id === id)
    .map((c) => String((c.args[0] as { text?: string }).text));
}

describe('Node-RED nodes: xiaozhi intent', function () {
  this.timeout(20_000);
  let peer: Zigbee2mqttPeer | undefined;
  let fake: FakeOpenAiServer | undefined;

  beforeEach((done) => {
    helper.startServer(done);
  });
  afterEach(async () => {
    await peer?.close();
    peer = undefined;
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
    await fake?.close();
    fake = undefined;
  });

  async function load(flow: object[], credentials: Record<string, unknown> = {}) {
    await helper.load([brokerNode, intentNode, openAiNode, llmNode], flow, credentials);
    const broker = (await (helper.getNode('b') as unknown as { broker: Promise<EmbeddedBroker> }).broker) as EmbeddedBroker;
    peer = await Zigbee2mqttPeer.start(`mqtt://127.0.0.1:${broker.port}`);
    const sinks: Record<string, Msg[]> = { hit: [], miss: [], llmOut: [] };
    for (const id of Object.keys(sinks)) helper.getNode(id)?.on('input', (m: Msg) => sinks[id]!.push(m));
    return { broker, sinks };
  }

  const intentFlow = (intent: Msg = {}) => [
    { id: 'b', type: 'xiaozhi-broker', mode: 'embedded', port: 0, host: '127.0.0.1' },
    { id: 'intent', type: 'xiaozhi intent', broker: 'b', languages: 'en,zh', waitForEchoMs: 1500, ...intent, wires: [['hit'], ['miss']] },
    { id: 'hit', type: 'helper' },
    { id: 'miss', type: 'helper' },
  ];

  it('switches a zigbee2mqtt light the broker learnt about, and passes misses and events on output 2', async () => {
    const { sinks } = await load(intentFlow());
    // The catalogue fills from the retained bridge/devices the peer publishes after the node started.
    const ready = await waitFor(() => statusTexts('intent').find((t) => /^1\d devices · \d areas$/.test(t)), 'status with the devices');
    assert.match(ready, /^13 devices · 5 areas$/);
    assert.ok(phraseBus.all().includes('turn on the kitchen light'), 'the node feeds the grammar bus');

    helper.getNode('intent').receive({ topic: 'stt', payload: 'turn on the kitchen light' });
    await waitFor(() => sinks.hit!.length === 2, 'stt and say on output 1');
    assert.deepEqual(peer!.received, [{ topic: 'zigbee2mqtt/kitchen light/set', payload: '{"state":"ON"}' }]);
    assert.deepEqual(sinks.hit!.map((m) => [m.topic, m.payload]), [
      ['stt', 'turn on the kitchen light'],
      ['say', 'Turned on the kitchen light.'],
    ]);
    const intent = sinks.hit![1]!.intent as { intent: string; ok: boolean; confirmed: boolean };
    assert.deepEqual([intent.intent, intent.ok, intent.confirmed], ['HassTurnOn', true, true]);
    await waitFor(() => statusTexts('intent').some((t) => /^HassTurnOn ✓ \d+ ms · 13 devices · 5 areas$/.test(t)), 'status with the last intent');

    helper.getNode('intent').receive({ topic: 'stt', payload: 'tell me about the weather' });
    helper.getNode('intent').receive({ topic: 'tts.stop' });
    await waitFor(() => sinks.miss!.length === 2, 'miss and event on output 2');
    assert.deepEqual(sinks.miss!.map((m) => m.topic), ['stt', 'tts.stop']);
    assert.equal(sinks.hit!.length, 2);
  });

  it('redeploy withdraws its phrases; bad custom sentences show in red and everything goes to output 2', async () => {
    const { sinks } = await load(intentFlow({ sentences: 'intents:\n  A:\n    sentence: ["x"]\n' }));
    const red = await waitFor(() => statusTexts('intent').find((t) => /custom sentences/.test(t)), 'red status');
    assert.match(red, /line 3/);
    helper.getNode('intent').receive({ topic: 'stt', payload: 'turn on the kitchen light' });
    await waitFor(() => sinks.miss!.length === 1, 'the stt on output 2');
    assert.equal(peer!.received.length, 0);
    await helper.unload();
    assert.ok(!phraseBus.sourceIds().includes('intent'));
  });

  it('the llm node offers the broker devices as tools and a tool call switches the light', async () => {
    fake = new FakeOpenAiServer((_req, index) => (index === 0 ? toolCallReply('c1', 'home_turn_on', ['{"name":"kitchen light"}']) : textReply('Done, the light is on.')));
    const baseUrl = await fake.start();
    const { sinks } = await load(
      [
        { id: 'b', type: 'xiaozhi-broker', mode: 'embedded', port: 0, host: '127.0.0.1' },
        { id: 'ep', type: 'xiaozhi-openai', baseUrl },
        { id: 'llm', type: 'xiaozhi llm', endpoint: 'ep', model: 'test', homeBroker: 'b', timeoutSec: 5, wires: [['llmOut']] },
        { id: 'llmOut', type: 'helper' },
      ],
      { ep: { apiKey: 'sk-test' } },
    );
    // The catalogue of the llm node fills from the peer's retained devices; tools follow it.
    const logs = () => (helper.getNode('llm').log as unknown as { getCalls(): SpyCall[] }).getCalls().filter((c) => c.thisValue.id === 'llm').map((c) => String(c.args[0]));
    await waitFor(() => logs().some((l) => /home devices: 13 known/.test(l)), 'the llm node to know the devices');
    helper.getNode('llm').receive({ topic: 'stt', payload: 'light up the kitchen' });
    await waitFor(() => sinks.llmOut!.some((m) => m.topic === 'reply.end'), 'the answer');
    const tools = (fake.requests[0]!.body as { tools?: Array<{ function: { name: string } }> }).tools ?? [];
    assert.ok(tools.some((t) => t.function.name === 'home_turn_on'), `tools offered: ${tools.map((t) => t.function.name).join(', ')}`);
    assert.deepEqual(peer!.received, [{ topic: 'zigbee2mqtt/kitchen light/set', payload: '{"state":"ON"}' }]);
    assert.equal(sinks.llmOut!.at(-1)!.payload, 'Done, the light is on.');
  });
});
