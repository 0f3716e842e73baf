import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { OpusFrameDecoder } from '../../src/audio/opus';
import { shutdownEspeakWasm } from '../../src/providers/tts/espeak-wasm';
import { RawClient } from '../helpers/raw-client';
import { FakeOpenAiServer, textChunk, textReply, type ScriptedReply } from '../providers/llm/fake-openai-server';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const serverNode = require('../../nodes/xiaozhi-server/xiaozhi-server');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const inNode = require('../../nodes/xiaozhi-in/xiaozhi-in');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const outNode = require('../../nodes/xiaozhi-out/xiaozhi-out');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const openAiNode = require('../../nodes/xiaozhi-openai/xiaozhi-openai');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const llmNode = require('../../nodes/xiaozhi-llm/xiaozhi-llm');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ttsNode = require('../../nodes/xiaozhi-tts/xiaozhi-tts');

helper.init(require.resolve('node-red'));

type Msg = Record<string, unknown>;
interface SpyCall {
  thisValue: { id: string };
  args: unknown[];
}
interface Spy {
  getCalls(): SpyCall[];
}

function espeakInstalled(): boolean {
  try {
    require.resolve('@echogarden/espeak-ng-emscripten/espeak-ng.js');
    return true;
  } catch {
    return false;
  }
}

