/**
 * Audio fixtures for the VAD tests, made at test time: espeak-ng speech resampled by sox to
 * 16 kHz, deterministic noise, silence, and an energy-based ground truth for speech boundaries.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VadModel } from '../../../src/providers/types';
import { SpeechSegmenter, type SegmenterEvent, type SpeechSegmenterOptions } from '../../../src/providers/vad/segmenter';

export const SAMPLE_RATE_HZ = 16000;

/** True when espeak-ng and sox are installed. */
export function haveSpeechTools(): boolean {
  return existsSync('/usr/bin/espeak-ng') && existsSync('/usr/bin/sox');
}

/** Read a headerless s16le file (or a WAV, via sox) as 16 kHz mono PCM. */
export function readAudio16k(path: string): Int16Array {
  const dir = mkdtempSync(join(tmpdir(), 'vad-audio-'));
  try {
    const out = join(dir, 'out.raw');
    const input = path.endsWith('.raw') ? ['-t', 'raw', '-r', '16000', '-e', 'signed', '-b', '16', '-c', '1', path] : [path];
    execFileSync('sox', [...input, '-r', '16000', '-c', '1', '-b', '16', '-e', 'signed', '-t', 'raw', out]);
    const bytes = readFileSync(out);
    return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const spoken = new Map<string, Int16Array>();

/** Speak text with espeak-ng (22,050 Hz WAV) and resample it to 16 kHz with sox. */
export function speak(text: string, voice = 'en'): Int16Array {
  const key = `${voice}\u0000${text}`;
  const cached = spoken.get(key);
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'vad-speech-'));
  try {
    const wav = join(dir, 'speech.wav');
    execFileSync('espeak-ng', ['-v', voice, '-w', wav, text]);
    const pcm = readAudio16k(wav);
    spoken.set(key, pcm);
    return pcm;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Digital silence. */
export function silence(ms: number): Int16Array {
  return new Int16Array(Math.round((ms * SAMPLE_RATE_HZ) / 1000));
}

/** White noise with a given RMS (in sample units), from a seeded PRNG so runs repeat. */
export function noise(ms: number, rms: number, seed = 1): Int16Array {
  const out = new Int16Array(Math.round((ms * SAMPLE_RATE_HZ) / 1000));
  let state = seed >>> 0 || 1;
  // Uniform in [-1, 1) has RMS 1/sqrt(3).
  const scale = rms * Math.sqrt(3);
  for (let i = 0; i < out.length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = Math.round((state / 0x100000000) * 2 * scale - scale);
  }
  return out;
}

/** Sum two signals sample by sample (b may be shorter), clipping to int16. */
export function mix(a: Int16Array, b: Int16Array): Int16Array {
  const out = a.slice();
  for (let i = 0; i < Math.min(a.length, b.length); i++) out[i] = Math.max(-32768, Math.min(32767, a[i]! + b[i]!));
  return out;
}

export function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Ground truth from energy: first and last 10 ms frame whose RMS is within `belowPeakDb` of the
 * loudest frame, as ms positions. Null when nothing qualifies.
 */
export function energyBounds(pcm: Int16Array, belowPeakDb = 35): { startMs: number; endMs: number } | null {
  const frame = SAMPLE_RATE_HZ / 100;
  const rms: number[] = [];
  for (let i = 0; i + frame <= pcm.length; i += frame) {
    let sum = 0;
    for (let j = i; j < i + frame; j++) sum += pcm[j]! * pcm[j]!;
    rms.push(Math.sqrt(sum / frame));
  }
  const peak = Math.max(...rms);
  const floor = peak * 10 ** (-belowPeakDb / 20);
  const first = rms.findIndex((r) => r >= floor);
  if (peak === 0 || first < 0) return null;
  let last = rms.length - 1;
  while (rms[last]! < floor) last--;
  return { startMs: first * 10, endMs: (last + 1) * 10 };
}

/**
 * Ground truth for real recordings with background noise: first and last 10 ms frame whose RMS is
 * `aboveFloorDb` over the noise floor (the 10th percentile of frame RMS).
 */
export function energyBoundsAboveFloor(pcm: Int16Array, aboveFloorDb = 20): { startMs: number; endMs: number } | null {
  const frame = SAMPLE_RATE_HZ / 100;
  const rms: number[] = [];
  for (let i = 0; i + frame <= pcm.length; i += frame) {
    let sum = 0;
    for (let j = i; j < i + frame; j++) sum += pcm[j]! * pcm[j]!;
    rms.push(Math.sqrt(sum / frame));
  }
  const sorted = [...rms].sort((a, b) => a - b);
  const floor = Math.max(1, sorted[Math.floor(sorted.length * 0.1)] ?? 0);
  const level = floor * 10 ** (aboveFloorDb / 20);
  const first = rms.findIndex((r) => r >= level);
  if (first < 0) return null;
  let last = rms.length - 1;
  while (rms[last]! < level) last--;
  return { startMs: first * 10, endMs: (last + 1) * 10 };
}

/** Run a fresh segmenter over pcm fed in chunks of chunkSamples; return every event, then close. */
export async function segment(
  model: VadModel,
  pcm: Int16Array,
  chunkSamples: number,
  options?: SpeechSegmenterOptions,
): Promise<SegmenterEvent[]> {
  const segmenter = new SpeechSegmenter(model.createStream(), model.windowSamples, options);
  const events: SegmenterEvent[] = [];
  try {
    for (let i = 0; i < pcm.length; i += chunkSamples) {
      events.push(...(await segmenter.push(pcm.subarray(i, i + chunkSamples))));
    }
  } finally {
    segmenter.close();
  }
  return events;
}

/** Compact view of events for deep-equality checks and failure messages. */
export function summarize(events: SegmenterEvent[]): string[] {
  return events.map((e) =>
    e.type === 'speech_end'
      ? `end ${e.startMs}-${e.atMs} (${e.reason}, ${e.audio.length} samples)`
      : e.type === 'speech_start'
        ? `start ${e.atMs}`
        : `discarded ${e.reason} ${e.durationMs}`,
  );
}
