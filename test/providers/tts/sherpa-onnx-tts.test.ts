import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SherpaOnnxTts, buildSherpaTtsConfig } from '../../../src/providers/tts/sherpa-onnx-tts';
import { ProviderError } from '../../../src/providers/types';

function sherpaLoadable(): boolean {
  try {
    require('sherpa-onnx-node');
    return true;
  } catch {
    return false;
  }
}

describe('SherpaOnnxTts', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'xiaozhi-sherpa-tts-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('an absent model folder -> model_missing with the npm run models hint', async () => {
    const tts = new SherpaOnnxTts({ modelDir: join(tmp, 'vits-piper-en_US-lessac-medium'), kind: 'vits' });
    await assert.rejects(tts.synthesize('Hello'), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.code, 'model_missing');
      assert.match(err.message, /does not exist/);
      assert.match(err.message, /npm run models -- piper-en_US-lessac-medium/);
      return true;
    });
  });

  it('an incomplete folder -> model_missing naming the missing files', async () => {
    const dir = join(tmp, 'kokoro-multi-lang-v1_0');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.onnx'), '');
    const tts = new SherpaOnnxTts({ modelDir: dir, kind: 'kokoro' });
    await assert.rejects(tts.synthesize('Hello'), (err: unknown) => {
      assert.ok(err instanceof ProviderError && err.code === 'model_missing');
      assert.match(err.message, /tokens\.txt/);
      assert.match(err.message, /voices\.bin/);
      assert.match(err.message, /npm run models -- kokoro-multi-lang-v1_0/);
      return true;
    });
  });

  it('builds the config of a Piper folder', () => {
    const dir = join(tmp, 'vits-piper-en_US-amy-low');
    mkdirSync(join(dir, 'espeak-ng-data'), { recursive: true });
    for (const f of ['en_US-amy-low.onnx', 'tokens.txt', 'en_US-amy-low.onnx.json']) writeFileSync(join(dir, f), '');
    const built = buildSherpaTtsConfig({ modelDir: dir, kind: 'vits', numThreads: 2 });
    assert.ok('config' in built);
    assert.deepEqual(built.config, {
      model: {
        vits: { model: join(dir, 'en_US-amy-low.onnx'), tokens: join(dir, 'tokens.txt'), dataDir: join(dir, 'espeak-ng-data') },
        numThreads: 2,
        provider: 'cpu',
        debug: 0,
      },
      maxNumSentences: 1,
    });
  });

  it('builds the config of a multilingual Kokoro folder (lexicons, rule FSTs)', () => {
    const dir = join(tmp, 'kokoro');
    mkdirSync(join(dir, 'espeak-ng-data'), { recursive: true });
    for (const f of ['model.onnx', 'voices.bin', 'tokens.txt', 'lexicon-us-en.txt', 'lexicon-zh.txt', 'date-zh.fst', 'number-zh.fst']) writeFileSync(join(dir, f), '');
    const built = buildSherpaTtsConfig({ modelDir: dir, kind: 'kokoro' });
    assert.ok('config' in built);
    const model = built.config.model as { kokoro: Record<string, string> };
    assert.equal(model.kokoro.voices, join(dir, 'voices.bin'));
    assert.equal(model.kokoro.lexicon, `${join(dir, 'lexicon-us-en.txt')},${join(dir, 'lexicon-zh.txt')}`);
    assert.equal(built.config.ruleFsts, `${join(dir, 'date-zh.fst')},${join(dir, 'number-zh.fst')}`);
  });

  it('a Matcha folder without a vocoder is reported missing; one beside it is found', () => {
    const dir = join(tmp, 'matcha-icefall-en_US-ljspeech');
    mkdirSync(dir);
    for (const f of ['model-steps-3.onnx', 'tokens.txt']) writeFileSync(join(dir, f), '');
    const without = buildSherpaTtsConfig({ modelDir: dir, kind: 'matcha' });
    assert.ok('missing' in without && without.missing.some((m) => /vocoder/.test(m)));
    writeFileSync(join(tmp, 'vocos-22khz-univ.onnx'), '');
    const withVocoder = buildSherpaTtsConfig({ modelDir: dir, kind: 'matcha' });
    assert.ok('config' in withVocoder);
    const model = withVocoder.config.model as { matcha: Record<string, string> };
    assert.equal(model.matcha.acousticModel, join(dir, 'model-steps-3.onnx'));
    assert.equal(model.matcha.vocoder, join(tmp, 'vocos-22khz-univ.onnx'));
  });

  it('a corrupt model file -> ProviderError failed from the native loader (process survives)', async function () {
    if (!sherpaLoadable()) {
      console.log('      skipped: sherpa-onnx-node cannot be loaded on this machine');
      this.skip();
    }
    const dir = join(tmp, 'vits-broken');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.onnx'), 'this is not an onnx protobuf');
    writeFileSync(join(dir, 'tokens.txt'), '_ 0\na 1\n');
    const tts = new SherpaOnnxTts({ modelDir: dir, kind: 'vits' });
    await assert.rejects(tts.synthesize('Hello'), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.code, 'failed');
      assert.match(err.message, /could not load/);
      return true;
    });
  });

  it('synthesizes with a real Piper or Kokoro model when one is installed', async function () {
    this.timeout(60000);
    const modelsDir = resolve(process.env.XIAOZHI_MODELS_DIR ?? 'models');
    const candidates: Array<{ dir: string; kind: 'vits' | 'kokoro'; text: string }> = [
      { dir: join(modelsDir, 'vits-piper-en_US-lessac-medium'), kind: 'vits', text: 'Hello world, this is a test.' },
      { dir: join(modelsDir, 'kokoro-multi-lang-v1_0'), kind: 'kokoro', text: 'Hello world, 你好世界。' },
    ];
    const found = candidates.find((c) => existsSync(c.dir));
    if (!found || !sherpaLoadable()) {
      console.log(`      skipped: no TTS model under ${modelsDir} (npm run models -- piper-en_US-lessac-medium) or sherpa-onnx-node missing`);
      this.skip();
    }
    const tts = new SherpaOnnxTts({ modelDir: found.dir, kind: found.kind });
    const audio = await tts.synthesize(found.text);
    const seconds = audio.pcm.length / audio.sampleRateHz;
    assert.ok(seconds > 0.5 && seconds < 6, `duration ${seconds}`);
    let sum = 0;
    for (const s of audio.pcm) sum += s * s;
    assert.ok(Math.sqrt(sum / audio.pcm.length) > 300);
  });
});
