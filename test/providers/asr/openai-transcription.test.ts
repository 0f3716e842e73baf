import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenAiTranscriptionAsr } from '../../../src/providers/asr/openai-transcription';
import { ProviderError, type PcmAudio } from '../../../src/providers/types';

interface Received {
  path: string;
  authorization: string | undefined;
  fields: Record<string, string>;
  file?: { name: string; type: string; bytes: Buffer };
}

type Responder = (req: IncomingMessage, res: ServerResponse, received: Received) => void;

/** Loopback server that parses the multipart upload (with the platform's own FormData parser). */
function startServer(): Promise<{ server: Server; baseUrl: string; received: Received[]; respond: { fn: Responder } }> {
  const received: Received[] = [];
  const respond: { fn: Responder } = { fn: (_req, res) => res.end('{}') };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const r: Received = { path: req.url ?? '', authorization: req.headers.authorization, fields: {} };
        const contentType = req.headers['content-type'] ?? '';
        if (contentType.startsWith('multipart/form-data')) {
          const form = await new Response(Buffer.concat(chunks), { headers: { 'content-type': contentType } }).formData();
          for (const [key, value] of form.entries()) {
            if (typeof value === 'string') r.fields[key] = value;
            else r.file = { name: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) };
          }
        }
        received.push(r);
        respond.fn(req, res, r);
      })();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({ server, baseUrl: `http://127.0.0.1:${port}/v1`, received, respond });
    });
  });
}

/** Parse a canonical 44-byte-header PCM WAV. */
function parseWav(buf: Buffer): { format: number; channels: number; sampleRateHz: number; bits: number; samples: Int16Array } {
  assert.equal(buf.toString('ascii', 0, 4), 'RIFF');
  assert.equal(buf.readUInt32LE(4), buf.length - 8, 'RIFF size');
  assert.equal(buf.toString('ascii', 8, 12), 'WAVE');
  assert.equal(buf.toString('ascii', 12, 16), 'fmt ');
  assert.equal(buf.toString('ascii', 36, 40), 'data');
  const dataBytes = buf.readUInt32LE(40);
  assert.equal(dataBytes, buf.length - 44, 'data size');
  const samples = new Int16Array(dataBytes / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = buf.readInt16LE(44 + i * 2);
  return { format: buf.readUInt16LE(20), channels: buf.readUInt16LE(22), sampleRateHz: buf.readUInt32LE(24), bits: buf.readUInt16LE(34), samples };
}

function tone(sampleRateHz: number, ms: number): PcmAudio {
  const pcm = new Int16Array(Math.round((sampleRateHz * ms) / 1000));
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / sampleRateHz));
  return { pcm, sampleRateHz };
}

