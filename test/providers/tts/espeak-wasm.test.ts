import { strict as assert } from 'node:assert';
import { EspeakWasmTts, shutdownEspeakWasm } from '../../../src/providers/tts/espeak-wasm';
import { ProviderError, type PcmAudio } from '../../../src/providers/types';

function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const s of pcm) sum += s * s;
  return pcm.length === 0 ? 0 : Math.sqrt(sum / pcm.length);
}

function durationS(audio: PcmAudio): number {
  return audio.pcm.length / audio.sampleRateHz;
}

function packageInstalled(): boolean {
  try {
    require.resolve('@echogarden/espeak-ng-emscripten/espeak-ng.js');
    return true;
  } catch {
    return false;
  }
}

describe('EspeakWasmTts', function () {
  before(function () {
    if (!packageInstalled()) {
      console.log('      skipped: optional package @echogarden/espeak-ng-emscripten is not installed');
      this.skip();
    }
  });
  after(async () => {
    await shutdownEspeakWasm();
  });

  it('synthesizes "Hello world" at 22,050 Hz with a plausible duration and non-silent audio', async () => {
    const tts = new EspeakWasmTts();
    const audio = await tts.synthesize('Hello world');
    assert.equal(audio.sampleRateHz, 22050);
    assert.ok(audio.pcm instanceof Int16Array);
    const seconds = durationS(audio);
    assert.ok(seconds > 0.5 && seconds < 2.5, `duration ${seconds} s`);
    assert.ok(rms(audio.pcm) > 500, `rms ${rms(audio.pcm)}`);
  });

  it('lists the voices of the wasm build, Mandarin among them', async () => {
    const voices = await new EspeakWasmTts().listVoices();
    assert.ok(voices.length > 50, `${voices.length} voices`);
    const mandarin = voices.find((v) => v.languages.includes('cmn'));
    assert.ok(mandarin, 'a voice for cmn');
    assert.ok(voices.some((v) => v.languages.includes('en-us')));
  });

  it('speaks Chinese with the Mandarin voice (as option, as constructor voice, and via language zh)', async () => {
    const voices = await new EspeakWasmTts().listVoices();
    if (!voices.some((v) => v.languages.includes('cmn'))) {
      console.log('      skipped: this espeak-ng wasm build has no Mandarin voice');
      return;
    }
    const byOption = await new EspeakWasmTts().synthesize('你好', { voice: 'cmn' });
    const byConstructor = await new EspeakWasmTts({ voice: 'cmn' }).synthesize('你好');
    const byLanguage = await new EspeakWasmTts().synthesize('你好', { language: 'zh' });
    for (const audio of [byOption, byConstructor, byLanguage]) {
      const seconds = durationS(audio);
      assert.ok(seconds > 0.2 && seconds < 2, `duration ${seconds} s`);
      assert.ok(rms(audio.pcm) > 500, `rms ${rms(audio.pcm)}`);
    }
    // The English voice reads CJK as "Chinese letter ..." which takes far longer than two syllables.
    const english = await new EspeakWasmTts({ voice: 'en-us' }).synthesize('你好');
    assert.ok(english.pcm.length > byOption.pcm.length * 1.5, `en ${english.pcm.length} vs cmn ${byOption.pcm.length}`);
  });

  it('rate and speed change the duration', async () => {
    const normal = await new EspeakWasmTts().synthesize('The quick brown fox jumps over the lazy dog.');
    const fast = await new EspeakWasmTts({ rateWpm: 350 }).synthesize('The quick brown fox jumps over the lazy dog.');
    const slow = await new EspeakWasmTts().synthesize('The quick brown fox jumps over the lazy dog.', { speed: 0.6 });
    assert.ok(fast.pcm.length < normal.pcm.length * 0.75, `fast ${fast.pcm.length} vs ${normal.pcm.length}`);
    assert.ok(slow.pcm.length > normal.pcm.length * 1.3, `slow ${slow.pcm.length} vs ${normal.pcm.length}`);
  });

  it('two concurrent calls with different voices both succeed, each with its own voice', async () => {
    const en = new EspeakWasmTts({ voice: 'en-us' });
    const zh = new EspeakWasmTts({ voice: 'cmn' });
    const [a, b] = await Promise.all([en.synthesize('Good morning, how are you?'), zh.synthesize('早上好')]);
    const [aAlone, bAlone] = [await en.synthesize('Good morning, how are you?'), await zh.synthesize('早上好')];
    // Serialised on one instance, each call must keep its own voice: the same length as alone
    // (eSpeak varies by a few samples run to run, a wrong voice by far more).
    const close = (x: number, y: number): boolean => Math.abs(x - y) <= y * 0.02;
    assert.ok(close(a.pcm.length, aAlone.pcm.length), `${a.pcm.length} vs ${aAlone.pcm.length}`);
    assert.ok(close(b.pcm.length, bAlone.pcm.length), `${b.pcm.length} vs ${bAlone.pcm.length}`);
    assert.ok(rms(a.pcm) > 500 && rms(b.pcm) > 500);
  });

  it('rejects with ProviderError aborted when aborted before, while queued, or while running', async () => {
    const tts = new EspeakWasmTts();
    const already = AbortSignal.abort();
    await assert.rejects(tts.synthesize('Hello', { signal: already }), (err: unknown) => err instanceof ProviderError && err.code === 'aborted');

    const long = 'This sentence is long enough to keep the synthesizer busy for a while. '.repeat(15);
    const running = new AbortController();
    const queued = new AbortController();
    const first = tts.synthesize(long, { signal: running.signal });
    const second = tts.synthesize(long, { signal: queued.signal });
    const third = tts.synthesize('Still fine.');
    queued.abort();
    running.abort();
    await assert.rejects(first, (err: unknown) => err instanceof ProviderError && err.code === 'aborted');
    await assert.rejects(second, (err: unknown) => err instanceof ProviderError && err.code === 'aborted');
    // The instance keeps working after aborts.
    const after = await third;
    assert.ok(durationS(after) > 0.3 && rms(after.pcm) > 500);
  });

  it('an unknown voice rejects with ProviderError failed naming the voice', async () => {
    await assert.rejects(new EspeakWasmTts({ voice: 'xx-nonexistent' }).synthesize('Hello'), (err: unknown) => {
      return err instanceof ProviderError && err.code === 'failed' && /xx-nonexistent/.test(err.message);
    });
  });

  it('a missing wasm module rejects with ProviderError unavailable', async () => {
    const tts = new EspeakWasmTts({ modulePath: '/nonexistent/espeak-ng.js' });
    await assert.rejects(tts.synthesize('Hello'), (err: unknown) => err instanceof ProviderError && err.code === 'unavailable');
  });

  it('a module that fails to initialise rejects with unavailable and does not hang', async () => {
    // A real file that is not the emscripten module: the worker's import yields no factory.
    const tts = new EspeakWasmTts({ modulePath: require.resolve('mocha/package.json') });
    await assert.rejects(tts.synthesize('Hello'), (err: unknown) => err instanceof ProviderError && err.code === 'unavailable' && /failed to start/.test(err.message));
  });

  it('starts again after shutdown', async () => {
    await shutdownEspeakWasm();
    const audio = await new EspeakWasmTts().synthesize('Back again');
    assert.ok(rms(audio.pcm) > 500);
  });
});
