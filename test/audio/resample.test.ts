import assert from 'node:assert/strict';
import { concatInt16, rmsDbfs } from '../../src/audio/pcm';
import { resample, Resampler } from '../../src/audio/resample';
import { espeakPcm, hasEspeak, sine, upwardZeroCrossings } from './fixtures';

describe('audio/resample', () => {
  it('22050 -> 16000 -> 24000 keeps the duration of espeak speech and its level', async function () {
    if (!hasEspeak()) {
      console.log('    espeak-ng not installed: skipping');
      this.skip();
    }
    const { pcm, sampleRateHz } = espeakPcm('What is the weather like tomorrow in Berlin?');
    assert.equal(sampleRateHz, 22050);
    const at16k = await resample(pcm, 22050, 16000);
    assert.ok(Math.abs(at16k.length - (pcm.length * 16000) / 22050) <= 1, `${pcm.length} -> ${at16k.length}`);
    const at24k = await resample(at16k, 16000, 24000);
    assert.equal(at24k.length, Math.round(at16k.length * 1.5));
    // Speech energy sits well below 8 kHz, so the level barely changes through the low-pass.
    assert.ok(Math.abs(rmsDbfs(at24k) - rmsDbfs(pcm)) < 1, `${rmsDbfs(pcm)} dBFS -> ${rmsDbfs(at24k)} dBFS`);
  });

  it('a 440 Hz sine keeps its frequency and level (zero crossings, RMS), with no leading delay', async () => {
    const seconds = 2;
    const tone = sine(440, 22050, seconds);
    for (const [from, to] of [
      [22050, 16000],
      [22050, 24000],
      [22050, 8000],
      [22050, 48000],
    ] as const) {
      const out = await resample(tone, from, to);
      assert.equal(out.length, Math.round((tone.length * to) / from));
      const crossings = upwardZeroCrossings(out);
      assert.ok(Math.abs(crossings - 440 * seconds) <= 2, `${from}->${to}: ${crossings} upward zero crossings`);
      assert.ok(Math.abs(rmsDbfs(out.subarray(100, -100)) - rmsDbfs(tone)) < 0.3, `${from}->${to} level`);
      // skip_zeros aligns output with input: the first crossing stays within ~a sample of t = 1/440 s.
      let firstUp = -1;
      for (let i = 10; i < out.length && firstUp < 0; i++) if ((out[i - 1] ?? 0) < 0 && (out[i] ?? 0) >= 0) firstUp = i;
      assert.ok(Math.abs(firstUp / to - 1 / 440) < 2 / to, `${from}->${to}: first upward crossing at ${firstUp / to} s`);
    }
  });

  it('streaming in odd chunk sizes gives the same samples as one shot, and resets after flush', async () => {
    const tone = sine(1000, 22050, 0.7, 12000);
    const oneShot = await resample(tone, 22050, 16000);
    const r = await Resampler.create(22050, 16000);
    try {
      for (let round = 0; round < 2; round++) {
        const parts: Int16Array[] = [];
        const sizes = [1, 17, 333, 0, 1024, 5, 4096, 2];
        let at = 0;
        for (let i = 0; at < tone.length; i++) {
          const n = sizes[i % sizes.length] ?? 1;
          parts.push(r.process(tone.subarray(at, at + n)));
          at += n;
        }
        parts.push(r.flush());
        const streamed = concatInt16(parts);
        assert.equal(streamed.length, oneShot.length, `round ${round}`);
        let maxDiff = 0;
        for (let i = 0; i < streamed.length; i++) maxDiff = Math.max(maxDiff, Math.abs((streamed[i] ?? 0) - (oneShot[i] ?? 0)));
        assert.ok(maxDiff <= 1, `round ${round}: max difference ${maxDiff}`);
      }
    } finally {
      r.close();
    }
  });

  it('equal rates pass through; closed resamplers refuse work; bad arguments are refused', async () => {
    const same = await Resampler.create(16000, 16000);
    const input = new Int16Array([1, -2, 3]);
    const out = same.process(input);
    assert.deepEqual(Array.from(out), [1, -2, 3]);
    out[0] = 9;
    assert.equal(input[0], 1, 'pass-through returns a copy');
    assert.equal(same.flush().length, 0);
    same.close();

    const r = await Resampler.create(16000, 24000, 3);
    r.close();
    r.close();
    assert.throws(() => r.process(new Int16Array(10)), /closed/);
    await assert.rejects(Resampler.create(0, 16000), RangeError);
    await assert.rejects(Resampler.create(16000, 22050.5), RangeError);
    await assert.rejects(Resampler.create(16000, 8000, 11), RangeError);
  });

  it('reset() drops buffered input so a new stream starts clean', async () => {
    const r = await Resampler.create(16000, 24000);
    try {
      r.process(sine(500, 16000, 0.05, 20000));
      r.reset();
      const out = concatInt16([r.process(new Int16Array(1600)), r.flush()]);
      assert.equal(out.length, 2400);
      assert.ok(out.every((s) => s === 0), 'no energy from before the reset leaks out');
    } finally {
      r.close();
    }
  });
});
