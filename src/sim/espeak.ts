/**
 * Speech for the simulator from espeak-ng (a child process), resampled to the 16 kHz the device
 * microphone path uses. Lets the CLI and tests produce real speech without committed audio.
 */
import { execFile } from 'node:child_process';
import { readWav } from '../audio/wav';
import { resample } from '../audio/resample';
import { SimError } from './sim-error';

/** Options of synthesizeSpeech. */
export interface EspeakOptions {
  /** espeak-ng voice, e.g. `en-us` (default) or `cmn`. */
  voice?: string;
  /** Words per minute (espeak-ng default 175). */
  wordsPerMinute?: number;
  /** Output rate; default 16000 (the xiaozhi uplink). */
  sampleRateHz?: number;
  /** espeak-ng executable; default `espeak-ng` from PATH. */
  command?: string;
}

/**
 * Synthesize `text` with espeak-ng and return mono PCM at `sampleRateHz`.
 * @throws SimError `espeak_missing` when espeak-ng is not installed, `espeak_failed` when it fails
 */
export async function synthesizeSpeech(text: string, opts: EspeakOptions = {}): Promise<{ pcm: Int16Array; sampleRateHz: number }> {
  const command = opts.command ?? 'espeak-ng';
  const args = ['--stdout', '-v', opts.voice ?? 'en-us'];
  if (opts.wordsPerMinute !== undefined) args.push('-s', String(opts.wordsPerMinute));
  // `--` keeps a text that starts with "-" from being read as an option.
  args.push('--', text);
  const wav = await new Promise<Buffer>((resolve, reject) => {
    execFile(command, args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: 30000 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          reject(new SimError('espeak_missing', `${command} is not installed (Debian/Ubuntu: apt-get install espeak-ng); use a WAV file instead`, { cause: err }));
        } else {
          reject(new SimError('espeak_failed', `${command} failed: ${stderr.toString().trim() || err.message}`, { cause: err }));
        }
        return;
      }
      resolve(stdout);
    });
  });
  let decoded;
  try {
    decoded = readWav(wav);
  } catch (err) {
    throw new SimError('espeak_failed', `${command} produced no readable WAV: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (decoded.pcm.length === 0) throw new SimError('espeak_failed', `${command} produced no audio for ${JSON.stringify(text)}`);
  const rateHz = opts.sampleRateHz ?? 16000;
  const pcm = decoded.sampleRateHz === rateHz ? decoded.pcm : await resample(decoded.pcm, decoded.sampleRateHz, rateHz);
  return { pcm, sampleRateHz: rateHz };
}
