// The only file that touches @discordjs/opus: swapping the codec binding (e.g. for opusscript or
// @evan/opus) must not ripple through the code base.
import { OpusEncoder as NativeOpus } from '@discordjs/opus';
import { AudioError } from './errors';
import { samplesPerFrame } from './frames';
import { bufferToInt16, int16ToBuffer } from './pcm';

/** Sample rates libopus accepts for encoding and decoding. */
const OPUS_RATES_HZ: readonly number[] = [8000, 12000, 16000, 24000, 48000];
/** Frame durations libopus can encode (80-120 ms need libopus >= 1.2, which the binding bundles). */
const OPUS_FRAME_MS: readonly number[] = [2.5, 5, 10, 20, 40, 60, 80, 100, 120];

// opus_defines.h request numbers; the binding exposes only generic CTL calls.
const OPUS_SET_COMPLEXITY_REQUEST = 4010;
const OPUS_SET_SIGNAL_REQUEST = 4024;
const OPUS_SIGNAL_VOICE = 3001;

/** Options of OpusFrameEncoder. */
export interface OpusFrameEncoderOptions {
  /** Encoder input rate: 8000, 12000, 16000, 24000 or 48000. */
  sampleRateHz: number;
  /** Frame length; default 60 (the xiaozhi downlink frame, protocol §3.1). */
  frameMs?: number;
  /** Target bitrate in bit/s; default 24000 (what the reference server uses for TTS). */
  bitrate?: number;
  /** Encoder complexity 0-10; default 10. */
  complexity?: number;
}

/**
 * Mono Opus encoder that takes exactly one frame per call and returns one packet.
 * APPLICATION_AUDIO (fixed by the binding, and what the xiaozhi firmware uses) with the voice
 * signal hint, so speech gets SILK/hybrid modes at low bitrates.
 */
export class OpusFrameEncoder {
  /** Samples per frame this encoder accepts (e.g. 1440 for 24 kHz / 60 ms). */
  readonly frameSamples: number;
  readonly sampleRateHz: number;
  readonly frameMs: number;
  private readonly native: NativeOpus;

  constructor(opts: OpusFrameEncoderOptions) {
    const frameMs = opts.frameMs ?? 60;
    assertOpusRate(opts.sampleRateHz);
    if (!OPUS_FRAME_MS.includes(frameMs)) {
      throw new AudioError('unsupported', `Opus cannot encode ${frameMs} ms frames (allowed: ${OPUS_FRAME_MS.join(', ')})`);
    }
    this.sampleRateHz = opts.sampleRateHz;
    this.frameMs = frameMs;
    this.frameSamples = samplesPerFrame(opts.sampleRateHz, frameMs);
    this.native = new NativeOpus(opts.sampleRateHz, 1);
    try {
      this.native.setBitrate(opts.bitrate ?? 24000);
      this.native.applyEncoderCTL(OPUS_SET_COMPLEXITY_REQUEST, opts.complexity ?? 10);
      this.native.applyEncoderCTL(OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE);
    } catch (err) {
      throw new AudioError('unsupported', `bad Opus encoder setting (bitrate ${opts.bitrate}, complexity ${opts.complexity}): ${String(err)}`, { cause: err });
    }
  }

  /**
   * Encode one frame of exactly `frameSamples` samples.
   * The length check is not optional politeness: the binding copies a negative length into a
   * Buffer when libopus rejects the frame size, which would crash the process.
   */
  encode(frame: Int16Array): Buffer {
    if (frame.length !== this.frameSamples) {
      throw new AudioError('bad_frame_size', `expected ${this.frameSamples} samples (${this.frameMs} ms at ${this.sampleRateHz} Hz), got ${frame.length}`);
    }
    return this.native.encode(int16ToBuffer(frame));
  }
}

/**
 * Mono Opus decoder. Accepts packets of any legal duration up to 120 ms (the device sends 60 ms,
 * other clients 20 or 40 ms) and returns the decoded samples at the decoder's rate.
 */
export class OpusFrameDecoder {
  readonly sampleRateHz: number;
  private readonly native: NativeOpus;

  /** @param sampleRateHz output rate; default 16000 (the xiaozhi uplink). Opus packets decode at any rate. */
  constructor(sampleRateHz = 16000) {
    assertOpusRate(sampleRateHz);
    this.sampleRateHz = sampleRateHz;
    this.native = new NativeOpus(sampleRateHz, 1);
  }

  /**
   * Decode one packet. Throws AudioError('bad_packet') for empty or undecodable data.
   * An empty packet is refused rather than passed on, because libopus treats it as a lost packet
   * and invents up to 120 ms of concealment audio.
   * Note: random bytes are often a *valid* Opus packet (any byte string up to 1275 bytes behind a
   * single-frame TOC byte is legal), so garbage can decode to noise; only malformed packets throw.
   */
  decode(packet: Buffer): Int16Array {
    if (packet.length === 0) throw new AudioError('bad_packet', 'empty Opus packet');
    let out: Buffer;
    try {
      out = this.native.decode(packet);
    } catch (err) {
      throw new AudioError('bad_packet', `undecodable Opus packet of ${packet.length} bytes: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    // The binding returns a fresh Buffer, which may sit at an odd pool offset; bufferToInt16 copies then.
    return bufferToInt16(out);
  }
}

/**
 * Duration of an Opus packet in milliseconds, from its TOC byte and frame count (RFC 6716 §3.1-3.2),
 * without decoding it. Lets the gateway check that downlink packets are no longer than the
 * device's frame_duration. Throws AudioError('bad_packet') when the header is malformed.
 */
export function opusPacketDurationMs(packet: Buffer): number {
  const toc = packet[0];
  if (toc === undefined) throw new AudioError('bad_packet', 'empty Opus packet');
  const config = toc >> 3;
  let frameMs: number;
  if (config < 12) frameMs = [10, 20, 40, 60][config & 3] ?? 0; // SILK-only
  else if (config < 16) frameMs = (config & 1) === 0 ? 10 : 20; // hybrid
  else frameMs = [2.5, 5, 10, 20][config & 3] ?? 0; // CELT-only
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else {
    const countByte = packet[1];
    if (countByte === undefined) throw new AudioError('bad_packet', 'Opus code-3 packet without a frame count byte');
    frames = countByte & 0x3f;
    if (frames === 0) throw new AudioError('bad_packet', 'Opus code-3 packet with zero frames');
  }
  const totalMs = frameMs * frames;
  if (totalMs > 120) throw new AudioError('bad_packet', `Opus packet claims ${totalMs} ms (more than 120 ms)`);
  return totalMs;
}

function assertOpusRate(sampleRateHz: number): void {
  if (!OPUS_RATES_HZ.includes(sampleRateHz)) {
    throw new AudioError('unsupported', `Opus does not support ${sampleRateHz} Hz (allowed: ${OPUS_RATES_HZ.join(', ')})`);
  }
}
