import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hubMetrics } from '../../../src/metrics/hub-metrics';
import { CachingTts, normalizeTtsText, pcmAudioBytes, pcmAudioCodec } from '../../../src/providers/tts/caching-tts';
import { EspeakWasmTts, shutdownEspeakWasm } from '../../../src/providers/tts/espeak-wasm';
import { OpenAiSpeechTts } from '../../../src/providers/tts/openai-speech';
import { ProviderError, type PcmAudio, type TtsOptions, type TtsProvider } from '../../../src/providers/types';

function espeakInstalled(): boolean {
  try {
    require.resolve('@echogarden/espeak-ng-emscripten/espeak-ng.js');
    return true;
  } catch {
    return false;
  }
}

/** Wraps a provider and counts the calls that reach it. */
class CountingTts implements TtsProvider {
  readonly name: string;
  calls: Array<{ text: string; options: TtsOptions | undefined }> = [];
  constructor(private readonly inner: TtsProvider) {
    this.name = inner.name;
  }
  synthesize(text: string, options?: TtsOptions): Promise<PcmAudio> {
    this.calls.push({ text, options });
    return this.inner.synthesize(text, options);
  }
}

/**
 * A provider whose syntheses the test finishes by hand, so concurrency and abort cases are
 * deterministic. It rejects a call when that call's signal aborts, as real engines do.
 */
class ManualTts implements TtsProvider {
  readonly name = 'manual';
  readonly pending: Array<{ text: string; signal: AbortSignal | undefined; resolve: (audio: PcmAudio) => void; reject: (error: unknown) => void }> = [];
  synthesize(text: string, options: TtsOptions = {}): Promise<PcmAudio> {
    return new Promise<PcmAudio>((resolve, reject) => {
      const entry = { text, signal: options.signal, resolve, reject };
      options.signal?.addEventListener('abort', () => reject(new ProviderError('aborted', 'aborted', this.name)), { once: true });
      this.pending.push(entry);
    });
  }
}

function audioOf(values: number[], sampleRateHz = 16000): PcmAudio {
  return { pcm: Int16Array.from(values), sampleRateHz };
}

