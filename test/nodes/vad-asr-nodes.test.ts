// The xiaozhi vad and xiaozhi asr nodes in a real Node-RED flow (node-red-node-test-helper):
// a device on a loopback WebSocket speaks espeak-ng audio as Opus frames through
// xiaozhi in -> vad -> asr; statuses are read from the runtime's node-status events.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { OpusFrameEncoder } from '../../src/audio/opus';
import { int16ToBuffer } from '../../src/audio/pcm';
import { readWav } from '../../src/audio/wav';
import { PocketsphinxAsr } from '../../src/providers/asr/pocketsphinx';
import { sharedSileroLeaseCount } from '../../src/providers/vad/shared-model';
import { RawClient } from '../helpers/raw-client';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const serverNode = require('../../nodes/xiaozhi-server/xiaozhi-server');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const inNode = require('../../nodes/xiaozhi-in/xiaozhi-in');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const vadNode = require('../../nodes/xiaozhi-vad/xiaozhi-vad');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const asrNode = require('../../nodes/xiaozhi-asr/xiaozhi-asr');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const openAiNode = require('../../nodes/xiaozhi-openai/xiaozhi-openai');
// The runtime's status channel (what the editor shows under each node).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeEvents = require('@node-red/util').events as import('node:events').EventEmitter;

helper.init(require.resolve('node-red'));

type Msg = Record<string, unknown>;
interface Status {
  id: string;
  fill?: string;
  shape?: string;
  text?: string;
}

