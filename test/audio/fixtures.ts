// Test fixtures made at test time (no binaries in the repo): espeak-ng speech and synthetic tones.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav } from '../../src/audio/wav';

/** Whether the espeak-ng CLI is installed (Debian package espeak-ng). */
export function hasEspeak(): boolean {
  return existsSync('/usr/bin/espeak-ng') || existsSync('/usr/local/bin/espeak-ng');
}

/** Speak `text` with espeak-ng into a temp WAV and return the raw file bytes (22050 Hz mono PCM16). */
export function espeakWavBytes(text: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'xz-audio-'));
  try {
    const file = join(dir, 'speech.wav');
    execFileSync('espeak-ng', ['-w', file, text], { stdio: 'ignore' });
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** espeak-ng speech decoded to mono Int16 PCM. */
export function espeakPcm(text: string): { pcm: Int16Array; sampleRateHz: number } {
  const wav = readWav(espeakWavBytes(text));
  return { pcm: wav.pcm, sampleRateHz: wav.sampleRateHz };
}

/** A sine tone of `seconds` at `sampleRateHz`, peak `amplitude` (Int16 scale). */
export function sine(freqHz: number, sampleRateHz: number, seconds: number, amplitude = 10000): Int16Array {
  const n = Math.round(sampleRateHz * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freqHz * i) / sampleRateHz));
  return out;
}

/** Count sign changes (negative -> non-negative) in pcm[from, to): about freq x seconds for a clean tone. */
export function upwardZeroCrossings(pcm: Int16Array, from = 0, to = pcm.length): number {
  let count = 0;
  for (let i = Math.max(1, from); i < to; i++) {
    if ((pcm[i - 1] ?? 0) < 0 && (pcm[i] ?? 0) >= 0) count++;
  }
  return count;
}

/**
 * Highest normalised cross-correlation between `a` and `b` shifted by 0..maxLag samples
 * (codecs delay the signal by their look-ahead). Returns { corr, lag }.
 */
export function bestLagCorrelation(a: Int16Array, b: Int16Array, maxLag: number): { corr: number; lag: number } {
  let best = { corr: -Infinity, lag: 0 };
  for (let lag = 0; lag <= maxLag; lag++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    const n = Math.min(a.length, b.length - lag);
    for (let i = 0; i < n; i++) {
      const x = a[i] ?? 0;
      const y = b[i + lag] ?? 0;
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    const corr = aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
    if (corr > best.corr) best = { corr, lag };
  }
  return best;
}

/** Pearson correlation of two equal-length number series. */
export function pearson(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] ?? 0;
    mb += b[i] ?? 0;
  }
  ma /= n;
  mb /= n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const x = (a[i] ?? 0) - ma;
    const y = (b[i] ?? 0) - mb;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

/** RMS per window of `windowSamples` (an energy envelope that survives codec phase changes). */
export function rmsEnvelope(pcm: Int16Array, windowSamples: number): number[] {
  const out: number[] = [];
  for (let at = 0; at + windowSamples <= pcm.length; at += windowSamples) {
    let s = 0;
    for (let i = at; i < at + windowSamples; i++) s += (pcm[i] ?? 0) ** 2;
    out.push(Math.sqrt(s / windowSamples));
  }
  return out;
}
