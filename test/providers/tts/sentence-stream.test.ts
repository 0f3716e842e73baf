import { strict as assert } from 'node:assert';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EspeakWasmTts, shutdownEspeakWasm } from '../../../src/providers/tts/espeak-wasm';
import { OpenAiSpeechTts } from '../../../src/providers/tts/openai-speech';
import { SentenceSynthesizer, type SynthesizedSentence } from '../../../src/providers/tts/sentence-stream';
import { ProviderError } from '../../../src/providers/types';

/**
 * Loopback speech server whose answer depends on the sentence: "slow ..." answers after
 * 400 ms, "fail ..." with HTTP 500, "stall ..." never; anything else at once. The PCM body is
 * the sentence's UTF-8 bytes (padded to even length), so the audio can be matched to its text.
 */
class ScriptedSpeechServer {
  inFlight = 0;
  maxInFlight = 0;
  readonly received: string[] = [];
  readonly completed: string[] = [];
  readonly closedUnanswered: string[] = [];
  private readonly server: Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const input = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input: string }).input;
        this.received.push(input);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        let answered = false;
        res.on('close', () => {
          this.inFlight--;
          if (!answered) this.closedUnanswered.push(input);
        });
        const answer = (): void => {
          answered = true;
          this.completed.push(input);
          this.respond(res, input);
        };
        if (input.startsWith('stall')) return;
        if (input.startsWith('slow')) {
          const timer = setTimeout(answer, 400);
          this.timers.add(timer);
          return;
        }
        answer();
      });
    });
  }
  private respond(res: ServerResponse, input: string): void {
    if (input.startsWith('fail')) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'synthesis failed' } }));
      return;
    }
    const text = Buffer.from(input, 'utf8');
    const body = Buffer.alloc(text.length + (text.length & 1));
    text.copy(body);
    res.writeHead(200, { 'content-type': 'audio/pcm' });
    res.end(body);
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Text carried in the fake PCM body. */
function audioText(item: SynthesizedSentence): string {
  assert.ok(item.audio, `item ${item.index} has no audio: ${item.error?.message}`);
  const bytes = Buffer.from(item.audio.pcm.buffer, item.audio.pcm.byteOffset, item.audio.pcm.byteLength);
  return bytes.toString('utf8').replace(/\0+$/, '');
}

async function* fromArray(sentences: string[], gapMs = 0): AsyncGenerator<string> {
  for (const s of sentences) {
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    yield s;
  }
}

