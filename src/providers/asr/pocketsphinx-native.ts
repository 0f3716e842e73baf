/**
 * Loader and types of the pocketsphinx N-API addon (native/pocketsphinx, built by
 * `npm run build:native` against Debian's libpocketsphinx-dev). The addon is optional: when it is
 * missing, {@link loadPocketsphinxAddon} returns undefined and says why.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Acoustic model directory that Debian's pocketsphinx-en-us installs. */
export const DEFAULT_HMM_DIR = '/usr/share/pocketsphinx/model/en-us/en-us';

/** Where the addon lands inside the package. */
export const ADDON_RELATIVE_PATH = join('native', 'pocketsphinx', 'build', 'Release', 'pocketsphinx_binding.node');

/** Message of ProviderError('unavailable') when the addon is not built. */
export const ADDON_MISSING_MESSAGE =
  'pocketsphinx native decoder not built: install libpocketsphinx-dev and run npm run build:native';

/** Result of an utterance (or the best hypothesis so far). */
export interface NativeDecoderResult {
  /** Recognised words separated by spaces; '' when nothing matched. */
  text: string;
  /** Path score (log domain, more negative = worse); comparable only within one utterance length. */
  score: number;
  /** Feature frames (10 ms each) the decoder saw after silence removal. */
  frames: number;
}

/** Options of the native Decoder constructor. */
export interface NativeDecoderOptions {
  /** Acoustic model directory (holds mdef, means, ...). */
  hmm: string;
  /** Pronunciation dictionary file. */
  dict: string;
  /** Input sample rate; the en-us model wants 16000. */
  sampleRateHz?: number;
  /** Extra decoder flag/value pairs, e.g. ['-beam', '1e-60']; unknown flags are rejected. */
  args?: string[];
}

/**
 * One pocketsphinx decoder (one utterance at a time). Methods throw Errors with a `code`:
 * ERR_GRAMMAR, ERR_WORD, ERR_DECODE, ERR_STATE, ERR_BUSY, ERR_FREED, ERR_INIT, ERR_CONFIG.
 */
export interface NativeDecoder {
  /** Replace the grammar (JSGF text); not allowed during an utterance. */
  setJsgf(jsgf: string): void;
  /** Spot one keyphrase instead of a grammar. */
  setKeyphrase(phrase: string): void;
  /** Teach a pronunciation (ARPAbet phones separated by spaces). */
  addWord(word: string, phones: string): boolean;
  /** Pronunciation in the decoder's dictionary, or null. */
  lookupWord(word: string): string | null;
  startUtterance(): void;
  /** Decode samples on the calling thread; returns frames searched. */
  processRaw(pcm: Int16Array): number;
  /** Decode a copy of the samples on the libuv thread pool. */
  processRawAsync(pcm: Int16Array): Promise<number>;
  /** Best hypothesis so far in the current utterance. */
  partial(): NativeDecoderResult;
  endUtterance(): NativeDecoderResult;
  endUtteranceAsync(): Promise<NativeDecoderResult>;
  /** Release the native decoder (deferred while an async call runs). Idempotent. */
  free(): void;
  readonly busy: boolean;
  readonly freed: boolean;
  readonly inUtterance: boolean;
}

/** The addon's exports. */
export interface PocketsphinxAddon {
  Decoder: new (options: NativeDecoderOptions) => NativeDecoder;
  /** Echo the library's log to stderr (off by default; env XIAOZHI_SPHINX_LOG=1 turns it on at load). */
  setLogToStderr(on: boolean): void;
}

let loaded: { addon: PocketsphinxAddon | undefined; error: string | undefined } | undefined;

/** Candidate addon files: env override, then up from this file (package layout), then the cwd. */
function candidatePaths(): string[] {
  const paths: string[] = [];
  const fromEnv = process.env.XIAOZHI_POCKETSPHINX_ADDON;
  if (fromEnv) paths.push(fromEnv);
  let dir = __dirname;
  for (let depth = 0; depth < 6; depth++) {
    paths.push(join(dir, ADDON_RELATIVE_PATH));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  paths.push(join(process.cwd(), ADDON_RELATIVE_PATH));
  return paths;
}

/**
 * Load the addon once per process. Returns undefined when it is not built or fails to load
 * (see {@link pocketsphinxAddonError}).
 */
export function loadPocketsphinxAddon(): PocketsphinxAddon | undefined {
  if (loaded) return loaded.addon;
  const path = candidatePaths().find((p) => existsSync(p));
  if (!path) {
    loaded = { addon: undefined, error: ADDON_MISSING_MESSAGE };
    return undefined;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = require(path) as PocketsphinxAddon;
    if (typeof addon.Decoder !== 'function') throw new Error('addon has no Decoder export');
    loaded = { addon, error: undefined };
  } catch (err) {
    // Typically libpocketsphinx3 was removed after the build: the .node file cannot link.
    loaded = { addon: undefined, error: `${ADDON_MISSING_MESSAGE} (loading ${path} failed: ${(err as Error).message})` };
  }
  return loaded.addon;
}

/** Why the addon is unavailable, or undefined when it loaded (or was not tried yet). */
export function pocketsphinxAddonError(): string | undefined {
  return loaded?.error;
}
