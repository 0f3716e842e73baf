import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { ProviderError } from '../../../src/providers/types';
import { SileroVadModel, defaultSileroModelPath } from '../../../src/providers/vad/silero-model';
import { concat, haveSpeechTools, noise, silence, speak } from './fixtures';

/** Probabilities of every whole window of pcm, one window at a time (batch size 1). */
async function probabilitiesAlone(model: SileroVadModel, pcm: Int16Array): Promise<number[]> {
  const stream = model.createStream();
  const out: number[] = [];
  for (let i = 0; i + 512 <= pcm.length; i += 512) out.push(await stream.process(pcm.subarray(i, i + 512)));
  stream.close();
  return out;
}

describe('providers/vad SileroVadModel', function () {
  let model: SileroVadModel;

  before(async function () {
    const path = defaultSileroModelPath();
    if (!existsSync(path)) {
      console.log(`    skipped: Silero model file missing at ${path}`);
      this.skip();
    }
    model = await SileroVadModel.load();
  });

  after(async function () {
    await model?.close();
  });

  it('rejects with model_missing when the file is absent', async function () {
    await assert.rejects(SileroVadModel.load({ modelPath: '/nonexistent/silero_vad_v5.onnx' }), (error: unknown) => {
      assert.ok(error instanceof ProviderError);
      assert.equal(error.code, 'model_missing');
      assert.match(error.message, /nonexistent/);
      return true;
    });
  });

  it('rejects a file that is not a Silero model as unavailable', async function () {
    await assert.rejects(SileroVadModel.load({ modelPath: 'package.json' }), { code: 'unavailable' });
  });

  it('scores speech high and silence/noise low', async function () {
    if (!haveSpeechTools()) {
      console.log('    skipped: espeak-ng or sox missing');
      this.skip();
    }
    const speech = speak('turn on the kitchen light please');
    const probs = await probabilitiesAlone(model, concat(silence(1000), speech, noise(1000, 30)));
    const silentWindows = probs.slice(0, 28); // the first ~900 ms
    const speechWindows = probs.slice(36, 36 + Math.floor(speech.length / 512) - 8);
    const tail = probs.slice(-20);
    assert.ok(Math.max(...silentWindows) < 0.2, `silence max ${Math.max(...silentWindows)}`);
    assert.ok(Math.max(...tail) < 0.2, `noise max ${Math.max(...tail)}`);
    const voiced = speechWindows.filter((p) => p >= 0.5).length / speechWindows.length;
    assert.ok(voiced > 0.8, `only ${voiced} of speech windows voiced`);
  });

  it('rejects windows of the wrong size', async function () {
    const stream = model.createStream();
    await assert.rejects(stream.process(new Int16Array(480)), { code: 'failed' });
    stream.close();
  });

  it('gives batched results equal to unbatched ones across 8 parallel streams', async function () {
    if (!haveSpeechTools()) {
      console.log('    skipped: espeak-ng or sox missing');
      this.skip();
    }
    const phrases = ['hello there', 'what time is it', 'turn off the lights', 'play some music', 'set a timer', 'good morning', 'how is the weather', 'stop'];
    const inputs = phrases.map((text, i) => concat(noise(100 + 64 * i, 20, i + 1), speak(text), silence(300)));
    const windows = Math.min(...inputs.map((pcm) => Math.floor(pcm.length / 512)));
    const alone: number[][] = [];
    for (const pcm of inputs) alone.push((await probabilitiesAlone(model, pcm)).slice(0, windows));

    const before = model.stats();
    const streams = inputs.map(() => model.createStream());
    const batched: number[][] = inputs.map(() => []);
    for (let k = 0; k < windows; k++) {
      const step = await Promise.all(streams.map((s, i) => s.process(inputs[i]!.subarray(k * 512, (k + 1) * 512))));
      step.forEach((p, i) => batched[i]!.push(p));
    }
    streams.forEach((s) => s.close());
    const after = model.stats();

    assert.equal(after.windows - before.windows, windows * 8);
    // One inference per step: every stream's window of the step went into the same run.
    assert.equal(after.inferences - before.inferences, windows);
    let maxDiff = 0;
    for (let i = 0; i < inputs.length; i++) {
      for (let k = 0; k < windows; k++) maxDiff = Math.max(maxDiff, Math.abs(batched[i]![k]! - alone[i]![k]!));
    }
    assert.ok(maxDiff < 1e-4, `max difference ${maxDiff}`);
    // The inputs hold speech, so this compared more than zeros.
    assert.ok(alone.every((p) => Math.max(...p) > 0.5));
  });

  it('keeps per-stream order when one stream queues many windows at once', async function () {
    if (!haveSpeechTools()) {
      console.log('    skipped: espeak-ng or sox missing');
      this.skip();
    }
    const pcm = concat(silence(200), speak('open the door'), silence(300));
    const expected = await probabilitiesAlone(model, pcm);
    const stream = model.createStream();
    const pending: Promise<number>[] = [];
    for (let i = 0; i + 512 <= pcm.length; i += 512) pending.push(stream.process(pcm.subarray(i, i + 512)));
    const got = await Promise.all(pending);
    stream.close();
    assert.equal(got.length, expected.length);
    got.forEach((p, k) => assert.ok(Math.abs(p - expected[k]!) < 1e-4, `window ${k}: ${p} vs ${expected[k]}`));
  });

  it('splits a batch larger than maxBatch', async function () {
    const small = await SileroVadModel.load({ maxBatch: 3 });
    try {
      const streams = Array.from({ length: 8 }, () => small.createStream());
      await Promise.all(streams.map((s, i) => s.process(noise(32, 100, i + 1))));
      assert.deepEqual(small.stats(), { inferences: 3, windows: 8 });
    } finally {
      await small.close();
    }
  });

  it('reset() makes a stream behave like a new one', async function () {
    if (!haveSpeechTools()) {
      console.log('    skipped: espeak-ng or sox missing');
      this.skip();
    }
    const pcm = concat(speak('good night'), silence(200));
    const fresh = await probabilitiesAlone(model, pcm);
    const stream = model.createStream();
    for (let i = 0; i + 512 <= pcm.length; i += 512) await stream.process(pcm.subarray(i, i + 512));
    stream.reset();
    const again: number[] = [];
    for (let i = 0; i + 512 <= pcm.length; i += 512) again.push(await stream.process(pcm.subarray(i, i + 512)));
    stream.close();
    again.forEach((p, k) => assert.ok(Math.abs(p - fresh[k]!) < 1e-5));
  });

  it('waits for the inference in flight before releasing the session on close', async function () {
    const own = await SileroVadModel.load();
    const streams = Array.from({ length: 64 }, () => own.createStream());
    const first = Promise.all(streams.map((s) => s.process(noise(32, 100))));
    // Let the flush start the inference, then close while it runs.
    await new Promise((resolve) => setImmediate(resolve));
    const queued = assert.rejects(streams[0]!.process(noise(32, 100)), { code: 'aborted' });
    await own.close();
    const probs = await first;
    assert.equal(probs.length, 64);
    assert.ok(probs.every((p) => p >= 0 && p <= 1));
    await queued;
  });

  it('rejects queued windows when the stream or the model closes', async function () {
    const own = await SileroVadModel.load();
    const a = own.createStream();
    const b = own.createStream();
    const pa = a.process(noise(32, 100));
    const pb = assert.rejects(b.process(noise(32, 100)), { code: 'aborted' });
    a.close();
    await assert.rejects(pa, { code: 'aborted' });
    await assert.rejects(a.process(new Int16Array(512)), { code: 'failed' });
    await own.close();
    await pb;
    assert.throws(() => own.createStream(), { code: 'failed' });
  });
});
