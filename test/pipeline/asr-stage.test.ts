// AsrStage with real recognisers: pocketsphinx on espeak-ng speech made at test time, and the
// OpenAI-compatible provider against a loopback HTTP server; real gateway sessions for turns.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { int16ToBuffer } from '../../src/audio/pcm';
import { readWav } from '../../src/audio/wav';
import { DeviceGateway, type Session } from '../../src/gateway';
import { AsrStage, ASR_FAILED_TEXT, createStageAsrProvider, DEFAULT_ASR_PHRASES, type AsrStageOptions } from '../../src/pipeline/asr-stage';
import type { PipelineMsg } from '../../src/pipeline/vad-stage';
import { PocketsphinxAsr } from '../../src/providers/asr/pocketsphinx';
import type { AsrProvider } from '../../src/providers/types';
import { RawClient } from '../helpers/raw-client';

/** espeak-ng speech as 16 kHz mono PCM (espeak-ng -w, sox, readWav). */
function speak(text: string): Int16Array {
  const dir = mkdtempSync(join(tmpdir(), 'asr-stage-'));
  try {
    execFileSync('espeak-ng', ['-w', join(dir, 'x.wav'), text], { stdio: 'ignore' });
    execFileSync('sox', [join(dir, 'x.wav'), '-r', '16000', '-c', '1', '-b', '16', join(dir, 'y.wav')], { stdio: 'ignore' });
    return readWav(readFileSync(join(dir, 'y.wav'))).pcm;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const haveSpeechTools = (): boolean => existsSync('/usr/bin/espeak-ng') && existsSync('/usr/bin/sox');

interface Transcription {
  fields: Record<string, string>;
  wavBytes: number;
}

/** Loopback `/v1/audio/transcriptions` whose answer each test scripts. */
async function startTranscriptionServer(): Promise<{
  server: Server;
  baseUrl: string;
  requests: Transcription[];
  closedEarly: () => number;
  answer: { fn: (res: ServerResponse, req: Transcription) => void };
}> {
  const requests: Transcription[] = [];
  let closedEarly = 0;
  const answer = { fn: (res: ServerResponse, _req: Transcription) => res.end('{"text":""}') };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    res.on('close', () => {
      if (!res.writableEnded) closedEarly++;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const t: Transcription = { fields: {}, wavBytes: 0 };
        if (req.url === '/v1/audio/transcriptions') {
          const form = await new Response(Buffer.concat(chunks), { headers: { 'content-type': req.headers['content-type'] ?? '' } }).formData();
          for (const [key, value] of form.entries()) {
            if (typeof value === 'string') t.fields[key] = value;
            else t.wavBytes = (await value.arrayBuffer()).byteLength;
          }
          requests.push(t);
          answer.fn(res, t);
        } else {
          res.statusCode = 404;
          res.end('{"error":{"message":"not found"}}');
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, baseUrl: `http://127.0.0.1:${port}/v1`, requests, closedEarly: () => closedEarly, answer };
}

function json(res: ServerResponse, status: number, body: unknown, delayMs = 0): void {
  const send = (): void => {
    if (res.destroyed) return;
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
  if (delayMs > 0) setTimeout(send, delayMs);
  else send();
}

describe('AsrStage', function () {
  let gateway: DeviceGateway;
  let url: string;
  let http: Awaited<ReturnType<typeof startTranscriptionServer>>;
  const clients: RawClient[] = [];
  const stages: AsrStage[] = [];

  before(async () => {
    gateway = new DeviceGateway({ port: 0, host: '127.0.0.1' });
    await gateway.start();
    url = `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`;
    http = await startTranscriptionServer();
  });

  after(async () => {
    await gateway.close();
    http.server.closeAllConnections();
    await new Promise((r) => http.server.close(r));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of stages.splice(0)) await s.close();
  });

  async function connect(): Promise<{ session: Session; client: RawClient }> {
    const sessionPromise = new Promise<Session>((resolve) => gateway.once('session', resolve));
    const client = await RawClient.hello(url);
    clients.push(client);
    return { session: await sessionPromise, client };
  }

  function makeStage(provider: AsrProvider | undefined, options: AsrStageOptions = {}): { stage: AsrStage; out: PipelineMsg[]; warnings: string[] } {
    const out: PipelineMsg[] = [];
    const warnings: string[] = [];
    const stage = new AsrStage(provider, { send: (m) => out.push(m), warn: (m) => warnings.push(m) }, options);
    stages.push(stage);
    return { stage, out, warnings };
  }

  function openAi(timeoutMs?: number): AsrProvider {
    const built = createStageAsrProvider({ provider: 'openai', baseUrl: http.baseUrl, apiKey: 'k', model: 'whisper-1', ...(timeoutMs ? { timeoutMs } : {}) });
    assert.equal(built.unavailableReason, undefined);
    return built.provider!;
  }

  function utterance(session: Session | undefined, pcm: Int16Array, extra: PipelineMsg = {}): PipelineMsg {
    return {
      topic: 'utterance',
      ...(session ? { session: session.id, turn: session.turn, device: { id: session.deviceId, clientId: session.clientId } } : {}),
      payload: Buffer.from(int16ToBuffer(pcm)),
      audio: { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1 },
      durationMs: Math.round(pcm.length / 16),
      timings: { speechEnd: Date.now() },
      ...extra,
    };
  }

  const tone = (ms: number): Int16Array => {
    const pcm = new Int16Array(ms * 16);
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(6000 * Math.sin((2 * Math.PI * 300 * i) / 16000));
    return pcm;
  };

  describe('pocketsphinx (espeak-ng speech)', function () {
    before(function () {
      if (!PocketsphinxAsr.available()) {
        console.log(`      skipped: ${PocketsphinxAsr.unavailableReason()}`);
        this.skip();
      }
      if (!haveSpeechTools()) {
        console.log('      skipped: espeak-ng and sox are needed (Debian packages espeak-ng, sox)');
        this.skip();
      }
    });

    it('recognises a phrase of the default list exactly, with timings and ids kept', async () => {
      const { session } = await connect();
      const built = createStageAsrProvider({ provider: 'pocketsphinx' });
      assert.equal(built.unavailableReason, undefined);
      const { stage, out } = makeStage(built.provider);
      for (const [said, expected] of [
        ['what time is it', 'what time is it'],
        ['set the volume to 50', 'set the volume to fifty'],
        ['tell me a joke', 'tell me a joke'],
      ] as const) {
        const msg = utterance(session, speak(said), { custom: 'kept' });
        await stage.handle(msg);
        const stt = out.at(-1)!;
        assert.equal(stt.topic, 'stt');
        assert.equal(stt.payload, expected);
        assert.equal(stt.session, session.id);
        assert.equal(stt.turn, session.turn);
        assert.equal(stt.custom, 'kept');
        assert.equal(stt.audio, undefined, 'the audio description is gone with the audio');
        const t = stt.timings as Record<string, number>;
        assert.ok(t.speechEnd! <= t.asrStart! && t.asrStart! <= t.asrEnd!);
      }
      assert.equal(stage.stats().recognised, 3);
    });

    it('the default phrase list expands the volume steps 0..100 in tens', () => {
      for (let v = 0; v <= 100; v += 10) assert.ok(DEFAULT_ASR_PHRASES.includes(`set the volume to ${v}`));
      assert.ok(DEFAULT_ASR_PHRASES.includes('turn the volume up'));
    });

    it('asr.phrases replaces the grammar at run time and is not passed on', async () => {
      const dropped: string[] = [];
      const built = createStageAsrProvider({ provider: 'pocketsphinx', phrases: ['good morning', 'good night'] }, (m) => dropped.push(m));
      const { stage, out } = makeStage(built.provider);
      await stage.handle({ topic: 'asr.phrases', payload: ['open the garage door', 'close the garage door', 'frobnicate the zorblax'] });
      assert.equal(out.length, 0);
      assert.match(dropped.join('\n'), /frobnicate the zorblax/, 'an unpronounceable phrase is reported');
      await stage.handle(utterance(undefined, speak('open the garage door')));
      assert.equal(out[0]!.topic, 'stt');
      assert.equal(out[0]!.payload, 'open the garage door');
    });
  });

  it('openai: posts the utterance as WAV and emits stt with the language', async () => {
    const { session } = await connect();
    http.answer.fn = (res) => json(res, 200, { text: ' Hello there. ', language: 'english' });
    const { stage, out } = makeStage(openAi(), { language: 'en' });
    const pcm = tone(500);
    await stage.handle(utterance(session, pcm));
    assert.equal(out.length, 1);
    assert.equal(out[0]!.topic, 'stt');
    assert.equal(out[0]!.payload, 'Hello there.');
    assert.equal(out[0]!.language, 'english');
    const req = http.requests.at(-1)!;
    assert.equal(req.fields.model, 'whisper-1');
    assert.equal(req.fields.language, 'en');
    assert.equal(req.wavBytes, 44 + pcm.length * 2);
  });

  it('an empty or punctuation-only result ends the turn with tts.stop', async () => {
    const { session } = await connect();
    const { stage, out } = makeStage(openAi());
    for (const text of ['', ' … ', '。']) {
      http.answer.fn = (res) => json(res, 200, { text });
      await stage.handle(utterance(session, tone(200)));
    }
    assert.deepEqual(
      out.map((m) => m.topic),
      ['tts.stop', 'tts.stop', 'tts.stop'],
    );
    assert.equal(out[0]!.session, session.id);
    assert.equal(out[0]!.turn, session.turn);
    assert.equal(stage.stats().empty, 3);
  });

  it('a server error becomes a spoken "say" error and a warning, never a rejection', async () => {
    const { session } = await connect();
    http.answer.fn = (res) => json(res, 500, { error: { message: 'model crashed' } });
    const { stage, out, warnings } = makeStage(openAi());
    await stage.handle(utterance(session, tone(200)));
    assert.equal(out.length, 1);
    assert.equal(out[0]!.topic, 'say');
    assert.equal(out[0]!.payload, ASR_FAILED_TEXT);
    assert.equal(out[0]!.turn, session.turn);
    assert.match(warnings[0]!, /500/);
    assert.equal(stage.stats().failed, 1);
    assert.equal(stage.stats().brokenReason, undefined);
  });

  it('a refused key says recognition is not available (and a later success clears it)', async () => {
    http.answer.fn = (res) => json(res, 401, { error: { message: 'bad key' } });
    const { stage, out } = makeStage(openAi());
    await stage.handle(utterance(undefined, tone(200)));
    assert.equal(out[0]!.topic, 'say');
    assert.match(String(out[0]!.payload), /^Speech recognition is not available: .*401/);
    assert.match(stage.stats().brokenReason ?? '', /401/);
    http.answer.fn = (res) => json(res, 200, { text: 'ok' });
    await stage.handle(utterance(undefined, tone(200)));
    assert.equal(out[1]!.payload, 'ok');
    assert.equal(stage.stats().brokenReason, undefined);
  });

  it('a recogniser slower than the timeout gives the spoken error', async () => {
    http.answer.fn = (res) => json(res, 200, { text: 'too late' }, 3000);
    const { stage, out, warnings } = makeStage(openAi(), { timeoutMs: 200 });
    await stage.handle(utterance(undefined, tone(200)));
    assert.equal(out.length, 1);
    assert.equal(out[0]!.topic, 'say');
    assert.equal(out[0]!.payload, ASR_FAILED_TEXT);
    assert.match(warnings[0]!, /200 ms/);
  });

  it('drops the result of a turn that moved on (device listen start), and an abort cancels the request', async () => {
    const { session, client } = await connect();
    http.answer.fn = (res) => json(res, 200, { text: 'stale words' }, 300);
    const { stage, out } = makeStage(openAi());
    const pending = stage.handle(utterance(session, tone(200)));
    const turn = session.turn;
    client.sendJson({ type: 'listen', state: 'start', mode: 'auto' });
    await client.waitUntil(() => session.turn > turn, 2000, 'new turn');
    await pending;
    assert.equal(out.length, 0, 'nothing emitted for the old turn');

    const early = http.closedEarly();
    const second = stage.handle(utterance(session, tone(200)));
    await new Promise((r) => setTimeout(r, 50));
    await stage.handle({ topic: 'abort', session: session.id, turn: session.turn, payload: 'user' });
    await second;
    assert.deepEqual(
      out.map((m) => m.topic),
      ['abort'],
      'only the abort itself is passed on',
    );
    await client.waitUntil(() => http.closedEarly() > early, 2000, 'the HTTP request to be cancelled');
    assert.equal(stage.stats().stale, 2);
  });

  it('an utterance of a turn already over is dropped without calling the recogniser', async () => {
    const { session } = await connect();
    const before = http.requests.length;
    const { stage, out } = makeStage(openAi());
    await stage.handle(utterance(session, tone(200), { turn: session.turn - 1 }));
    assert.equal(out.length, 0);
    assert.equal(http.requests.length, before);
  });

  it('a newer utterance of the same session replaces one still being recognised', async () => {
    const { session } = await connect();
    let n = 0;
    http.answer.fn = (res) => {
      n++;
      json(res, 200, { text: `utterance ${n}` }, n === 1 ? 400 : 0);
    };
    const { stage, out } = makeStage(openAi());
    const first = stage.handle(utterance(session, tone(200)));
    await new Promise((r) => setTimeout(r, 50));
    await stage.handle(utterance(session, tone(300)));
    await first;
    assert.deepEqual(
      out.map((m) => m.payload),
      ['utterance 2'],
    );
  });

  it('without a usable recogniser every utterance gets a "say" with the reason; other topics pass through', async () => {
    const built = createStageAsrProvider({ provider: 'openai', baseUrl: '' });
    assert.match(built.unavailableReason ?? '', /no OpenAI-compatible endpoint/);
    const missing = createStageAsrProvider({ provider: 'sherpa-onnx', modelDir: '/nonexistent/model' });
    assert.match(missing.unavailableReason ?? '', /not found/);
    const { stage, out } = makeStage(built.provider, { unavailableReason: built.unavailableReason! });
    const other = { topic: 'speech.start', session: 'x', payload: { atMs: 1 } };
    await stage.handle(other);
    await stage.handle(utterance(undefined, tone(100)));
    assert.equal(out[0], other);
    assert.equal(out[1]!.topic, 'say');
    assert.equal(out[1]!.payload, 'Speech recognition is not available: no OpenAI-compatible endpoint configured (set its Base URL)');
    assert.ok(stage.stats().unavailableReason);
  });

  it('asr.phrases for a recogniser without a grammar is reported, not thrown', async () => {
    const { stage, out, warnings } = makeStage(openAi());
    await stage.handle({ topic: 'asr.phrases', payload: ['a'] });
    assert.equal(out.length, 0);
    assert.match(warnings[0]!, /only pocketsphinx/);
  });
});
