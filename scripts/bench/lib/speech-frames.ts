import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpusFrameEncoder } from '../../../src/audio/opus';
import { readWav } from '../../../src/audio/wav';
import { resample } from '../../../src/audio/resample';
import { samplesPerFrame } from '../../../src/audio/frames';

/** Pre-encoded Opus frames for load generation, and where the audio came from. */
export interface SpeechFrames {
  frames: Buffer[];
  /** 'espeak-ng' or 'modulated tone' (espeak-ng missing or failing). */
  source: string;
  sampleRateHz: number;
  frameMs: number;
  /** Mean packet size, for the report. */
  meanBytes: number;
}

const DEFAULT_TEXT =
  'Turn on the kitchen light and set the living room to twenty one degrees. ' +
  'What is the weather like tomorrow morning? Play some quiet music in the bedroom, ' +
  'and remind me to water the plants at seven in the evening. Thank you, that is all for now.';

/** Speech from espeak-ng (22,050 Hz WAV), or undefined when it is not installed or fails. */
function espeakPcm(text: string): { pcm: Int16Array; sampleRateHz: number } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'bench-speech-'));
  try {
    const wavPath = join(dir, 'speech.wav');
    const result = spawnSync('espeak-ng', ['-v', 'en', '-s', '165', '-w', wavPath, text], { timeout: 20_000, stdio: 'ignore' });
    if (result.status !== 0) return undefined;
    const wav = readWav(readFileSync(wavPath));
    return wav.pcm.length > 0 ? { pcm: wav.pcm, sampleRateHz: wav.sampleRateHz } : undefined;
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A speech-like stand-in: a 140 Hz buzz with harmonics, amplitude-modulated at a syllable rate. */
function modulatedTone(sampleRateHz: number, samples: number): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    const t = i / sampleRateHz;
    const envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
    const pitchHz = 140 + 20 * Math.sin(2 * Math.PI * 0.7 * t);
    let s = 0;
    for (let h = 1; h <= 6; h++) s += Math.sin(2 * Math.PI * pitchHz * h * t) / h;
    out[i] = Math.round(6000 * envelope * s);
  }
  return out;
}

/**
 * Encode `frameCount` distinct Opus frames of speech (looping the phrase if it is shorter) at
 * `sampleRateHz`. Done once per run; the Buffers are reused for every client or session, so the
 * load generator spends nothing on encoding while it measures.
 */
export async function speechOpusFrames(opts: { sampleRateHz: number; frameCount: number; frameMs?: number; text?: string }): Promise<SpeechFrames> {
  const frameMs = opts.frameMs ?? 60;
  const frameSamples = samplesPerFrame(opts.sampleRateHz, frameMs);
  const need = frameSamples * opts.frameCount;
  let source = 'espeak-ng';
  let pcm: Int16Array;
  const spoken = espeakPcm(opts.text ?? DEFAULT_TEXT);
  if (spoken) {
    pcm = spoken.sampleRateHz === opts.sampleRateHz ? spoken.pcm : await resample(spoken.pcm, spoken.sampleRateHz, opts.sampleRateHz);
  } else {
    source = 'modulated tone';
    pcm = modulatedTone(opts.sampleRateHz, need);
  }
  const encoder = new OpusFrameEncoder({ sampleRateHz: opts.sampleRateHz, frameMs });
  const frames: Buffer[] = [];
  const frame = new Int16Array(frameSamples);
  let bytes = 0;
  for (let k = 0; k < opts.frameCount; k++) {
    for (let i = 0; i < frameSamples; i++) frame[i] = pcm[(k * frameSamples + i) % pcm.length]!;
    const packet = encoder.encode(frame);
    bytes += packet.length;
    frames.push(packet);
  }
  return { frames, source, sampleRateHz: opts.sampleRateHz, frameMs, meanBytes: frames.length > 0 ? bytes / frames.length : 0 };
}