async function waitFor<T>(get: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Arguments of every call of a spied node method (status, warn) made by node `id`. */
function callsOf(method: 'status' | 'warn', id: string): unknown[] {
  const spy = helper.getNode(id)[method] as unknown as Spy;
  return spy.getCalls().filter((c) => c.thisValue.id === id).map((c) => c.args[0]);
}

const lastStatus = (id: string) => callsOf('status', id).at(-1) as { fill?: string; text?: string } | undefined;

/**
 * in -> (stt injected into llm) -> llm -> tts -> out, with sinks after llm and tts.
 * `llm` and `tts` add fields to those nodes' config.
 */
function flow(llm: Msg = {}, tts: Msg = {}, endpoint: Msg = { baseUrl: '' }): object[] {
  return [
    { id: 'srv', type: 'xiaozhi-server', port: 0, host: '127.0.0.1', path: '/xiaozhi/v1/', otaPath: '/xiaozhi/ota/' },
    { id: 'ep', type: 'xiaozhi-openai', ...endpoint },
    { id: 'in', type: 'xiaozhi in', server: 'srv', audio: 'none', events: true, wires: [['events']] },
    { id: 'events', type: 'helper' },
    { id: 'llm', type: 'xiaozhi llm', timeoutSec: 5, ...llm, wires: [['tts', 'llmOut']] },
    { id: 'llmOut', type: 'helper' },
    { id: 'tts', type: 'xiaozhi tts', provider: 'espeak', voice: 'en-us', ...tts, wires: [['out', 'ttsOut']] },
    { id: 'ttsOut', type: 'helper' },
    { id: 'out', type: 'xiaozhi out', server: 'srv', wires: [[]] },
  ];
}

describe('Node-RED nodes: xiaozhi llm, xiaozhi tts', function () {
  const clients: RawClient[] = [];
  let fake: FakeOpenAiServer | undefined;

  beforeEach((done) => {
    helper.startServer(done);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
    await fake?.close();
    fake = undefined;
  });

  after(async () => {
    await shutdownEspeakWasm();
  });

  async function load(flowNodes: object[]) {
    await helper.load([serverNode, inNode, outNode, openAiNode, llmNode, ttsNode], flowNodes, { ep: { apiKey: 'sk-test' } });
    const srv = helper.getNode('srv') as unknown as { ready: Promise<void>; gateway: { port: number } };
    await srv.ready;
    const sinks: Record<string, Msg[]> = { events: [], llmOut: [], ttsOut: [] };
    for (const id of Object.keys(sinks)) helper.getNode(id).on('input', (msg: Msg) => sinks[id]!.push(msg));
    return { url: `ws://127.0.0.1:${srv.gateway.port}/xiaozhi/v1/`, sinks };
  }

  /** A device types `text`; returns the stt msg a VAD/ASR stage would send for it. */
  async function utterance(url: string, events: Msg[], text: string, deviceId = 'aa:bb:cc:dd:ee:51'): Promise<{ client: RawClient; stt: Msg }> {
    const client = await RawClient.hello(url, { deviceId });
    clients.push(client);
    client.sendJson({ type: 'listen', state: 'detect', text });
    const detect = await waitFor(() => events.find((m) => m.topic === 'listen.detect' && (m.device as { id: string }).id === deviceId), 'listen.detect');
    return { client, stt: { topic: 'stt', payload: text, session: detect.session, turn: detect.turn, device: detect.device } };
  }

  it('shows what answers and what speaks in the status', async function () {
    await load(flow({}, { provider: 'openai', endpoint: 'ep' }));
    await waitFor(() => lastStatus('llm'), 'llm status');
    assert.deepEqual(lastStatus('llm'), { fill: 'grey', shape: 'ring', text: 'offline answers (no endpoint)' });
    assert.deepEqual(lastStatus('tts'), { fill: 'red', shape: 'ring', text: 'no speech endpoint configured' });
    assert.ok(callsOf('warn', 'tts').some((w) => /subtitles only/.test(String(w))));
  });

  it('offline end to end: the device hears the time, sees the subtitle, and its turn ends', async function () {
    if (!espeakInstalled()) {
      console.log('      skipped: optional package @echogarden/espeak-ng-emscripten is not installed');
      this.skip();
    }
    const { url, sinks } = await load(flow());
    const { client, stt } = await utterance(url, sinks.events!, 'what time is it');
    helper.getNode('llm').receive(stt);
    await client.waitJson((m) => m.type === 'tts' && m.state === 'stop', 10000);
    const seq = client.received
      .map((r) => (r.kind === 'binary' ? 'audio' : `${String(r.message.type)}${r.message.state ? `:${String(r.message.state)}` : ''}`))
      .filter((s, i, all) => s !== 'audio' || all[i - 1] !== 'audio');
    assert.deepEqual(seq, ['hello', 'stt', 'llm', 'tts:start', 'tts:sentence_start', 'audio', 'tts:stop']);
    const sentence = client.jsons().find((m) => m.state === 'sentence_start')!;
    assert.match(String(sentence.text), /^It's \d{1,2}:\d\d [AP]M\.$/);
    const decoder = new OpusFrameDecoder(24000);
    assert.ok(client.binaries().length > 5);
    for (const frame of client.binaries()) assert.equal(decoder.decode(frame).length, 1440);

    assert.deepEqual(sinks.llmOut!.map((m) => m.topic), ['stt', 'emotion', 'sentence', 'reply.end']);
    assert.deepEqual(sinks.ttsOut!.map((m) => m.topic), ['stt', 'emotion', 'tts.sentence', 'audio', 'tts.stop']);
    const audio = sinks.ttsOut!.find((m) => m.topic === 'audio')!;
    assert.deepEqual(audio.audio, { encoding: 'opus', sampleRateHz: 24000, channels: 1, frameMs: 60 });
    const timings = audio.timings as Record<string, number>;
    assert.ok(timings.llmStart! <= timings.llmFirstSentence! && timings.llmFirstSentence! <= timings.ttsFirstAudio!);
    await waitFor(() => lastStatus('tts')?.text === 'espeak en-us', 'tts idle status');
  });

  it('with an endpoint: streams the model answer; a stalled model is spoken as an error and shown red', async function () {
    fake = new FakeOpenAiServer((_req, index): ScriptedReply =>
      index === 0 ? textReply('😎 Sure. ', 'Done!') : { kind: 'stream', chunks: [textChunk('Hmm')], after: 'stall' },
    );
    const baseUrl = await fake.start();
    const { url, sinks } = await load(flow({ endpoint: 'ep', model: 'test-model', timeoutSec: 1 }, { provider: 'openai' }, { baseUrl }));
    await waitFor(() => lastStatus('llm')?.text === 'test-model', 'model status');
    assert.equal(lastStatus('llm')!.fill, 'green');
    const { stt } = await utterance(url, sinks.events!, 'hi');
    helper.getNode('llm').receive(stt);
    await waitFor(() => sinks.llmOut!.some((m) => m.topic === 'reply.end'), 'reply.end');
    assert.deepEqual(sinks.llmOut!.map((m) => [m.topic, m.payload]), [
      ['stt', 'hi'],
      ['emotion', 'cool'],
      ['sentence', 'Sure.'],
      ['sentence', 'Done!'],
      ['reply.end', 'Sure. Done!'],
    ]);
    assert.equal(fake.requests[0]!.headers.authorization, 'Bearer sk-test');
    assert.equal((fake.requests[0]!.body as { model: string }).model, 'test-model');

    sinks.llmOut!.length = 0;
    const { stt: second } = await utterance(url, sinks.events!, 'and now?', 'aa:bb:cc:dd:ee:52');
    helper.getNode('llm').receive(second);
    await waitFor(() => sinks.llmOut!.some((m) => m.topic === 'say'), 'say', 8000);
    assert.deepEqual(sinks.llmOut!.map((m) => m.topic), ['stt', 'say']);
    assert.equal(sinks.llmOut![1]!.payload, 'Sorry, the language model did not answer in time.');
    assert.ok(callsOf('warn', 'llm').some((w) => /llm: .*(first token|no complete answer|stalled)/.test(String(w))));
    await waitFor(() => lastStatus('llm')?.fill === 'red', 'red status');
    assert.equal(lastStatus('llm')!.text, 'test-model: timeout');
  });

  it('a device abort stops the answer; closing the flow mid-answer ends the model request', async function () {
    fake = new FakeOpenAiServer(() => ({ kind: 'stream', chunks: [textChunk('One moment. Let me')], after: 'stall' }));
    const baseUrl = await fake.start();
    const { url, sinks } = await load(flow({ endpoint: 'ep', model: 'm', timeoutSec: 20 }, { provider: 'openai' }, { baseUrl }));
    const { client, stt } = await utterance(url, sinks.events!, 'tell me everything');
    helper.getNode('llm').receive(stt);
    await waitFor(() => sinks.llmOut!.some((m) => m.topic === 'sentence'), 'first sentence');
    await waitFor(() => lastStatus('llm')?.text === 'thinking (1)', 'thinking status');
    client.sendJson({ type: 'abort', reason: 'wake_word_detected' });
    const abort = await waitFor(() => sinks.events!.find((m) => m.topic === 'abort'), 'abort event');
    helper.getNode('llm').receive(abort);
    await fake.requests[0]!.closed;
    await waitFor(() => sinks.ttsOut!.some((m) => m.topic === 'abort'), 'abort passed on by llm and tts');
    assert.deepEqual(sinks.llmOut!.map((m) => m.topic), ['stt', 'emotion', 'sentence', 'abort']);
    assert.deepEqual(sinks.ttsOut!.map((m) => m.topic), ['stt', 'emotion', 'tts.sentence', 'abort'], 'no tts.stop: the gateway already stopped the device');

    // A second answer is running when the flow is stopped: unload returns and the request ends.
    const { stt: again } = await utterance(url, sinks.events!, 'again', 'aa:bb:cc:dd:ee:53');
    helper.getNode('llm').receive(again);
    await waitFor(() => fake!.requests.length === 2, 'second request');
    await helper.unload();
    await fake.requests[1]!.closed;
  });
});
