/**
 * The spoken command the benchmark devices say: espeak-ng speech at 16 kHz, trimmed to its voiced
 * part (so "the last voiced frame" is the last frame sent), encoded once into 60 ms Opus frames.
 */
import { splitFrames } from '../../../src/audio/frames';
import { OpusFrameEncoder } from '../../../src/audio/opus';
import { synthesizeSpeech } from '../../../src/sim/espeak';

/** Uplink format of xiaozhi devices (protocol §2.2). */
export const UPLINK_RATE_HZ = 16_000;
export const UPLINK_FRAME_MS = 60;

/** Pre-encoded speech for the benchmark devices. */
export interface BenchSpeech {
  text: string;
  /** Trimmed speech PCM (16 kHz); DeviceSimulator encodes it itself. */
  pcm: Int16Array;
  /** The speech as 60 ms Opus packets; the last one holds the last voiced audio. */
  speechFrames: Buffer[];
  /** One 60 ms packet of digital silence. */
  silenceFrame: Buffer;
  /** speech then `gapMs` of silence, encoded as one continuous stream (for looping streams). */
  loopFrames: Buffer[];
  /** Index in loopFrames of the first and last voiced frame. */
  loopFirstVoiced: number;
  loopLastVoiced: number;
  speechMs: number;
}

/** Indexes of the first and last 10 ms window whose RMS exceeds a level relative to the loudest. */
function voicedRange(pcm: Int16Array, rateHz: number): { first: number; last: number } {
  const win = Math.round(rateHz / 100);
  const rms: number[] = [];
  for (let at = 0; at + win <= pcm.length; at += win) {
    let sum = 0;
    for (let i = at; i < at + win; i++) sum += (pcm[i] ?? 0) ** 2;
    rms.push(Math.sqrt(sum / win));
  }
  const peak = Math.max(...rms);
  const level = Math.max(150, peak * 0.03);
  const first = rms.findIndex((r) => r > level);
  let last = rms.length - 1;
  while (last > 0 && (rms[last] ?? 0) <= level) last--;
  return { first: Math.max(0, first) * win, last: (last + 1) * win };
}

/**
 * Synthesize `text` with espeak-ng (16 kHz), trim leading silence to 60 ms and trailing silence to
 * nothing, and encode it.
 * @throws SimError `espeak_missing` when espeak-ng is not installed
 */
export async function prepareSpeech(text: string, gapMs = 1500): Promise<BenchSpeech> {
  const { pcm: raw } = await synthesizeSpeech(text, { sampleRateHz: UPLINK_RATE_HZ });
  const { first, last } = voicedRange(raw, UPLINK_RATE_HZ);
  const start = Math.max(0, first - Math.round(UPLINK_RATE_HZ * 0.06));
  const pcm = raw.slice(start, last);
  const frameSamples = (UPLINK_RATE_HZ * UPLINK_FRAME_MS) / 1000;
  const encode = (frames: Int16Array[], encoder: OpusFrameEncoder): Buffer[] => frames.map((f) => encoder.encode(f));
  const speechFrames = encode(splitFrames(pcm, frameSamples), new OpusFrameEncoder({ sampleRateHz: UPLINK_RATE_HZ, frameMs: UPLINK_FRAME_MS }));
  const silentEncoder = new OpusFrameEncoder({ sampleRateHz: UPLINK_RATE_HZ, frameMs: UPLINK_FRAME_MS });
  const silence = new Int16Array(frameSamples);
  const silenceFrame = silentEncoder.encode(silence);
  const gapFrames = Math.ceil(gapMs / UPLINK_FRAME_MS);
  const loopEncoder = new OpusFrameEncoder({ sampleRateHz: UPLINK_RATE_HZ, frameMs: UPLINK_FRAME_MS });
  const loopPcm = splitFrames(pcm, frameSamples);
  for (let i = 0; i < gapFrames; i++) loopPcm.push(silence);
  const loopFrames = encode(loopPcm, loopEncoder);
  return {
    text,
    pcm,
    speechFrames,
    silenceFrame,
    loopFrames,
    loopFirstVoiced: 0,
    loopLastVoiced: speechFrames.length - 1,
    speechMs: (pcm.length * 1000) / UPLINK_RATE_HZ,
  };
}