function speak(text: string): Int16Array {
  const dir = mkdtempSync(join(tmpdir(), 'vad-asr-nodes-'));
  try {
    execFileSync('espeak-ng', ['-w', join(dir, 'x.wav'), text], { stdio: 'ignore' });
    execFileSync('sox', [join(dir, 'x.wav'), '-r', '16000', '-c', '1', '-b', '16', join(dir, 'y.wav')], { stdio: 'ignore' });
    return readWav(readFileSync(join(dir, 'y.wav'))).pcm;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Silence + speech + silence as 60 ms Opus packets, the way the firmware sends them. */
function opusFrames(speech: Int16Array, trailingSilenceMs = 1200): Buffer[] {
  const pcm = new Int16Array(4800 + speech.length + trailingSilenceMs * 16);
  pcm.set(speech, 4800);
  const encoder = new OpusFrameEncoder({ sampleRateHz: 16000 });
  const out: Buffer[] = [];
  for (let i = 0; i + 960 <= pcm.length; i += 960) out.push(encoder.encode(pcm.subarray(i, i + 960)));
  return out;
}

async function waitFor<T>(get: () => T | undefined, what: string, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Node-RED nodes: xiaozhi vad, xiaozhi asr', function () {
  const clients: RawClient[] = [];
  const stopListening: Array<() => void> = [];
  let http: Server | undefined;

  beforeEach((done) => {
    helper.startServer(done);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const stop of stopListening.splice(0)) stop();
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
    if (http) {
      http.closeAllConnections();
      await new Promise((r) => http!.close(r));
      http = undefined;
    }
  });

  function pipelineFlow(asr: object = { provider: 'pocketsphinx', phrases: '' }): object[] {
    return [
      { id: 'srv', type: 'xiaozhi-server', port: 0, host: '127.0.0.1', path: '/xiaozhi/v1/', otaPath: '/xiaozhi/ota/' },
      { id: 'in', type: 'xiaozhi in', server: 'srv', audio: 'pcm', events: true, wires: [['vad']] },
      { id: 'vad', type: 'xiaozhi vad', engine: 'silero', silenceMs: '500', bargeIn: true, wires: [['asr'], ['events']] },
      { id: 'asr', type: 'xiaozhi asr', timeoutSec: '20', ...asr, wires: [['sink']] },
      { id: 'sink', type: 'helper' },
      { id: 'events', type: 'helper' },
    ];
  }

  async function load(flow: object[], credentials?: Record<string, unknown>): Promise<{ url: string; sink: Msg[]; events: Msg[]; statuses: Status[] }> {
    // Listen before loading: nodes set their first status while they are created.
    const statuses: Status[] = [];
    const onStatus = (e: { id: string; status: Omit<Status, 'id'> }) => statuses.push({ id: e.id, ...e.status });
    runtimeEvents.on('node-status', onStatus);
    stopListening.push(() => runtimeEvents.off('node-status', onStatus));
    await helper.load([serverNode, inNode, vadNode, asrNode, openAiNode], flow, credentials);
    const srv = helper.getNode('srv') as unknown as { gateway: { port: number }; ready: Promise<void> } | null;
    await srv?.ready;
    const sink: Msg[] = [];
    const events: Msg[] = [];
    helper.getNode('sink').on('input', (m) => sink.push(m));
    helper.getNode('events')?.on('input', (m) => events.push(m));
    return { url: srv ? `ws://127.0.0.1:${srv.gateway.port}/xiaozhi/v1/` : '', sink, events, statuses };
  }

  const lastStatus = (statuses: Status[], id: string): Status | undefined => statuses.filter((s) => s.id === id).at(-1);

  function needSpeech(ctx: Mocha.Context, withPocketsphinx: boolean): void {
    if (!existsSync('/usr/bin/espeak-ng') || !existsSync('/usr/bin/sox')) {
      console.log('      skipped: espeak-ng and sox are needed (Debian packages espeak-ng, sox)');
      ctx.skip();
    }
    if (withPocketsphinx && !PocketsphinxAsr.available()) {
      console.log(`      skipped: ${PocketsphinxAsr.unavailableReason()}`);
      ctx.skip();
    }
  }

  it('a device says a phrase in auto mode: speech.start on output 2, stt from pocketsphinx, statuses tell the truth', async function () {
    needSpeech(this, true);
    const { url, sink, events, statuses } = await load(pipelineFlow());
    const c = await RawClient.hello(url, { deviceId: 'aa:bb:cc:dd:ee:51' });
    clients.push(c);
    c.sendJson({ type: 'listen', state: 'start', mode: 'auto' });
    for (const f of opusFrames(speak('what time is it'))) c.sendBinary(f);
    const stt = await waitFor(() => sink.find((m) => m.topic === 'stt'), 'stt msg');
    assert.equal(stt.payload, 'what time is it');
    assert.equal(typeof stt.session, 'string');
    const t = stt.timings as Record<string, number>;
    assert.ok(t.speechEnd! <= t.asrStart! && t.asrStart! <= t.asrEnd!);
    // session.start went through both nodes; audio and listen msgs did not.
    assert.deepEqual(
      sink.map((m) => m.topic),
      ['session.start', 'stt'],
    );
    assert.equal(events.length, 1);
    assert.equal(events[0]!.topic, 'speech.start');
    assert.equal(events[0]!.session, stt.session);
    assert.equal(events[0]!.bargeIn, false);
    await waitFor(() => (lastStatus(statuses, 'vad')?.text === '1 listening' ? true : undefined), 'vad status "1 listening"');
    assert.equal(lastStatus(statuses, 'vad')!.fill, 'green');
    assert.ok(statuses.some((s) => s.id === 'vad' && s.text === '1 listening / 1 speaking now'), 'speaking was shown');
    assert.match(lastStatus(statuses, 'asr')!.text ?? '', /^"what time is it" \d+ ms$/);

    // The device leaves: session.end frees the VAD state and is passed on.
    c.close();
    await waitFor(() => sink.find((m) => m.topic === 'session.end'), 'session.end');
    await waitFor(() => (lastStatus(statuses, 'vad')?.text === '0 listening' ? true : undefined), 'vad status "0 listening"');
  });

  it('manual mode (push to talk): the utterance is everything up to listen stop', async function () {
    needSpeech(this, true);
    const { url, sink } = await load(pipelineFlow({ provider: 'pocketsphinx', phrases: 'turn the volume up\nturn the volume down\n# a comment\n' }));
    const c = await RawClient.hello(url, { deviceId: 'aa:bb:cc:dd:ee:52' });
    clients.push(c);
    c.sendJson({ type: 'listen', state: 'start', mode: 'manual' });
    for (const f of opusFrames(speak('turn the volume down'), 300)) c.sendBinary(f);
    c.sendJson({ type: 'listen', state: 'stop' });
    const stt = await waitFor(() => sink.find((m) => m.topic === 'stt'), 'stt msg');
    assert.equal(stt.payload, 'turn the volume down');
    // Typed text (listen detect) skips ASR.
    c.sendJson({ type: 'listen', state: 'detect', text: 'hello there' });
    const typed = await waitFor(() => sink.find((m) => m.topic === 'stt' && m.payload === 'hello there'), 'typed stt');
    assert.ok((typed.turn as number) > (stt.turn as number));
  });

  it('close releases the shared Silero model and a redeploy loads again', async () => {
    const before = sharedSileroLeaseCount();
    const { statuses } = await load(pipelineFlow());
    assert.equal(sharedSileroLeaseCount(), before + 1);
    await waitFor(() => (lastStatus(statuses, 'vad')?.text === '0 listening' ? true : undefined), 'vad ready');
    await helper.unload();
    assert.equal(sharedSileroLeaseCount(), before);
    const again = await load(pipelineFlow());
    assert.equal(sharedSileroLeaseCount(), before + 1);
    await waitFor(() => (lastStatus(again.statuses, 'vad')?.text === '0 listening' ? true : undefined), 'vad ready after redeploy');
  });

  it('asr with an OpenAI-compatible endpoint: stt from the server, "say" on a server error', async () => {
    let status = 200;
    http = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(status === 200 ? { text: 'turn on the light' } : { error: { message: 'boom' } }));
      });
    });
    await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
    const baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1`;
    const { sink, statuses } = await load(
      [
        { id: 'oai', type: 'xiaozhi-openai', baseUrl },
        { id: 'asr', type: 'xiaozhi asr', provider: 'openai', server: 'oai', model: 'whisper-1', language: 'en', wires: [['sink']] },
        { id: 'sink', type: 'helper' },
      ],
      { oai: { apiKey: 'test-key' } },
    );
    const asr = helper.getNode('asr');
    const payload = Buffer.from(int16ToBuffer(new Int16Array(8000)));
    asr.receive({ topic: 'utterance', payload, audio: { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1 } });
    const stt = await waitFor(() => sink.find((m) => m.topic === 'stt'), 'stt');
    assert.equal(stt.payload, 'turn on the light');
    assert.equal(stt.language, 'en');
    status = 500;
    const warnings: string[] = [];
    const asrWarn = asr as unknown as { warn: (m: unknown) => void };
    const originalWarn = asrWarn.warn.bind(asr);
    asrWarn.warn = (m: unknown) => {
      warnings.push(String(m));
      originalWarn(m);
    };
    asr.receive({ topic: 'utterance', payload, audio: { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1 } });
    const say = await waitFor(() => sink.find((m) => m.topic === 'say'), 'say');
    assert.equal(say.payload, 'Sorry, I could not understand that.');
    assert.match(warnings.join('\n'), /500/);
    await waitFor(() => (lastStatus(statuses, 'asr')?.fill === 'yellow' ? true : undefined), 'yellow status');
    asr.receive({ topic: 'custom', payload: 1 });
    await waitFor(() => sink.find((m) => m.topic === 'custom'), 'pass-through');
  });

  it('asr without its model shows the reason in red and says it', async () => {
    const { sink, statuses } = await load([
      { id: 'asr', type: 'xiaozhi asr', provider: 'sherpa-onnx', modelDir: '/nonexistent/sense-voice', kind: 'sense-voice', wires: [['sink']] },
      { id: 'sink', type: 'helper' },
    ]);
    helper.getNode('asr').receive({ topic: 'utterance', payload: Buffer.alloc(3200) });
    const say = await waitFor(() => sink.find((m) => m.topic === 'say'), 'say');
    assert.match(String(say.payload), /^Speech recognition is not available: model folder \/nonexistent\/sense-voice not found/);
    const status = await waitFor(() => lastStatus(statuses, 'asr'), 'status');
    assert.equal(status.fill, 'red');
    assert.match(status.text ?? '', /not found/);
  });
});