async function collect(iterable: AsyncIterable<SynthesizedSentence>): Promise<SynthesizedSentence[]> {
  const items: SynthesizedSentence[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('SentenceSynthesizer', () => {
  let server: ScriptedSpeechServer;
  let provider: OpenAiSpeechTts;
  beforeEach(async () => {
    server = new ScriptedSpeechServer();
    provider = new OpenAiSpeechTts({ baseUrl: await server.listen(), apiKey: 'k', timeoutMs: 15000 });
  });
  afterEach(async () => {
    await server.close();
  });

  it('yields in input order although a later sentence finishes first', async () => {
    const synth = new SentenceSynthesizer(provider, { concurrency: 2 });
    const items = await collect(synth.synthesizeAll(fromArray(['slow one.', 'two.', 'three.'])));
    assert.deepEqual(items.map((i) => i.index), [0, 1, 2]);
    assert.deepEqual(items.map(audioText), ['slow one.', 'two.', 'three.']);
    assert.deepEqual(items.map((i) => i.text), ['slow one.', 'two.', 'three.']);
    // Proof that the second sentence really ran alongside the first and finished before it.
    assert.equal(server.completed.indexOf('two.') < server.completed.indexOf('slow one.'), true, `completion order ${server.completed.join(' | ')}`);
  });

  it('never has more than `concurrency` sentences ahead of the consumer', async () => {
    const synth = new SentenceSynthesizer(provider, { concurrency: 3 });
    const sentences = ['slow a.', 'slow b.', 'slow c.', 'slow d.', 'e.', 'f.', 'g.'];
    const items = await collect(synth.synthesizeAll(sentences));
    assert.deepEqual(items.map(audioText), sentences);
    assert.ok(server.maxInFlight <= 3, `max in flight ${server.maxInFlight}`);
    assert.ok(server.maxInFlight >= 2, `expected overlap, max in flight ${server.maxInFlight}`);
  });

  it('with concurrency 1 runs strictly one after another', async () => {
    const synth = new SentenceSynthesizer(provider, { concurrency: 1 });
    const items = await collect(synth.synthesizeAll(fromArray(['slow x.', 'y.'])));
    assert.deepEqual(items.map(audioText), ['slow x.', 'y.']);
    assert.equal(server.maxInFlight, 1);
    assert.deepEqual(server.completed, ['slow x.', 'y.']);
  });

  it('a failing sentence yields an error item and the stream goes on', async () => {
    const synth = new SentenceSynthesizer(provider);
    const items = await collect(synth.synthesizeAll(fromArray(['one.', 'fail two.', 'three.'])));
    assert.deepEqual(items.map((i) => i.index), [0, 1, 2]);
    assert.equal(audioText(items[0]!), 'one.');
    const failed = items[1]!;
    assert.ok(failed.error instanceof ProviderError);
    assert.equal(failed.error.code, 'unavailable');
    assert.equal(failed.text, 'fail two.');
    assert.equal(failed.audio, undefined);
    assert.equal(audioText(items[2]!), 'three.');
  });

  it('a sentence past its deadline yields a timeout item and its request is cancelled', async () => {
    const synth = new SentenceSynthesizer(provider, { timeoutMs: 300 });
    const items = await collect(synth.synthesizeAll(fromArray(['stall one.', 'two.'])));
    assert.equal(items[0]?.error?.code, 'timeout');
    assert.equal(audioText(items[1]!), 'two.');
    // The provider saw the per-sentence abort and closed its HTTP request.
    for (let i = 0; i < 50 && !server.closedUnanswered.includes('stall one.'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(server.closedUnanswered, ['stall one.']);
  });

  it('times out a provider that ignores its abort signal', async () => {
    const deaf = { name: 'deaf', synthesize: () => new Promise<never>(() => undefined) };
    const synth = new SentenceSynthesizer(deaf, { timeoutMs: 100 });
    const items = await collect(synth.synthesizeAll(['a.', 'b.']));
    assert.deepEqual(items.map((i) => i.error?.code), ['timeout', 'timeout']);
  });

  it('cleans sentences and skips those left empty, keeping input indexes', async () => {
    const synth = new SentenceSynthesizer(provider);
    const items = await collect(synth.synthesizeAll(fromArray(['**Hello** there.', '😀😀', '<tool_call>{"name":"x","arguments":{}}</tool_call>', 'Bye!'])));
    assert.deepEqual(items.map((i) => [i.index, i.text]), [[0, 'Hello there.'], [3, 'Bye!']]);
    assert.deepEqual(items.map(audioText), ['Hello there.', 'Bye!']);
  });

  it('abort mid-way ends the iterator promptly and cancels running requests', async function () {
    this.timeout(5000); // without a working abort, the stall below would last the 60 s deadline
    const synth = new SentenceSynthesizer(provider, { concurrency: 2, timeoutMs: 60000 });
    const controller = new AbortController();
    const items: SynthesizedSentence[] = [];
    for await (const item of synth.synthesizeAll(fromArray(['one.', 'stall two.', 'three.', 'four.']), controller.signal)) {
      items.push(item);
      if (item.index === 0) {
        // Abort once the stalling request is really running on the server.
        for (let i = 0; i < 100 && !server.received.includes('stall two.'); i++) await new Promise((r) => setTimeout(r, 10));
        controller.abort();
      }
    }
    assert.deepEqual(items.map((i) => i.index), [0]);
    for (let i = 0; i < 50 && server.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.inFlight, 0);
    assert.ok(server.closedUnanswered.includes('stall two.'));
    assert.ok(!server.completed.includes('four.'), 'sentences after the abort are never started');
  });

  it('abort while waiting on a silent input ends the iterator', async function () {
    this.timeout(5000);
    const synth = new SentenceSynthesizer(provider);
    const controller = new AbortController();
    async function* neverEnding(): AsyncGenerator<string> {
      yield 'first.';
      await new Promise(() => undefined); // an LLM that goes quiet
    }
    const items: SynthesizedSentence[] = [];
    setTimeout(() => controller.abort(), 200);
    for await (const item of synth.synthesizeAll(neverEnding(), controller.signal)) items.push(item);
    assert.deepEqual(items.map(audioText), ['first.']);
  });

  it('breaking out of the loop cancels the rest', async () => {
    const synth = new SentenceSynthesizer(provider, { concurrency: 2, timeoutMs: 60000 });
    for await (const item of synth.synthesizeAll(fromArray(['one.', 'stall two.', 'three.']))) {
      assert.equal(item.index, 0);
      break;
    }
    for (let i = 0; i < 50 && server.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.inFlight, 0);
  });

  it('an already aborted signal yields nothing', async () => {
    const synth = new SentenceSynthesizer(provider);
    const items = await collect(synth.synthesizeAll(['one.'], AbortSignal.abort()));
    assert.deepEqual(items, []);
    assert.equal(server.completed.length, 0);
  });

  it('an input error is rethrown after the sentences before it', async () => {
    async function* broken(): AsyncGenerator<string> {
      yield 'one.';
      yield 'two.';
      throw new Error('LLM stream broke');
    }
    const synth = new SentenceSynthesizer(provider);
    const items: SynthesizedSentence[] = [];
    await assert.rejects(async () => {
      for await (const item of synth.synthesizeAll(broken())) items.push(item);
    }, /LLM stream broke/);
    assert.deepEqual(items.map(audioText), ['one.', 'two.']);
  });
});

describe('SentenceSynthesizer over espeak-ng wasm', () => {
  after(async () => {
    await shutdownEspeakWasm();
  });

  it('streams real speech for each sentence in order', async function () {
    try {
      require.resolve('@echogarden/espeak-ng-emscripten/espeak-ng.js');
    } catch {
      console.log('      skipped: optional package @echogarden/espeak-ng-emscripten is not installed');
      this.skip();
    }
    const tts = new EspeakWasmTts();
    // A long first sentence and short later ones: the later ones are ready first.
    const sentences = ['This first sentence is clearly the longest of the three sentences here.', 'Short.', '你好。'];
    const synth = new SentenceSynthesizer(tts, { concurrency: 3, ttsOptions: {} });
    const items = await collect(synth.synthesizeAll(fromArray(sentences)));
    assert.deepEqual(items.map((i) => i.text), sentences);
    for (const item of items) {
      assert.ok(item.audio, item.error?.message);
      assert.equal(item.audio.sampleRateHz, 22050);
    }
    const [long, short] = items.map((i) => i.audio!.pcm.length);
    assert.ok(long! > short! * 3, `long ${long} short ${short}`);
  });
});