function rejectsWith(promise: Promise<unknown>, code: ProviderError['code'], message?: RegExp): Promise<void> {
  return assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ProviderError, `ProviderError expected, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('OpenAiTranscriptionAsr (loopback server)', function () {
  let ctx: Awaited<ReturnType<typeof startServer>>;
  before(async function () {
    ctx = await startServer();
  });
  after(function () {
    ctx.server.closeAllConnections();
    ctx.server.close();
  });
  beforeEach(function () {
    ctx.received.length = 0;
  });

  it('uploads a 16-bit mono WAV with model, language and prompt, and returns the text', async function () {
    ctx.respond.fn = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ text: ' turn on the kitchen light ' }));
    };
    const asr = new OpenAiTranscriptionAsr({ baseUrl: ctx.baseUrl, apiKey: 'sk-test-123', model: 'whisper-1', language: 'en', prompt: 'kitchen, bedroom' });
    const audio = tone(16000, 1200);
    const result = await asr.transcribe(audio);
    assert.equal(result.text, 'turn on the kitchen light');
    assert.equal(result.language, 'en');

    assert.equal(ctx.received.length, 1);
    const r = ctx.received[0]!;
    assert.equal(r.path, '/v1/audio/transcriptions');
    assert.equal(r.authorization, 'Bearer sk-test-123');
    assert.equal(r.fields.model, 'whisper-1');
    assert.equal(r.fields.language, 'en');
    assert.equal(r.fields.prompt, 'kitchen, bedroom');
    assert.equal(r.fields.response_format, 'json');
    assert.ok(r.file, 'a file part');
    assert.match(r.file.name, /\.wav$/);
    const wav = parseWav(r.file.bytes);
    assert.deepEqual([wav.format, wav.channels, wav.sampleRateHz, wav.bits], [1, 1, 16000, 16]);
    assert.deepEqual(wav.samples, audio.pcm, 'samples arrive unchanged');
  });

  it('keeps the caller sample rate, reduces zh-CN to zh and lets a per-call language win', async function () {
    ctx.respond.fn = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ text: '打开客厅的灯', language: 'chinese' }));
    };
    const asr = new OpenAiTranscriptionAsr({ baseUrl: `${ctx.baseUrl}/`, model: 'gpt-4o-mini-transcribe', language: 'en' });
    const result = await asr.transcribe(tone(24000, 300), { language: 'zh-CN' });
    assert.equal(result.text, '打开客厅的灯');
    assert.equal(result.language, 'chinese', 'the server-detected language is reported');
    const r = ctx.received[0]!;
    assert.equal(r.fields.language, 'zh');
    assert.equal(r.fields.model, 'gpt-4o-mini-transcribe');
    assert.equal(r.fields.prompt, undefined);
    assert.equal(parseWav(r.file!.bytes).sampleRateHz, 24000);
  });

  it("omits the language for 'auto'", async function () {
    ctx.respond.fn = (_req, res) => res.end(JSON.stringify({ text: 'hi' }));
    const asr = new OpenAiTranscriptionAsr({ baseUrl: ctx.baseUrl, model: 'whisper-1', language: 'auto' });
    assert.equal((await asr.transcribe(tone(16000, 100))).text, 'hi');
    assert.equal(ctx.received[0]!.fields.language, undefined);
  });

  const statusCases: Array<[number, ProviderError['code'], RegExp]> = [
    [401, 'unavailable', /check the API key/],
    [429, 'rate_limited', /429/],
    [500, 'failed', /500/],
    [503, 'failed', /503/],
    [400, 'bad_response', /400/],
  ];
  for (const [status, code, message] of statusCases) {
    it(`maps HTTP ${status} to '${code}' without retrying`, async function () {
      ctx.respond.fn = (_req, res) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `status ${status} from test`, type: 'test' } }));
      };
      const asr = new OpenAiTranscriptionAsr({ baseUrl: ctx.baseUrl, apiKey: 'bad', model: 'whisper-1' });
      await rejectsWith(asr.transcribe(tone(16000, 100)), code, message);
      assert.equal(ctx.received.length, 1, 'no retry');
    });
  }

  it("answers 'bad_response' when the JSON has no text", async function () {
    ctx.respond.fn = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ transcript: 'wrong field' }));
    };
    const asr = new OpenAiTranscriptionAsr({ baseUrl: ctx.baseUrl, model: 'whisper-1' });
    await rejectsWith(asr.transcribe(tone(16000, 100)), 'bad_response', /text/);
  });

  it("times out with 'timeout' when the server stalls", async function () {
    ctx.respond.fn = () => {
      // never answer
    };
    const asr = new OpenAiTranscriptionAsr({ baseUrl: ctx.baseUrl, model: 'whisper-1', timeoutMs: 300 });
    await rejectsWith(asr.transcribe(tone(16000, 100)), 'timeout', /300 ms/);
  });

  it("times out when the server sends headers and then stalls the body", async function () {
    ctx.respond.fn = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
      res.write('{"text": "hal');
    };
    const asr = new OpenAiTranscriptionAsr({ baseUrl: ctx.baseUrl, model: 'whisper-1', timeoutMs: 300 });
    await rejectsWith(asr.transcribe(tone(16000, 100)), 'timeout');
  });

  it("rejects with 'aborted' when the caller aborts mid-request", async function () {
    ctx.respond.fn = () => {
      // never answer: only the abort can end the call
    };
    const asr = new OpenAiTranscriptionAsr({ baseUrl: ctx.baseUrl, model: 'whisper-1', timeoutMs: 10_000 });
    const controller = new AbortController();
    const call = asr.transcribe(tone(16000, 100), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(call, 'aborted');
  });

  it("rejects at once with 'aborted' when the signal is already aborted", async function () {
    const asr = new OpenAiTranscriptionAsr({ baseUrl: ctx.baseUrl, model: 'whisper-1' });
    await rejectsWith(asr.transcribe(tone(16000, 100), { signal: AbortSignal.abort() }), 'aborted');
    assert.equal(ctx.received.length, 0);
  });

  it("maps a refused connection to 'unavailable'", async function () {
    // Bind a port, close it: nothing listens there any more.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const asr = new OpenAiTranscriptionAsr({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'whisper-1', timeoutMs: 5000 });
    await rejectsWith(asr.transcribe(tone(16000, 100)), 'unavailable', /cannot reach/);
  });
});
