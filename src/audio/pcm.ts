import { endianness } from 'node:os';

/** True when typed arrays on this machine are little-endian, as WAV and Opus PCM are. */
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

/**
 * View a Buffer of signed 16-bit little-endian PCM as an Int16Array.
 * Zero-copy when the Buffer starts on an even byte offset (the usual case); copies otherwise,
 * because an Int16Array cannot start at an odd offset (Node's small-Buffer pool often hands out
 * such slices). A trailing odd byte is ignored.
 */
export function bufferToInt16(buf: Buffer): Int16Array {
  const samples = buf.length >> 1;
  if (HOST_IS_LITTLE_ENDIAN && buf.byteOffset % 2 === 0) {
    return new Int16Array(buf.buffer, buf.byteOffset, samples);
  }
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = buf.readInt16LE(i * 2);
  return out;
}

/**
 * View an Int16Array as a Buffer of little-endian bytes, without copying.
 * The Buffer shares memory with `pcm`: writes to one show in the other.
 */
export function int16ToBuffer(pcm: Int16Array): Buffer {
  if (HOST_IS_LITTLE_ENDIAN) return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  // Big-endian hosts need a byte-swapped copy; no zero-copy view can exist there.
  const out = Buffer.allocUnsafe(pcm.byteLength);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i] ?? 0, i * 2);
  return out;
}

/** Join PCM chunks into one new array. */
export function concatInt16(parts: Int16Array[]): Int16Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Int16Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * RMS level in dB relative to full scale (32768), so a full-scale square wave is 0 dBFS and a
 * full-scale sine about -3 dBFS. Digital silence and empty input give -Infinity.
 */
export function rmsDbfs(pcm: Int16Array): number {
  if (pcm.length === 0) return -Infinity;
  let sumSquares = 0;
  for (let i = 0; i < pcm.length; i++) {
    const s = pcm[i] ?? 0;
    sumSquares += s * s;
  }
  const rms = Math.sqrt(sumSquares / pcm.length);
  return rms === 0 ? -Infinity : 20 * Math.log10(rms / 32768);
}

/** Duration in milliseconds of `samples` mono samples at `sampleRateHz`. */
export function durationMs(samples: number, sampleRateHz: number): number {
  return (samples * 1000) / sampleRateHz;
}

/**
 * Convert float samples in [-1, 1] to Int16, clamping out-of-range values (some TTS engines
 * overshoot) and mapping NaN to 0. Asymmetric scaling keeps -1 -> -32768 and 1 -> 32767.
 */
export function floatToInt16(f: Float32Array): Int16Array {
  const out = new Int16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const x = f[i] ?? 0;
    if (!(x === x)) continue; // NaN stays 0
    const c = x > 1 ? 1 : x < -1 ? -1 : x;
    out[i] = Math.round(c < 0 ? c * 32768 : c * 32767);
  }
  return out;
}

/**
 * Convert Int16 samples to floats in [-1, 1], scaling exactly as floatToInt16 does in reverse
 * (negatives by 32768, positives by 32767) so that Int16 -> float -> Int16 is lossless.
 */
export function int16ToFloat(pcm: Int16Array): Float32Array {
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    const s = pcm[i] ?? 0;
    out[i] = s < 0 ? s / 32768 : s / 32767;
  }
  return out;
}
