import assert from 'node:assert/strict';
import { ManualBuffer } from '../../../src/providers/vad/manual-buffer';

function ramp(from: number, length: number): Int16Array {
  return Int16Array.from({ length }, (_, i) => (from + i) % 30000);
}

describe('providers/vad ManualBuffer', function () {
  it('returns everything pushed, in order, and empties on take', function () {
    const buffer = new ManualBuffer();
    buffer.push(ramp(0, 960));
    buffer.push(ramp(960, 100));
    assert.equal(buffer.durationMs, 1060 / 16);
    assert.deepEqual(buffer.take(), ramp(0, 1060));
    assert.equal(buffer.take().length, 0);
  });

  it('copies pushed audio so callers can reuse their buffer', function () {
    const buffer = new ManualBuffer();
    const frame = ramp(0, 10);
    buffer.push(frame);
    frame.fill(0);
    assert.deepEqual(buffer.take(), ramp(0, 10));
  });

  it('drops the oldest audio beyond maxMs', function () {
    const buffer = new ManualBuffer({ maxMs: 100, sampleRateHz: 16000 }); // 1600 samples
    for (let i = 0; i < 5; i++) buffer.push(ramp(i * 960, 960));
    assert.equal(buffer.durationMs, 100);
    assert.equal(buffer.droppedSamples, 5 * 960 - 1600);
    assert.deepEqual(buffer.take(), ramp(5 * 960 - 1600, 1600));
    assert.equal(buffer.droppedSamples, 0);
  });

  it('keeps the tail of a single push larger than the bound', function () {
    const buffer = new ManualBuffer({ maxMs: 10 }); // 160 samples
    buffer.push(ramp(0, 1000));
    assert.deepEqual(buffer.take(), ramp(840, 160));
  });

  it('clear() empties it', function () {
    const buffer = new ManualBuffer({ maxMs: 60000 });
    assert.equal(buffer.maxMs, 60000);
    buffer.push(ramp(0, 500));
    buffer.clear();
    assert.equal(buffer.durationMs, 0);
    assert.equal(buffer.take().length, 0);
  });
});
