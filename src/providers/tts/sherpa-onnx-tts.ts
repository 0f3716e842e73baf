/**
 * Local neural TTS through sherpa-onnx-node (optional dependency): Piper and other VITS voices,
 * Kokoro and Matcha, from a model folder as the sherpa-onnx releases unpack it. The native
 * addon and the model load on first use.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MODEL_CATALOGUE } from '../models/catalogue';
import { ProviderError, type PcmAudio, type TtsOptions, type TtsProvider } from '../types';

const PROVIDER_NAME = 'sherpa-onnx-tts';

/** Model families sherpa-onnx can run, named as in its config. */
export type SherpaTtsKind = 'vits' | 'kokoro' | 'matcha';

/** Options of SherpaOnnxTts. */
export interface SherpaOnnxTtsOptions {
  /** Folder of one model, e.g. `data/models/vits-piper-en_US-lessac-medium`. */
  modelDir: string;
  /** 'vits' for Piper voices. */
  kind: SherpaTtsKind;
  /** Speaker of a multi-speaker model (Kokoro voice index, VITS speaker). Default 0. */
  speakerId?: number;
  /** ONNX Runtime threads. Default 1: several sessions share the cores. */
  numThreads?: number;
  /** Matcha only: vocoder .onnx (vocos/hifigan); default: one found in modelDir or its parent. */
  vocoderPath?: string;
}

// The parts of sherpa-onnx-node this file uses (the package ships JSDoc, not .d.ts).
interface SherpaGeneratedAudio {
  samples: Float32Array;
  sampleRate: number;
}
interface SherpaOfflineTts {
  readonly sampleRate: number;
  readonly numSpeakers: number;
  generateAsync(request: {
    text: string;
    sid: number;
    speed: number;
    onProgress?: (info: { samples: Float32Array; progress: number }) => number | boolean | void;
  }): Promise<SherpaGeneratedAudio>;
}
interface SherpaModule {
  OfflineTts: { createAsync(config: Record<string, unknown>): Promise<SherpaOfflineTts> };
}

/**
 * Build the sherpa-onnx model config for a folder, or list what is missing. Exported for tests
 * and for the editor, which shows what a folder lacks before any native code runs.
 */
export function buildSherpaTtsConfig(options: SherpaOnnxTtsOptions): { config: Record<string, unknown> } | { missing: string[] } {
  const dir = options.modelDir;
  if (!isDirectory(dir)) return { missing: [dir] };
  const files = readdirSync(dir);
  const has = (name: string): boolean => files.includes(name);
  const optional = (name: string): string | undefined => (has(name) ? join(dir, name) : undefined);
  const onnx = files.filter((f) => f.endsWith('.onnx'));
  const isVocoder = (f: string): boolean => /vocos|hifigan|vocoder/i.test(f);
  const missing: string[] = [];
  const required = (name: string | undefined, what: string): string => {
    if (name === undefined || !has(name)) {
      missing.push(what);
      return '';
    }
    return join(dir, name);
  };
  // Piper folders hold espeak-ng-data (phonemizer); Chinese models a lexicon and dict/ instead.
  const dataDir = isDirectory(join(dir, 'espeak-ng-data')) ? join(dir, 'espeak-ng-data') : undefined;
  const lexicons = files.filter((f) => /^lexicon.*\.txt$/.test(f)).sort();
  const ruleFsts = files.filter((f) => f.endsWith('.fst')).sort().map((f) => join(dir, f));
  const tokens = required('tokens.txt', 'tokens.txt');

  let model: Record<string, unknown>;
  if (options.kind === 'vits') {
    const modelFile = required(onnx.find((f) => !isVocoder(f)), 'a .onnx model');
    model = { vits: compact({ model: modelFile, tokens, dataDir, lexicon: optional('lexicon.txt') }) };
  } else if (options.kind === 'kokoro') {
    const modelFile = required(has('model.onnx') ? 'model.onnx' : onnx[0], 'model.onnx');
    const voices = required('voices.bin', 'voices.bin');
    const lexicon = lexicons.length > 0 ? lexicons.map((f) => join(dir, f)).join(',') : undefined;
    model = { kokoro: compact({ model: modelFile, voices, tokens, dataDir, lexicon }) };
  } else {
    const acousticModel = required(onnx.find((f) => !isVocoder(f)), 'an acoustic .onnx model');
    const vocoder = options.vocoderPath ?? findVocoder(dir);
    if (vocoder === undefined || !existsSync(vocoder)) missing.push('a vocoder .onnx (vocos or hifigan; set vocoderPath)');
    model = { matcha: compact({ acousticModel, vocoder, tokens, dataDir, lexicon: optional('lexicon.txt') }) };
  }
  if (missing.length > 0) return { missing };
  return {
    config: {
      model: { ...model, numThreads: options.numThreads ?? 1, provider: 'cpu', debug: 0 },
      maxNumSentences: 1,
      ...(ruleFsts.length > 0 ? { ruleFsts: ruleFsts.join(',') } : {}),
    },
  };
}

