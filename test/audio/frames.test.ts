import assert from 'node:assert/strict';
import { AudioError } from '../../src/audio/errors';
import { FrameAccumulator, samplesPerFrame, splitFrames } from '../../src/audio/frames';

describe('audio/frames', () => {
  it('samplesPerFrame for the xiaozhi rates, and refuses fractional frames', () => {
    assert.equal(samplesPerFrame(16000, 60), 960);
    assert.equal(samplesPerFrame(24000, 60), 1440);
    assert.equal(samplesPerFrame(48000, 2.5), 120);
    assert.equal(samplesPerFrame(22050, 60), 1323);
    assert.throws(() => samplesPerFrame(44100, 2.5), (e: unknown) => e instanceof AudioError && e.code === 'unsupported');
    assert.throws(() => samplesPerFrame(0, 60), AudioError);
  });

  it('splitFrames zero-pads the last frame and returns [] for empty input', () => {
    const pcm = new Int16Array([1, 2, 3, 4, 5]);
    const frames = splitFrames(pcm, 2);
    assert.deepEqual(frames.map((f) => Array.from(f)), [[1, 2], [3, 4], [5, 0]]);
    assert.deepEqual(splitFrames(new Int16Array(0), 960), []);
    assert.equal(splitFrames(new Int16Array(1920), 960).length, 2, 'exact multiple: no padded extra frame');
    frames[0]![0] = 99;
    assert.equal(pcm[0], 1, 'frames are copies');
  });

  it('FrameAccumulator carries samples across chunks of any size and flushes a padded tail', () => {
    const acc = new FrameAccumulator(4);
    const input = Int16Array.from({ length: 23 }, (_, i) => i + 1);
    const chunks = [3, 1, 0, 7, 2, 10]; // sums to 23
    const out: Int16Array[] = [];
    let at = 0;
    for (const n of chunks) {
      out.push(...acc.push(input.subarray(at, at + n)));
      at += n;
      assert.equal(acc.pendingSamples, at % 4);
    }
    assert.equal(out.length, 5);
    const tail = acc.flush();
    assert.ok(tail);
    assert.deepEqual(Array.from(tail), [21, 22, 23, 0]);
    assert.equal(acc.pendingSamples, 0);
    assert.equal(acc.flush(), undefined);
    const joined = out.flatMap((f) => Array.from(f));
    assert.deepEqual(joined, Array.from(input.subarray(0, 20)));
    for (const f of out) assert.equal(f.length, 4);
  });

  it('FrameAccumulator frames are independent of later pushes', () => {
    const acc = new FrameAccumulator(2);
    const [first] = acc.push(new Int16Array([1, 2, 3]));
    acc.push(new Int16Array([4, 5, 6]));
    assert.deepEqual(Array.from(first!), [1, 2]);
  });
});
