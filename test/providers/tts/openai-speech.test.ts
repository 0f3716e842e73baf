import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeWav } from '../../../src/audio/wav';
import { OpenAiSpeechTts } from '../../../src/providers/tts/openai-speech';
import { ProviderError } from '../../../src/providers/types';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** Loopback HTTP server whose behaviour each test sets; records every request. */
class FakeSpeechServer {
  handler: Handler = (_req, _body, res) => res.end();
  readonly requests: Array<{ method?: string; url?: string; headers: IncomingMessage['headers']; body: string }> = [];
  private readonly server: Server;
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.requests.push({ method: req.method, url: req.url, headers: req.headers, body });
        this.handler(req, body, res);
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** 0.5 s of a 440 Hz tone at 24 kHz as s16le bytes, and the samples. */
function tone(sampleRateHz = 24000, seconds = 0.5): { bytes: Buffer; pcm: Int16Array } {
  const pcm = new Int16Array(Math.round(sampleRateHz * seconds));
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / sampleRateHz));
  return { bytes: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), pcm };
}

function isProviderError(code: ProviderError['code'], messagePattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ProviderError, `expected ProviderError, got ${String(err)}`);
    assert.equal(err.code, code, `code ${err.code}: ${err.message}`);
    if (messagePattern) assert.match(err.message, messagePattern);
    return true;
  };
}

describe('OpenAiSpeechTts (loopback server)', () => {
  let server: FakeSpeechServer;
  let baseUrl: string;
  beforeEach(async () => {
    server = new FakeSpeechServer();
    baseUrl = await server.listen();
  });
  afterEach(async () => {
    await server.close();
  });

  it('posts model, voice, input and response_format pcm with the bearer key, and decodes 24 kHz PCM', async () => {
    const { bytes, pcm } = tone();
    server.handler = (req, body, res) => {
      res.writeHead(200, { 'content-type': 'audio/pcm' });
      res.end(bytes);
    };
    const tts = new OpenAiSpeechTts({ baseUrl, apiKey: 'sk-test-123', model: 'gpt-4o-mini-tts', voice: 'coral', timeoutMs: 5000 });
    const audio = await tts.synthesize('Hello world', { speed: 1.25 });
    assert.equal(server.requests.length, 1);
    const request = server.requests[0]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/v1/audio/speech');
    assert.equal(request.headers.authorization, 'Bearer sk-test-123');
    const json = JSON.parse(request.body) as Record<string, unknown>;
    assert.equal(json.model, 'gpt-4o-mini-tts');
    assert.equal(json.voice, 'coral');
    assert.equal(json.input, 'Hello world');
    assert.equal(json.response_format, 'pcm');
    assert.equal(json.speed, 1.25);
    assert.equal(audio.sampleRateHz, 24000);
    assert.deepEqual(Array.from(audio.pcm), Array.from(pcm));
  });

  it('defaults to tts-1 / alloy and a per-call voice overrides', async () => {
    server.handler = (_req, _body, res) => res.end(tone().bytes);
    await new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }).synthesize('Hi', { voice: 'echo' });
    await new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }).synthesize('Hi');
    const [first, second] = server.requests.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    assert.equal(first?.model, 'tts-1');
    assert.equal(first?.voice, 'echo');
    assert.equal(second?.voice, 'alloy');
    assert.equal('speed' in (second ?? {}), false);
  });

  it("falls back to 'wav' and takes the rate from the WAV header", async () => {
    const { pcm } = tone(16000, 0.25);
    server.handler = (_req, body, res) => {
      assert.equal((JSON.parse(body) as { response_format: string }).response_format, 'wav');
      res.writeHead(200, { 'content-type': 'audio/wav' });
      res.end(writeWav(pcm, 16000));
    };
    const audio = await new OpenAiSpeechTts({ baseUrl, apiKey: 'k', responseFormat: 'wav' }).synthesize('Hi');
    assert.equal(audio.sampleRateHz, 16000);
    assert.deepEqual(Array.from(audio.pcm), Array.from(pcm));
  });

  it('handles a PCM body split into odd-sized chunks', async () => {
    const { bytes, pcm } = tone();
    server.handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'audio/pcm' });
      res.write(bytes.subarray(0, 1001));
      setImmediate(() => res.end(bytes.subarray(1001)));
    };
    const audio = await new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }).synthesize('Hi');
    assert.deepEqual(Array.from(audio.pcm), Array.from(pcm));
  });

  it('401 -> unavailable with a hint about the API key', async () => {
    server.handler = (_req, _body, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }));
    };
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'bad' }).synthesize('Hi'), isProviderError('unavailable', /401.*API key/));
  });

  it('429 -> rate_limited', async () => {
    server.handler = (_req, _body, res) => {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Rate limit reached' } }));
    };
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }).synthesize('Hi'), isProviderError('rate_limited', /429/));
    assert.equal(server.requests.length, 1, 'no retries by default');
  });

  it('500 -> unavailable', async () => {
    server.handler = (_req, _body, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'boom' } }));
    };
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }).synthesize('Hi'), isProviderError('unavailable', /500/));
  });

  it('400 (bad voice) -> failed', async () => {
    server.handler = (_req, _body, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Invalid voice' } }));
    };
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }).synthesize('Hi'), isProviderError('failed', /Invalid voice/));
  });

  it('a server that never answers -> timeout', async () => {
    server.handler = () => undefined; // accept the request, never respond
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'k', timeoutMs: 300 }).synthesize('Hi'), isProviderError('timeout', /300 ms/));
  });

  it('a body that stalls after the headers -> timeout', async () => {
    server.handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'audio/pcm' });
      res.write(tone().bytes.subarray(0, 4800));
    };
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'k', timeoutMs: 300 }).synthesize('Hi'), isProviderError('timeout'));
  });

  it('caller abort -> aborted, and the HTTP request is cancelled', async () => {
    let requestClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (requestClosed = resolve));
    server.handler = (_req, _body, res) => {
      res.on('close', () => requestClosed());
      controller.abort();
    };
    const controller = new AbortController();
    await assert.rejects(
      new OpenAiSpeechTts({ baseUrl, apiKey: 'k', timeoutMs: 10000 }).synthesize('Hi', { signal: controller.signal }),
      isProviderError('aborted'),
    );
    await closed;
  });

  it('a JSON body where PCM was asked -> bad_response', async () => {
    server.handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ audio: 'base64...' }));
    };
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }).synthesize('Hi'), isProviderError('bad_response'));
  });

  it('a broken WAV -> bad_response', async () => {
    server.handler = (_req, _body, res) => res.end(Buffer.from('not a wav file at all'));
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'k', responseFormat: 'wav' }).synthesize('Hi'), isProviderError('bad_response', /WAV/));
  });

  it('nothing listening -> unavailable', async () => {
    await server.close();
    await assert.rejects(new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }).synthesize('Hi'), isProviderError('unavailable'));
    server = new FakeSpeechServer();
    await server.listen();
  });
});