/**
 * Text-to-speech with a local sherpa-onnx model. Output is mono PCM at the model's rate
 * (Piper 22,050 Hz or 16,000 Hz, Kokoro 24,000 Hz). Calls on one instance run one at a time.
 */
export class SherpaOnnxTts implements TtsProvider {
  readonly name = PROVIDER_NAME;
  private engine: Promise<SherpaOfflineTts> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SherpaOnnxTtsOptions) {}

  /** Load the model now rather than on the first sentence. */
  async warmUp(): Promise<void> {
    await this.load();
  }

  async synthesize(text: string, options: TtsOptions = {}): Promise<PcmAudio> {
    const signal = options.signal;
    if (signal?.aborted) throw aborted();
    const engine = await this.load();
    const run = this.queue.then(() => this.generate(engine, text, options));
    // Later calls wait for this one whatever its outcome.
    this.queue = run.catch(() => undefined);
    if (!signal) return run;
    return new Promise<PcmAudio>((resolve, reject) => {
      const onAbort = (): void => reject(aborted());
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async generate(engine: SherpaOfflineTts, text: string, options: TtsOptions): Promise<PcmAudio> {
    const signal = options.signal;
    if (signal?.aborted) throw aborted();
    let result: SherpaGeneratedAudio;
    try {
      result = await engine.generateAsync({
        text,
        sid: this.options.speakerId ?? 0,
        speed: options.speed ?? 1,
        // Called between sentences/chunks: a falsy answer stops the native generation early.
        onProgress: () => !signal?.aborted,
      });
    } catch (err) {
      throw new ProviderError('failed', `sherpa-onnx TTS failed: ${(err as Error).message}`, PROVIDER_NAME, { cause: err });
    }
    if (signal?.aborted) throw aborted();
    return { pcm: floatToInt16(result.samples), sampleRateHz: result.sampleRate };
  }

  private load(): Promise<SherpaOfflineTts> {
    if (!this.engine) {
      this.engine = this.create();
      // A failed load is retried on the next call (the folder may have been filled since).
      this.engine.catch(() => {
        this.engine = undefined;
      });
    }
    return this.engine;
  }

  private async create(): Promise<SherpaOfflineTts> {
    const built = buildSherpaTtsConfig(this.options);
    if ('missing' in built) {
      throw new ProviderError('model_missing', missingMessage(this.options, built.missing), PROVIDER_NAME);
    }
    const sherpa = loadSherpa();
    try {
      // createAsync, not the constructor: the synchronous path aborts the whole process on a
      // corrupt model, the async one rejects.
      return await sherpa.OfflineTts.createAsync(built.config);
    } catch (err) {
      throw new ProviderError('failed', `sherpa-onnx could not load the TTS model in ${this.options.modelDir}: ${(err as Error).message}`, PROVIDER_NAME, { cause: err });
    }
  }
}

function loadSherpa(): SherpaModule {
  try {
    return require('sherpa-onnx-node') as SherpaModule;
  } catch (err) {
    throw new ProviderError(
      'unavailable',
      `the optional package sherpa-onnx-node is not installed or has no build for ${process.platform}-${process.arch}: run "npm install sherpa-onnx-node"`,
      PROVIDER_NAME,
      { cause: err },
    );
  }
}

function missingMessage(options: SherpaOnnxTtsOptions, missing: string[]): string {
  const folderName = basename(options.modelDir);
  const entry = Object.values(MODEL_CATALOGUE).find((e) => e.dir === folderName);
  const fallback = options.kind === 'kokoro' ? 'kokoro-multi-lang-v1_0' : 'piper-en_US-lessac-medium';
  const hint = `npm run models -- ${entry?.name ?? fallback}`;
  const what = missing.length === 1 && missing[0] === options.modelDir ? 'does not exist' : `lacks ${missing.join(', ')}`;
  return `TTS model folder ${options.modelDir} ${what}: run "${hint}" to fetch a model`;
}

function findVocoder(dir: string): string | undefined {
  for (const folder of [dir, dirname(dir)]) {
    if (!isDirectory(folder)) continue;
    const found = readdirSync(folder).find((f) => f.endsWith('.onnx') && /vocos|hifigan|vocoder/i.test(f));
    if (found !== undefined) return join(folder, found);
  }
  return undefined;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Drop undefined fields: the native addon reads every present key as a string. */
function compact(fields: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out;
}

function floatToInt16(samples: Float32Array): Int16Array {
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i] ?? 0;
    const clamped = x > 1 ? 1 : x < -1 ? -1 : x;
    pcm[i] = Math.round(clamped < 0 ? clamped * 32768 : clamped * 32767);
  }
  return pcm;
}

function aborted(): ProviderError {
  return new ProviderError('aborted', 'speech synthesis was aborted', PROVIDER_NAME);
}