/** Let pending promise callbacks run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function counted(result: 'hit' | 'miss', cache = 'tts'): Promise<number> {
  const metric = await hubMetrics().cache.get();
  return metric.values.find((v) => v.labels.cache === cache && v.labels.result === result)?.value ?? 0;
}

function isAborted(error: unknown): boolean {
  assert.ok(error instanceof ProviderError, `expected ProviderError, got ${String(error)}`);
  assert.equal(error.code, 'aborted');
  return true;
}

describe('providers/tts/CachingTts', () => {
  describe('with real espeak-ng (wasm)', function () {
    this.timeout(20_000);
    before(function () {
      if (!espeakInstalled()) {
        console.log('      skipped: optional package @echogarden/espeak-ng-emscripten is not installed');
        this.skip();
      }
    });
    after(async () => {
      await shutdownEspeakWasm();
    });

    it('serves a repeated sentence from the cache: identical PCM, no second synthesis, metrics counted', async () => {
      const inner = new CountingTts(new EspeakWasmTts({ voice: 'en-us' }));
      const tts = new CachingTts(inner, { namespace: 'espeak en-us 175' });
      const hitsBefore = await counted('hit');
      const missesBefore = await counted('miss');

      const first = await tts.synthesize('Okay, turning on the kitchen light.');
      assert.equal(inner.calls.length, 1);
      assert.equal(first.sampleRateHz, 22050);
      assert.ok(first.pcm.length > 22050 * 0.5, 'about a second of speech');

      const second = await tts.synthesize('  Okay,   turning on the kitchen light. ');
      assert.equal(inner.calls.length, 1, 'the inner provider was not called again');
      assert.equal(second.sampleRateHz, first.sampleRateHz);
      assert.deepEqual(second.pcm, first.pcm);
      assert.notEqual(second.pcm, first.pcm, 'each caller gets its own copy');

      // Changing the copy never changes what the cache holds.
      second.pcm.fill(0);
      const third = await tts.synthesize('Okay, turning on the kitchen light.');
      assert.deepEqual(third.pcm, first.pcm);

      // Another voice is another key.
      await tts.synthesize('Okay, turning on the kitchen light.', { voice: 'de' });
      assert.equal(inner.calls.length, 2);

      assert.equal((await counted('hit')) - hitsBefore, 2);
      assert.equal((await counted('miss')) - missesBefore, 2);
      const stats = tts.stats();
      assert.equal(stats.hits, 2);
      assert.equal(stats.misses, 2);
      assert.equal(stats.syntheses, 2);
      assert.equal(stats.hitRatio, 0.5);
      assert.equal(stats.cache.entries, 2);
      assert.equal(stats.cache.bytes, pcmAudioBytes(first) + pcmAudioBytes(await tts.synthesize('Okay, turning on the kitchen light.', { voice: 'de' })));
    });
  });

  describe('with an OpenAI-compatible speech server on loopback', () => {
    let server: Server;
    let baseUrl: string;
    let requests = 0;
    before(async () => {
      server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          requests++;
          const pcm = new Int16Array(2400).map((_, i) => Math.round(4000 * Math.sin(i / 5)));
          res.writeHead(200, { 'content-type': 'audio/pcm' });
          res.end(Buffer.from(pcm.buffer));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('makes no HTTP request for a repeated sentence', async () => {
      const tts = new CachingTts(new OpenAiSpeechTts({ baseUrl, apiKey: 'sk-test', timeoutMs: 5000 }), { namespace: 'tts-1 alloy' });
      const first = await tts.synthesize('Sorry, I did not catch that.');
      assert.equal(requests, 1);
      const second = await tts.synthesize('Sorry, I did not catch that.');
      assert.equal(requests, 1);
      assert.deepEqual(second, first);
      await tts.synthesize('Sorry, I did not catch that.', { speed: 1.25 });
      assert.equal(requests, 2, 'another speed is another key');
    });
  });

  describe('single flight and aborts', () => {
    it('shares one synthesis between concurrent requests for the same text', async () => {
      const inner = new ManualTts();
      const tts = new CachingTts(inner, { metricsLabel: false });
      const hitsBefore = tts.stats().hits;
      const results = Promise.all([tts.synthesize('Hello!'), tts.synthesize('Hello!'), tts.synthesize(' Hello! ')]);
      await flush();
      assert.equal(inner.pending.length, 1);
      inner.pending[0]!.resolve(audioOf([1, 2, 3]));
      const [a, b, c] = await results;
      assert.deepEqual([...a.pcm], [1, 2, 3]);
      assert.deepEqual(b, a);
      assert.deepEqual(c, a);
      assert.notEqual(a.pcm, b.pcm);
      const stats = tts.stats();
      assert.equal(stats.misses, 1);
      assert.equal(stats.joined, 2);
      assert.equal(stats.hits, hitsBefore);
      assert.equal(stats.syntheses, 1);
      // Now it is cached.
      await tts.synthesize('Hello!');
      assert.equal(inner.pending.length, 1);
      assert.equal(tts.stats().hits, 1);
    });

    it('an aborted waiter leaves the shared synthesis running for the others', async () => {
      const inner = new ManualTts();
      const tts = new CachingTts(inner, { metricsLabel: false });
      const leaving = new AbortController();
      const first = tts.synthesize('Welcome home.', { signal: leaving.signal });
      const second = tts.synthesize('Welcome home.');
      await flush();
      assert.equal(inner.pending.length, 1);
      leaving.abort();
      await assert.rejects(first, isAborted);
      assert.equal(inner.pending[0]!.signal?.aborted, false, 'the synthesis goes on for the other waiter');
      inner.pending[0]!.resolve(audioOf([7, 8]));
      assert.deepEqual([...(await second).pcm], [7, 8]);
      assert.equal(tts.stats().cache.entries, 1);
    });

    it('aborts the synthesis when every waiter left, and starts afresh for the next request', async () => {
      const inner = new ManualTts();
      const tts = new CachingTts(inner, { metricsLabel: false });
      const a = new AbortController();
      const b = new AbortController();
      const first = tts.synthesize('Goodbye.', { signal: a.signal });
      const second = tts.synthesize('Goodbye.', { signal: b.signal });
      await flush();
      a.abort();
      await assert.rejects(first, isAborted);
      assert.equal(inner.pending[0]!.signal?.aborted, false);
      b.abort();
      await assert.rejects(second, isAborted);
      assert.equal(inner.pending[0]!.signal?.aborted, true, 'nobody waits: the engine is stopped');

      const third = tts.synthesize('Goodbye.');
      await flush();
      assert.equal(inner.pending.length, 2, 'a new synthesis, not the aborted one');
      inner.pending[1]!.resolve(audioOf([5]));
      assert.deepEqual([...(await third).pcm], [5]);
      assert.equal(tts.stats().cache.entries, 1);
    });

    it('rejects at once for an already aborted signal, even on a cached text', async () => {
      const inner = new ManualTts();
      const tts = new CachingTts(inner, { metricsLabel: false });
      await assert.rejects(tts.synthesize('Hi.', { signal: AbortSignal.abort() }), isAborted);
      assert.equal(inner.pending.length, 0);
    });

    it('does not cache failures: every waiter gets the error and the next request tries again', async () => {
      const inner = new ManualTts();
      const tts = new CachingTts(inner, { metricsLabel: false });
      const first = tts.synthesize('Sorry.');
      const second = tts.synthesize('Sorry.');
      await flush();
      inner.pending[0]!.reject(new ProviderError('unavailable', 'engine down', 'manual'));
      await assert.rejects(first, /engine down/);
      await assert.rejects(second, /engine down/);
      const third = tts.synthesize('Sorry.');
      await flush();
      assert.equal(inner.pending.length, 2);
      inner.pending[1]!.resolve(audioOf([1]));
      await third;
      assert.equal(tts.stats().cache.entries, 1);
    });
  });

  describe('bounds', () => {
    it('keeps at most maxBytes of audio, dropping the least recently used sentence', async () => {
      const inner = new ManualTts();
      const maxBytes = 3 * pcmAudioBytes(audioOf(new Array(100).fill(1)));
      const tts = new CachingTts(inner, { maxBytes, metricsLabel: false });
      for (const text of ['one.', 'two.', 'three.', 'four.']) {
        const pending = tts.synthesize(text);
        await flush();
        inner.pending.at(-1)!.resolve(audioOf(new Array(100).fill(1)));
        await pending;
      }
      const stats = tts.stats().cache;
      assert.equal(stats.entries, 3);
      assert.ok(stats.bytes <= maxBytes);
      // 'one.' was evicted: asking again synthesizes.
      const again = tts.synthesize('one.');
      await flush();
      assert.equal(inner.pending.length, 5);
      inner.pending[4]!.resolve(audioOf([1]));
      await again;
    });

    it('keeps at most maxEntries sentences', async () => {
      const inner = new ManualTts();
      const tts = new CachingTts(inner, { maxEntries: 2, metricsLabel: false });
      for (const text of ['a.', 'b.', 'c.']) {
        const pending = tts.synthesize(text);
        await flush();
        inner.pending.at(-1)!.resolve(audioOf([1, 2]));
        await pending;
      }
      assert.equal(tts.stats().cache.entries, 2);
    });

    it('passes texts longer than maxTextChars straight through, uncounted', async () => {
      const inner = new ManualTts();
      const tts = new CachingTts(inner, { maxTextChars: 10, metricsLabel: false });
      for (let i = 0; i < 2; i++) {
        const pending = tts.synthesize('This sentence is too long to cache.');
        await flush();
        inner.pending.at(-1)!.resolve(audioOf([1]));
        await pending;
      }
      assert.equal(inner.pending.length, 2);
      assert.equal(tts.stats().misses, 0);
      assert.equal(tts.stats().cache.entries, 0);
    });
  });

  it('normalises text for keys: NFC, collapsed whitespace, case and punctuation kept', () => {
    assert.equal(normalizeTtsText('  Cafe\u0301\n  ok!  '), 'Café ok!');
    assert.notEqual(normalizeTtsText('OK.'), normalizeTtsText('ok.'));
  });

  it('pcmAudioCodec round-trips audio and refuses foreign bytes', () => {
    const audio = audioOf([0, 1, -1, 32767, -32768], 24000);
    const decoded = pcmAudioCodec.decode(pcmAudioCodec.encode(audio));
    assert.deepEqual(decoded, audio);
    assert.throws(() => pcmAudioCodec.decode(Buffer.from('RIFF....')), TypeError);
  });
});
