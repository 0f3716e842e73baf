import assert from 'node:assert/strict';
import { bufferToInt16, concatInt16, durationMs, floatToInt16, int16ToBuffer, int16ToFloat, rmsDbfs } from '../../src/audio/pcm';

describe('audio/pcm', () => {
  it('bufferToInt16 reads little-endian and is a zero-copy view when aligned', () => {
    const buf = Buffer.from([0x01, 0x00, 0xff, 0x7f, 0x00, 0x80, 0xff, 0xff]);
    const pcm = bufferToInt16(buf);
    assert.deepEqual(Array.from(pcm), [1, 32767, -32768, -1]);
    pcm[0] = 2;
    assert.equal(buf[0], 2, 'aligned buffer should be shared, not copied');
  });

  it('bufferToInt16 copies from an odd byte offset and ignores a trailing odd byte', () => {
    const backing = Buffer.from([0xaa, 0x34, 0x12, 0xcd, 0xab, 0x99]);
    const odd = backing.subarray(1); // starts at byte offset 1: cannot be an Int16Array view
    assert.equal(odd.byteOffset % 2, 1);
    const pcm = bufferToInt16(odd);
    assert.deepEqual(Array.from(pcm), [0x1234, 0xabcd - 0x10000]);
    pcm[0] = 0;
    assert.equal(backing[1], 0x34, 'unaligned input must have been copied');
  });

  it('int16ToBuffer is a zero-copy little-endian view, also of a subarray', () => {
    const pcm = new Int16Array([0, 0x0102, -2, 7]);
    const sub = pcm.subarray(1, 3);
    const buf = int16ToBuffer(sub);
    assert.deepEqual(Array.from(buf), [0x02, 0x01, 0xfe, 0xff]);
    buf[0] = 0x03;
    assert.equal(pcm[1], 0x0103);
    assert.deepEqual(Array.from(bufferToInt16(int16ToBuffer(pcm))), Array.from(pcm));
  });

  it('concatInt16 joins parts in order, including empty ones', () => {
    const out = concatInt16([new Int16Array([1, 2]), new Int16Array(0), new Int16Array([3])]);
    assert.deepEqual(Array.from(out), [1, 2, 3]);
    assert.equal(concatInt16([]).length, 0);
  });

  it('rmsDbfs: full-scale square 0 dB, half-scale -6 dB, silence -Infinity', () => {
    const square = new Int16Array(1000).map((_, i) => (i % 2 ? 32767 : -32768));
    assert.ok(Math.abs(rmsDbfs(square)) < 0.01);
    const half = new Int16Array(1000).fill(16384);
    assert.ok(Math.abs(rmsDbfs(half) - -6.0206) < 0.01, String(rmsDbfs(half)));
    assert.equal(rmsDbfs(new Int16Array(100)), -Infinity);
    assert.equal(rmsDbfs(new Int16Array(0)), -Infinity);
  });

  it('durationMs', () => {
    assert.equal(durationMs(960, 16000), 60);
    assert.equal(durationMs(22050, 22050), 1000);
  });

  it('floatToInt16 clamps, maps NaN to 0, and round-trips with int16ToFloat exactly', () => {
    const f = new Float32Array([0, 1, -1, 2, -3, NaN, 0.5]);
    assert.deepEqual(Array.from(floatToInt16(f)), [0, 32767, -32768, 32767, -32768, 0, 16384]);
    const all = new Int16Array(65536).map((_, i) => i - 32768);
    const back = floatToInt16(int16ToFloat(all));
    for (let i = 0; i < all.length; i++) if (back[i] !== all[i]) assert.fail(`sample ${all[i]} came back as ${back[i]}`);
    const asFloat = int16ToFloat(new Int16Array([-32768, 32767]));
    assert.equal(asFloat[0], -1);
    assert.equal(asFloat[1], 1);
  });
});
