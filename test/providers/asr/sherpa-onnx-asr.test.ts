import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SherpaOnnxAsr, type SherpaAsrKind } from '../../../src/providers/asr/sherpa-onnx-asr';
import { MODEL_CATALOGUE } from '../../../src/providers/models/catalogue';
import { ProviderError, type AsrResult, type PcmAudio } from '../../../src/providers/types';

const silence: PcmAudio = { pcm: new Int16Array(1600), sampleRateHz: 16000 };

async function rejectsWith(promise: Promise<unknown>, code: ProviderError['code'], message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ProviderError, `ProviderError expected, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Bytes that pass the ONNX header check but are no valid protobuf model. */
const FAKE_ONNX = Buffer.from([0x08, 0x07, 0x12, 0xff, 0xff, 0x01, 0x02, 0x03]);

function sherpaLoads(): boolean {
  try {
    require('sherpa-onnx-node');
    return true;
  } catch {
    return false;
  }
}

describe('SherpaOnnxAsr', function () {
  let work: string;
  before(function () {
    work = mkdtempSync(join(tmpdir(), 'xz-sherpa-'));
  });
  after(function () {
    rmSync(work, { recursive: true, force: true });
  });

  const expectedSuggestion: Record<SherpaAsrKind, string> = {
    'sense-voice': 'sense-voice-small-int8',
    paraformer: 'paraformer-zh',
    whisper: 'whisper-tiny.en',
    'zipformer-streaming': 'zipformer-zh-en-streaming',
  };
  for (const [kind, name] of Object.entries(expectedSuggestion) as Array<[SherpaAsrKind, string]>) {
    it(`${kind}: a missing model gives 'model_missing' naming \`npm run models -- ${name}\``, async function () {
      const asr = new SherpaOnnxAsr({ modelDir: join(work, `absent-${kind}`), kind });
      await rejectsWith(asr.transcribe(silence), 'model_missing', new RegExp(`npm run models -- ${name.replace('.', '\\.')}\``));
    });
  }

  it('defaults to SenseVoice and suggests the catalogue entry matching the folder name', async function () {
    assert.equal(new SherpaOnnxAsr({ modelDir: work }).kind, 'sense-voice');
    const dir = join(work, MODEL_CATALOGUE['whisper-base']!.dir);
    mkdirSync(dir, { recursive: true });
    const asr = new SherpaOnnxAsr({ modelDir: dir, kind: 'whisper' });
    await rejectsWith(asr.load(), 'model_missing', /npm run models -- whisper-base`/);
  });

  it('lists exactly the files that are missing', async function () {
    const dir = join(work, 'sv-no-tokens');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.int8.onnx'), FAKE_ONNX);
    const asr = new SherpaOnnxAsr({ modelDir: dir, kind: 'sense-voice' });
    await rejectsWith(asr.transcribe(silence), 'model_missing', /\(missing tokens\.txt\)/);

    const zdir = join(work, 'zf-no-joiner');
    mkdirSync(zdir, { recursive: true });
    for (const f of ['encoder-epoch-99-avg-1.int8.onnx', 'decoder-epoch-99-avg-1.onnx']) writeFileSync(join(zdir, f), FAKE_ONNX);
    writeFileSync(join(zdir, 'tokens.txt'), 'a 0\n');
    const zipformer = new SherpaOnnxAsr({ modelDir: zdir, kind: 'zipformer-streaming' });
    await rejectsWith(zipformer.transcribe(silence), 'model_missing', /\(missing joiner-\*\.onnx\)/);
  });

  it("refuses files that are not ONNX (e.g. a Git LFS pointer) before onnxruntime sees them", async function () {
    const dir = join(work, 'zf-lfs');
    mkdirSync(dir, { recursive: true });
    const pointer = 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n';
    for (const f of ['encoder-epoch-99-avg-1.int8.onnx', 'decoder-epoch-99-avg-1.onnx', 'joiner-epoch-99-avg-1.int8.onnx']) {
      writeFileSync(join(dir, f), pointer);
    }
    writeFileSync(join(dir, 'tokens.txt'), 'a 0\n');
    const asr = new SherpaOnnxAsr({ modelDir: dir, kind: 'zipformer-streaming' });
    await rejectsWith(asr.load(), 'model_missing', /encoder-epoch-99-avg-1\.int8\.onnx.*not ONNX/);
  });

  it('a streaming session reports the load error through results()', async function () {
    const asr = new SherpaOnnxAsr({ modelDir: join(work, 'nothing-here'), kind: 'zipformer-streaming' });
    const session = asr.createStream(16000);
    session.write(new Int16Array(960));
    session.end();
    await rejectsWith(
      (async () => {
        for await (const r of session.results()) void r;
      })(),
      'model_missing',
    );
  });

  it("rejects with 'aborted' before loading when the signal is already aborted", async function () {
    const asr = new SherpaOnnxAsr({ modelDir: join(work, 'absent') });
    await rejectsWith(asr.transcribe(silence, { signal: AbortSignal.abort() }), 'aborted');
  });

  it("loads sherpa-onnx-node lazily and maps a model it cannot parse to 'failed'", async function () {
    if (!sherpaLoads()) {
      console.log('      (skipped: sherpa-onnx-node is not installed here)');
      this.skip();
    }
    const dir = join(work, 'sv-corrupt');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.int8.onnx'), FAKE_ONNX);
    writeFileSync(join(dir, 'tokens.txt'), 'a 0\nb 1\n');
    const asr = new SherpaOnnxAsr({ modelDir: dir, kind: 'sense-voice', numThreads: 1 });
    // The addon accepted the config (paths, sense-voice fields) and failed on the model bytes.
    await rejectsWith(asr.transcribe(silence), 'failed', /model\.int8\.onnx/);
    // A failed load is not memoised: the next call tries again (and fails the same way).
    await rejectsWith(asr.load(), 'failed');
  });

  describe('session logic against a scripted recognizer (no model here; checks our glue, not recognition)', function () {
    /** Scripted stand-in for sherpa-onnx-node: records configs and counts the samples it is given. */
    function scriptedAddon() {
      const seen = { offlineConfigs: [] as unknown[], onlineConfigs: [] as unknown[], offlineSamples: [] as number[], sampleRates: [] as number[] };
      class OnlineStream {
        pending = 0;
        total = 0;
        finished = false;
        acceptWaveform(w: { samples: Float32Array; sampleRate: number }): void {
          assert.ok(w.samples instanceof Float32Array);
          seen.sampleRates.push(w.sampleRate);
          this.pending += w.samples.length;
        }
        inputFinished(): void {
          this.finished = true;
        }
      }
      const addon = {
        OfflineRecognizer: {
          async createAsync(config: unknown) {
            seen.offlineConfigs.push(config);
            return {
              createStream() {
                let n = 0;
                let peak = 0;
                return {
                  acceptWaveform(w: { samples: Float32Array; sampleRate: number }) {
                    n += w.samples.length;
                    for (const x of w.samples) peak = Math.max(peak, Math.abs(x));
                    seen.sampleRates.push(w.sampleRate);
                  },
                  get n() {
                    return n;
                  },
                  get peak() {
                    return peak;
                  },
                };
              },
              async decodeAsync(stream: { n: number; peak: number }) {
                seen.offlineSamples.push(stream.n);
                return { text: ` ${stream.n} samples peak ${stream.peak.toFixed(2)} `, lang: '<|en|>', emotion: '<|NEUTRAL|>', event: '<|Speech|>' };
              },
            };
          },
        },
        OnlineRecognizer: class {
          constructor(config: unknown) {
            seen.onlineConfigs.push(config);
          }
          createStream() {
            return new OnlineStream();
          }
          // Like the real one: ready while at least one 100 ms block is buffered.
          isReady(s: OnlineStream) {
            return s.pending >= 1600;
          }
          decode(s: OnlineStream) {
            s.pending -= 1600;
            s.total += 1600;
          }
          getResult(s: OnlineStream) {
            return { text: Array.from({ length: Math.floor(s.total / 4800) }, (_, i) => `W${i + 1}`).join(' ') };
          }
        },
      };
      return { addon, seen };
    }

    function modelFolder(name: string, files: string[]): string {
      const dir = join(work, name);
      mkdirSync(dir, { recursive: true });
      for (const f of files) writeFileSync(join(dir, f), f.endsWith('.onnx') ? FAKE_ONNX : 'a 0\n');
      return dir;
    }

    it('builds the SenseVoice config (int8 preferred, language, ITN) and buffers a session until end()', async function () {
      const dir = modelFolder('sv-scripted', ['model.onnx', 'model.int8.onnx', 'tokens.txt']);
      const { addon, seen } = scriptedAddon();
      const asr = new SherpaOnnxAsr({ modelDir: dir, language: 'zh-CN', numThreads: 2, addon });
      const batch = await asr.transcribe({ pcm: new Int16Array(8000).fill(16384), sampleRateHz: 16000 });
      assert.deepEqual(batch, { text: '8000 samples peak 0.50', language: 'en', extra: { emotion: 'NEUTRAL', event: 'Speech' } });
      assert.deepEqual(seen.offlineConfigs[0], {
        featConfig: { sampleRate: 16000, featureDim: 80 },
        modelConfig: {
          senseVoice: { model: join(dir, 'model.int8.onnx'), language: 'zh', useInverseTextNormalization: 1 },
          tokens: join(dir, 'tokens.txt'),
          numThreads: 2,
          provider: 'cpu',
          debug: 0,
        },
      });

      const session = asr.createStream(8000);
      const chunk = new Int16Array(480).fill(-32768);
      for (let i = 0; i < 5; i++) session.write(chunk);
      chunk.fill(0); // the caller reusing its buffer must not change what was written
      session.end();
      const results: Array<AsrResult & { partial: boolean }> = [];
      for await (const r of session.results()) results.push(r);
      assert.equal(results.length, 1, 'offline kinds give only the final');
      assert.equal(results[0]!.partial, false);
      assert.equal(results[0]!.text, '2400 samples peak 1.00');
      assert.equal(seen.sampleRates.at(-1), 8000, 'the session sample rate reaches the recognizer');
      assert.equal(seen.offlineConfigs.length, 1, 'the recognizer is loaded once');
      assert.throws(() => session.write(chunk), /after end/);
    });

    it('passes the Whisper and Paraformer file layouts', async function () {
      const wdir = modelFolder('whisper-scripted', ['base-encoder.onnx', 'base-encoder.int8.onnx', 'base-decoder.onnx', 'base-decoder.int8.onnx', 'base-tokens.txt']);
      const w = scriptedAddon();
      await new SherpaOnnxAsr({ modelDir: wdir, kind: 'whisper', preferInt8: false, addon: w.addon }).load();
      const wcfg = w.seen.offlineConfigs[0] as { modelConfig: Record<string, unknown> };
      assert.deepEqual(wcfg.modelConfig.whisper, { encoder: join(wdir, 'base-encoder.onnx'), decoder: join(wdir, 'base-decoder.onnx'), language: '', task: 'transcribe' });
      assert.equal(wcfg.modelConfig.tokens, join(wdir, 'base-tokens.txt'));

      const pdir = modelFolder('paraformer-scripted', ['model.int8.onnx', 'tokens.txt']);
      const p = scriptedAddon();
      await new SherpaOnnxAsr({ modelDir: pdir, kind: 'paraformer', addon: p.addon }).load();
      assert.deepEqual((p.seen.offlineConfigs[0] as { modelConfig: Record<string, unknown> }).modelConfig.paraformer, { model: join(pdir, 'model.int8.onnx') });
    });

    it('streams partial results from the online recognizer, then exactly one final after the tail padding', async function () {
      const dir = modelFolder('zf-scripted', [
        'encoder-epoch-99-avg-1.onnx',
        'encoder-epoch-99-avg-1.int8.onnx',
        'decoder-epoch-99-avg-1.onnx',
        'joiner-epoch-99-avg-1.int8.onnx',
        'tokens.txt',
      ]);
      const { addon, seen } = scriptedAddon();
      const asr = new SherpaOnnxAsr({ modelDir: dir, kind: 'zipformer-streaming', addon });
      const session = asr.createStream(16000);
      for (let i = 0; i < 20; i++) session.write(new Int16Array(960)); // 1.2 s in 60 ms frames
      session.end();
      const results: Array<AsrResult & { partial: boolean }> = [];
      for await (const r of session.results()) results.push(r);
      // 4,800 decoded samples make one scripted word; the final also decodes 0.4 s of tail padding.
      assert.deepEqual(
        results.map((r) => [r.text, r.partial]),
        [
          ['W1', true],
          ['W1 W2', true],
          ['W1 W2 W3', true],
          ['W1 W2 W3 W4', true],
          ['W1 W2 W3 W4 W5', false],
        ],
      );
      const cfg = seen.onlineConfigs[0] as { modelConfig: { transducer: Record<string, string>; modelType: string }; enableEndpoint: number };
      assert.deepEqual(cfg.modelConfig.transducer, {
        encoder: join(dir, 'encoder-epoch-99-avg-1.int8.onnx'),
        decoder: join(dir, 'decoder-epoch-99-avg-1.onnx'),
        joiner: join(dir, 'joiner-epoch-99-avg-1.int8.onnx'),
      });
      assert.equal(cfg.modelConfig.modelType, 'zipformer');
      assert.equal(cfg.enableEndpoint, 0);
    });

    it("ends a session with 'aborted' when its signal aborts", async function () {
      const dir = modelFolder('sv-abort', ['model.int8.onnx', 'tokens.txt']);
      const { addon } = scriptedAddon();
      const asr = new SherpaOnnxAsr({ modelDir: dir, addon });
      const controller = new AbortController();
      const session = asr.createStream(16000, { signal: controller.signal });
      session.write(new Int16Array(960));
      controller.abort();
      await rejectsWith(
        (async () => {
          for await (const r of session.results()) void r;
        })(),
        'aborted',
      );
    });
  });

  describe('with a real model under ./models', function () {
    const modelsDir = resolve(process.env.XIAOZHI_MODELS_DIR ?? 'models');
    const asrKinds: SherpaAsrKind[] = ['sense-voice', 'paraformer', 'whisper', 'zipformer-streaming'];
    const installed = Object.values(MODEL_CATALOGUE).filter(
      (e) => (asrKinds as string[]).includes(e.kind) && existsSync(join(modelsDir, e.dir)),
    );
    let speech: PcmAudio | undefined;

    before(function () {
      if (installed.length === 0) return;
      const dir = mkdtempSync(join(tmpdir(), 'xz-sherpa-speech-'));
      try {
        execFileSync('espeak-ng', ['-v', 'en-us', '-w', join(dir, 'speech.wav'), 'turn on the light in the kitchen']);
        execFileSync('sox', [join(dir, 'speech.wav'), '-r', '16000', '-c', '1', '-b', '16', '-e', 'signed-integer', '-t', 'raw', join(dir, 'speech.raw')]);
        const raw = readFileSync(join(dir, 'speech.raw'));
        const pcm = new Int16Array(raw.length >> 1);
        for (let i = 0; i < pcm.length; i++) pcm[i] = raw.readInt16LE(i * 2);
        speech = { pcm, sampleRateHz: 16000 };
      } catch (err) {
        console.log(`      (cannot make speech with espeak-ng/sox: ${(err as Error).message})`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('recognizes espeak-ng speech with every installed ASR model', async function () {
      if (installed.length === 0) {
        console.log(`      (skipped: no ASR model in ${modelsDir}; none can be downloaded on this machine. Run \`npm run models -- sense-voice-small-int8\` where the network allows)`);
        this.skip();
      }
      if (!speech || !sherpaLoads()) {
        console.log('      (skipped: espeak-ng, sox or sherpa-onnx-node missing)');
        this.skip();
      }
      this.timeout(120_000);
      for (const entry of installed) {
        const asr = new SherpaOnnxAsr({ modelDir: join(modelsDir, entry.dir), kind: entry.kind as SherpaAsrKind, numThreads: 2 });
        const batch = await asr.transcribe(speech!);
        console.log(`      ${entry.name}: "${batch.text}"`);
        assert.match(batch.text, /light|kitchen/i, entry.name);

        // Streaming API: 60 ms chunks, partials (online kinds) then exactly one final.
        const session = asr.createStream(16000);
        for (let at = 0; at < speech!.pcm.length; at += 960) session.write(speech!.pcm.subarray(at, at + 960));
        session.end();
        const results: Array<AsrResult & { partial: boolean }> = [];
        for await (const r of session.results()) results.push(r);
        assert.equal(results.filter((r) => !r.partial).length, 1);
        assert.equal(results.at(-1)?.partial, false);
        if (entry.kind === 'zipformer-streaming') assert.ok(results.length > 1, 'partial results while streaming');
        assert.match(results.at(-1)!.text, /light|kitchen/i);
        await asr.close();
      }
    });
  });
});
