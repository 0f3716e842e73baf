import { FrameAccumulator } from './frames';
import { OpusFrameEncoder } from './opus';
import { Resampler } from './resample';

/** Options of PcmToOpusEncoder. */
export interface PcmToOpusEncoderOptions {
  /** Opus encoding rate; default 24000, the rate to announce in the server hello (protocol §2.2, §3.1). */
  outputRateHz?: number;
  /** Packet length; default 60, and never longer than the hello's frame_duration. */
  frameMs?: number;
  /** Opus bitrate in bit/s; default 24000. */
  bitrate?: number;
  /**
   * Encoder complexity 0-10; default 5. Every reply is encoded on the event loop, and at 24 kbit/s
   * speech complexity 5 sounds the same as 10 at half the CPU (measured: 330 vs 640 µs per 60 ms frame).
   */
  complexity?: number;
}

/**
 * The TTS -> device path: takes PCM chunks at whatever rate the TTS engine produces, resamples
 * them to the output rate, cuts exact frames across chunk boundaries and encodes one Opus packet
 * per frame. One instance per utterance stream (it carries state between pushes).
 *
 * Calls must not overlap: await each push() before the next push() or flush(), because the
 * resampler for a new input rate is created asynchronously.
 */
export class PcmToOpusEncoder {
  readonly outputRateHz: number;
  readonly frameMs: number;
  private readonly bitrate: number;
  private readonly complexity: number;
  private encoder: OpusFrameEncoder;
  private readonly accumulator: FrameAccumulator;
  /** Cached per input rate: TTS engines keep one rate, so this usually holds one entry. */
  private readonly resamplers = new Map<number, Resampler>();
  /** The rate of the stream in progress; a change drains the old resampler first so no audio is lost. */
  private currentInputRateHz: number | undefined;

  private constructor(opts: Required<PcmToOpusEncoderOptions>) {
    this.outputRateHz = opts.outputRateHz;
    this.frameMs = opts.frameMs;
    this.bitrate = opts.bitrate;
    this.complexity = opts.complexity;
    this.encoder = this.newEncoder();
    this.accumulator = new FrameAccumulator(this.encoder.frameSamples);
  }

  /** Create an encoder; async only for symmetry with the resampler it will need (loaded lazily). */
  static async create(opts: PcmToOpusEncoderOptions = {}): Promise<PcmToOpusEncoder> {
    return new PcmToOpusEncoder({
      outputRateHz: opts.outputRateHz ?? 24000,
      frameMs: opts.frameMs ?? 60,
      bitrate: opts.bitrate ?? 24000,
      complexity: opts.complexity ?? 5,
    });
  }

  /** Samples per output frame (1440 for 24 kHz / 60 ms). */
  get frameSamples(): number {
    return this.encoder.frameSamples;
  }

  /**
   * Add PCM at `sampleRateHz`; returns the Opus packets of every frame completed so far
   * (possibly none: up to one frame stays buffered until more audio or flush()).
   */
  async push(pcm: Int16Array, sampleRateHz: number): Promise<Buffer[]> {
    let resampler = this.resamplers.get(sampleRateHz);
    if (!resampler) {
      resampler = await Resampler.create(sampleRateHz, this.outputRateHz);
      this.resamplers.set(sampleRateHz, resampler);
    }
    const packets: Buffer[] = [];
    if (this.currentInputRateHz !== undefined && this.currentInputRateHz !== sampleRateHz) {
      const previous = this.resamplers.get(this.currentInputRateHz);
      if (previous) this.encodeFrames(this.accumulator.push(previous.flush()), packets);
    }
    this.currentInputRateHz = sampleRateHz;
    this.encodeFrames(this.accumulator.push(resampler.process(pcm)), packets);
    return packets;
  }

  /** End of stream: drain the resampler and encode the zero-padded last frame. Ready for a new stream afterwards. */
  flush(): Buffer[] {
    const packets: Buffer[] = [];
    if (this.currentInputRateHz !== undefined) {
      const resampler = this.resamplers.get(this.currentInputRateHz);
      if (resampler) this.encodeFrames(this.accumulator.push(resampler.flush()), packets);
      this.currentInputRateHz = undefined;
    }
    const last = this.accumulator.flush();
    if (last) packets.push(this.encoder.encode(last));
    return packets;
  }

  /** Drop buffered audio and codec state (barge-in / abort) without producing packets. */
  reset(): void {
    this.accumulator.clear();
    for (const r of this.resamplers.values()) r.reset();
    this.currentInputRateHz = undefined;
    // A fresh encoder, so the next utterance does not start from the aborted one's prediction state.
    this.encoder = this.newEncoder();
  }

  /** Free the resamplers' wasm memory; the encoder is unusable afterwards. */
  close(): void {
    for (const r of this.resamplers.values()) r.close();
    this.resamplers.clear();
    this.accumulator.clear();
  }

  private newEncoder(): OpusFrameEncoder {
    return new OpusFrameEncoder({ sampleRateHz: this.outputRateHz, frameMs: this.frameMs, bitrate: this.bitrate, complexity: this.complexity });
  }

  private encodeFrames(frames: Int16Array[], into: Buffer[]): void {
    for (const f of frames) into.push(this.encoder.encode(f));
  }
}

/**
 * One-shot: encode a whole clip (e.g. a canned WAV prompt) into Opus packets of `frameMs`,
 * the last one zero-padded. Yields ceil(duration / frameMs) packets.
 */
export async function encodePcmToOpusFrames(pcm: Int16Array, sampleRateHz: number, opts?: PcmToOpusEncoderOptions): Promise<Buffer[]> {
  const encoder = await PcmToOpusEncoder.create(opts);
  try {
    const packets = await encoder.push(pcm, sampleRateHz);
    packets.push(...encoder.flush());
    return packets;
  } finally {
    encoder.close();
  }
}
