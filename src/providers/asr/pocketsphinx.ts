/**
 * Offline closed-vocabulary ASR with CMU pocketsphinx (Debian's pocketsphinx-en-us model) over a
 * grammar built from a list of phrases, like Home Assistant's Speech-to-Phrase: the answer is
 * always one of the phrases (or '' when nothing matched), which makes a small model reliable for
 * commands. Decoders live in an N-API addon (native/pocketsphinx): no process is spawned per
 * utterance, audio is decoded as it streams in, and the phrase list can change at run time.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PronunciationDictionary, DEFAULT_DICT_PATH } from './grammar-dictionary';
import { GrammarError } from './grammar-error';
import { buildJsgf, type JsgfGrammar } from './grammar';
import {
  ADDON_MISSING_MESSAGE,
  DEFAULT_HMM_DIR,
  loadPocketsphinxAddon,
  pocketsphinxAddonError,
} from './pocketsphinx-native';
import { DecoderPool } from './pocketsphinx-pool';
import { PocketsphinxStream } from './pocketsphinx-stream';
import {
  ProviderError,
  type AsrOptions,
  type AsrResult,
  type PcmAudio,
  type StreamingAsrProvider,
  type StreamingAsrSession,
} from '../types';

/**
 * Beams wider than the library defaults (1e-48 / 7e-29 / 1e-48). With a grammar of a few dozen
 * phrases the default beams sometimes prune the only path that reaches the grammar's end state
 * ("Final result does not match the grammar"), which turns a clear command into ''; these cost
 * ~15% more decode time and fixed every such miss in our espeak and human test sets.
 */
export const DEFAULT_DECODER_ARGS: readonly string[] = ['-beam', '1e-60', '-wbeam', '1e-48', '-pbeam', '1e-60'];

/** Options of {@link PocketsphinxAsr}. */
export interface PocketsphinxAsrOptions {
  /** Phrases the recogniser may answer with (normalised: lower case, numbers spelled out). */
  phrases: readonly string[];
  /** Acoustic model directory. Default {@link DEFAULT_HMM_DIR} (Debian pocketsphinx-en-us). */
  hmmDir?: string;
  /** Pronunciation dictionary. Default {@link DEFAULT_DICT_PATH}. */
  dictPath?: string;
  /** Decoders alive at once = utterances decoded concurrently (more wait). Default 2. */
  poolSize?: number;
  /** Pronunciations for words the dictionary lacks (word -> ARPAbet phones, e.g. device names). */
  extraWords?: Readonly<Record<string, string>>;
  /** Extra pocketsphinx flag/value pairs, applied after {@link DEFAULT_DECODER_ARGS} (so they win). */
  decoderArgs?: readonly string[];
  /** Audio past this length is ignored. Default 30000. */
  maxUtteranceMs?: number;
  /** Partial results at most once per this much audio; 0 turns them off. Default 300. */
  partialIntervalMs?: number;
  /**
   * Answer '' when the final hypothesis scores below this per 10 ms frame (extra.scorePerFrame).
   * Off by default. A grammar decoder maps out-of-grammar speech to the nearest phrase (or to ''
   * when no path reaches the end); such guesses score lower. On espeak-ng speech, commands scored
   * -26..-45 and wrong guesses for out-of-grammar sentences -52..-63; calibrate on your own audio.
   */
  rejectBelowScorePerFrame?: number;
  /** Told about phrases dropped for unknown words. Default console.warn. */
  onWarning?: (message: string) => void;
  /** Provider name in errors and logs. Default 'pocketsphinx'. */
  name?: string;
}

/** See the file comment. */
export class PocketsphinxAsr implements StreamingAsrProvider {
  readonly name: string;
  private readonly hmmDir: string;
  private readonly dictPath: string;
  private readonly poolSize: number;
  private readonly options: PocketsphinxAsrOptions;
  private currentGrammar: JsgfGrammar;
  private pool: DecoderPool | undefined;
  private closed = false;

  /**
   * True when the native decoder is built and Debian's default model files are installed, i.e.
   * a PocketsphinxAsr with default paths can recognise.
   */
  static available(): boolean {
    return loadPocketsphinxAddon() !== undefined && modelProblem(DEFAULT_HMM_DIR, DEFAULT_DICT_PATH) === undefined;
  }

  /** Why {@link available} is false, or undefined when it is true. */
  static unavailableReason(): string | undefined {
    if (!loadPocketsphinxAddon()) return pocketsphinxAddonError() ?? ADDON_MISSING_MESSAGE;
    return modelProblem(DEFAULT_HMM_DIR, DEFAULT_DICT_PATH);
  }

  /**
   * Never throws for a missing addon or model: calls then reject with ProviderError
   * ('unavailable' / 'model_missing'), so a flow can deploy and show the reason.
   */
  constructor(options: PocketsphinxAsrOptions) {
    this.options = options;
    this.name = options.name ?? 'pocketsphinx';
    this.hmmDir = options.hmmDir ?? DEFAULT_HMM_DIR;
    this.dictPath = options.dictPath ?? DEFAULT_DICT_PATH;
    this.poolSize = options.poolSize ?? 2;
    if (!Number.isInteger(this.poolSize) || this.poolSize < 1) throw new RangeError(`poolSize must be a positive integer, got ${this.poolSize}`);
    this.currentGrammar = this.build(options.phrases);
  }

