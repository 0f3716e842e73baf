import { AudioError } from './errors';

/**
 * Samples in one frame of `frameMs` at `sampleRateHz` (960 for 16 kHz / 60 ms, 1440 for 24 kHz / 60 ms).
 * Throws AudioError('unsupported') when the frame does not hold a whole number of samples
 * (e.g. 44.1 kHz at 2.5 ms), because a fractional frame cannot be encoded.
 */
export function samplesPerFrame(sampleRateHz: number, frameMs: number): number {
  const exact = (sampleRateHz * frameMs) / 1000;
  const samples = Math.round(exact);
  if (!(sampleRateHz > 0) || !(frameMs > 0) || Math.abs(exact - samples) > 1e-9 || samples < 1) {
    throw new AudioError('unsupported', `a ${frameMs} ms frame at ${sampleRateHz} Hz is not a whole number of samples`);
  }
  return samples;
}

/**
 * Cut PCM into frames of exactly `frameSamples`; the last frame is zero-padded to full length.
 * Frames are copies, so the caller may reuse `pcm`. Empty input gives [].
 */
export function splitFrames(pcm: Int16Array, frameSamples: number): Int16Array[] {
  assertFrameSamples(frameSamples);
  const frames: Int16Array[] = [];
  for (let at = 0; at < pcm.length; at += frameSamples) {
    const frame = new Int16Array(frameSamples); // zero-filled, so a short tail ends padded
    frame.set(pcm.subarray(at, Math.min(at + frameSamples, pcm.length)));
    frames.push(frame);
  }
  return frames;
}

/**
 * Collects PCM chunks of any length and hands out whole frames, carrying the remainder to the
 * next push (TTS engines and resamplers emit chunk sizes unrelated to the 60 ms codec frame).
 */
export class FrameAccumulator {
  private readonly frameSamples: number;
  private pending: Int16Array;
  private pendingLength = 0;

  /** @param frameSamples samples per output frame, e.g. samplesPerFrame(24000, 60) */
  constructor(frameSamples: number) {
    assertFrameSamples(frameSamples);
    this.frameSamples = frameSamples;
    this.pending = new Int16Array(frameSamples);
  }

  /** Samples held back waiting for a full frame (always less than one frame). */
  get pendingSamples(): number {
    return this.pendingLength;
  }

  /** Add samples; returns every frame completed by them (new arrays, possibly none). */
  push(pcm: Int16Array): Int16Array[] {
    const frames: Int16Array[] = [];
    let at = 0;
    while (at < pcm.length) {
      const take = Math.min(this.frameSamples - this.pendingLength, pcm.length - at);
      this.pending.set(pcm.subarray(at, at + take), this.pendingLength);
      this.pendingLength += take;
      at += take;
      if (this.pendingLength === this.frameSamples) {
        frames.push(this.pending);
        this.pending = new Int16Array(this.frameSamples);
        this.pendingLength = 0;
      }
    }
    return frames;
  }

  /** Return the held-back remainder zero-padded to a full frame, or undefined if nothing is held. */
  flush(): Int16Array | undefined {
    if (this.pendingLength === 0) return undefined;
    const frame = this.pending; // the unused tail of `pending` is still zero
    this.pending = new Int16Array(this.frameSamples);
    this.pendingLength = 0;
    return frame;
  }

  /** Drop any held-back samples (e.g. on barge-in). */
  clear(): void {
    this.pending.fill(0);
    this.pendingLength = 0;
  }
}

function assertFrameSamples(frameSamples: number): void {
  if (!Number.isInteger(frameSamples) || frameSamples < 1) {
    throw new RangeError(`frameSamples must be a positive integer, got ${frameSamples}`);
  }
}