  /** The grammar in force (phrases kept, words missing from the dictionary...). */
  get grammar(): JsgfGrammar {
    return this.currentGrammar;
  }

  /**
   * Replace the phrase list for utterances that start from now on (one in progress finishes with
   * the old grammar). Returns the new grammar so callers can report dropped phrases.
   */
  setPhrases(phrases: readonly string[]): JsgfGrammar {
    this.currentGrammar = this.build(phrases);
    this.pool?.setGrammar(this.currentGrammar.jsgf, this.options.extraWords);
    return this.currentGrammar;
  }

  /** Load the decoders now (each ~150-200 ms, synchronously) instead of on the first utterances. */
  async warmUp(): Promise<void> {
    this.ensurePool().warmUp();
  }

  /** Recognise one whole utterance (any sample rate: resampled to 16 kHz). */
  async transcribe(audio: PcmAudio, options: AsrOptions = {}): Promise<AsrResult> {
    const stream = this.createStream(audio.sampleRateHz, options);
    stream.write(audio.pcm);
    stream.end();
    let final: AsrResult | undefined;
    for await (const result of stream.results()) {
      if (!result.partial) final = { text: result.text, language: result.language, extra: result.extra };
    }
    if (!final) throw new ProviderError('failed', 'pocketsphinx produced no final result', this.name);
    return final;
  }

  /**
   * Start a streamed utterance at `sampleRateHz` (16000 avoids resampling).
   * @throws ProviderError('unavailable') when the addon is not built, ('model_missing') when the
   * model files are absent, ('aborted') when the signal already fired.
   */
  createStream(sampleRateHz: number, options: AsrOptions = {}): StreamingAsrSession {
    if (options.signal?.aborted) throw new ProviderError('aborted', 'recognition aborted', this.name, { cause: options.signal.reason });
    return new PocketsphinxStream({
      pool: this.ensurePool(),
      provider: this.name,
      sampleRateHz,
      hasGrammar: this.currentGrammar.jsgf !== '',
      maxUtteranceMs: this.options.maxUtteranceMs ?? 30_000,
      partialIntervalMs: this.options.partialIntervalMs ?? 300,
      rejectBelowScorePerFrame: this.options.rejectBelowScorePerFrame,
      signal: options.signal,
    });
  }

  /** Decoders alive/idle and utterances waiting (for status displays and tests). */
  get poolStats(): { size: number; idle: number; waiting: number; created: number } {
    return this.pool?.stats ?? { size: 0, idle: 0, waiting: 0, created: 0 };
  }

  /** Free the decoders. Utterances in progress fail or finish; new calls are refused. */
  async close(): Promise<void> {
    this.closed = true;
    this.pool?.close();
  }

  private ensurePool(): DecoderPool {
    if (this.closed) throw new ProviderError('unavailable', 'pocketsphinx provider is closed', this.name);
    if (this.pool) return this.pool;
    const addon = loadPocketsphinxAddon();
    if (!addon) throw new ProviderError('unavailable', pocketsphinxAddonError() ?? ADDON_MISSING_MESSAGE, this.name);
    // Checked here because the C library exits the process on some missing model files.
    const problem = modelProblem(this.hmmDir, this.dictPath);
    if (problem) throw new ProviderError('model_missing', problem, this.name);
    this.pool = new DecoderPool(addon, {
      decoder: { hmm: this.hmmDir, dict: this.dictPath, sampleRateHz: 16000, args: [...DEFAULT_DECODER_ARGS, ...(this.options.decoderArgs ?? [])] },
      poolSize: this.poolSize,
      provider: this.name,
    });
    this.pool.setGrammar(this.currentGrammar.jsgf, this.options.extraWords);
    return this.pool;
  }

  private build(phrases: readonly string[]): JsgfGrammar {
    let dictionary: PronunciationDictionary;
    try {
      dictionary = PronunciationDictionary.load(this.dictPath);
    } catch (err) {
      if (err instanceof GrammarError) {
        // Keep the provider constructible; ensurePool reports the missing model on use.
        return { jsgf: '', phrases: [], words: [], missingWords: [], dropped: [...phrases] };
      }
      throw err;
    }
    return buildJsgf(phrases, {
      dictionary,
      extraWords: this.options.extraWords,
      onWarning: this.options.onWarning ?? ((message) => console.warn(message)),
    });
  }
}

/** What is missing from a model installation, or undefined when it looks complete. */
function modelProblem(hmmDir: string, dictPath: string): string | undefined {
  for (const file of ['mdef', 'means', 'variances', 'transition_matrices', 'feat.params']) {
    if (!existsSync(join(hmmDir, file))) {
      return `pocketsphinx acoustic model incomplete: ${join(hmmDir, file)} is missing (install the Debian package pocketsphinx-en-us)`;
    }
  }
  if (!existsSync(dictPath)) return `pocketsphinx dictionary ${dictPath} is missing (install the Debian package pocketsphinx-en-us)`;
  return undefined;
}
