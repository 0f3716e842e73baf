/**
 * Local ASR with sherpa-onnx (the optional `sherpa-onnx-node` native addon): SenseVoice,
 * Paraformer and Whisper through the offline recognizer, streaming Zipformer through the online
 * recognizer with partial results. Models come from `npm run models -- <name>`.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs';
import { basename, join } from 'node:path';
import { concatInt16, int16ToFloat } from '../../audio/pcm';
import { modelsOfKind, MODEL_CATALOGUE } from '../models/catalogue';
import {
  ProviderError,
  type AsrOptions,
  type AsrResult,
  type PcmAudio,
  type StreamingAsrProvider,
  type StreamingAsrSession,
} from '../types';

/** Model families this provider drives. */
export type SherpaAsrKind = 'sense-voice' | 'paraformer' | 'whisper' | 'zipformer-streaming';

/** Options of {@link SherpaOnnxAsr}. */
export interface SherpaOnnxAsrOptions {
  /** Folder of one extracted model, e.g. `models/sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2024-07-17`. */
  modelDir: string;
  /** Model family. Default 'sense-voice' (recommended: zh/en/ja/ko/yue, fast). */
  kind?: SherpaAsrKind;
  /**
   * Spoken language for SenseVoice (zh, en, ja, ko, yue) and multilingual Whisper; omit or 'auto'
   * to detect. Fixed when the model loads (sherpa-onnx takes it in the recognizer config).
   */
  language?: string;
  /** Inference threads per decode. Default 1 (a 2-core box serves several sessions). */
  numThreads?: number;
  /** Inverse text normalisation (SenseVoice: "twenty one" -> "21"). Default true. */
  useItn?: boolean;
  /** Use the int8 model files when the folder has both. Default true. */
  preferInt8?: boolean;
  /** Provider name in errors and logs. Default 'sherpa-onnx-<kind>'. */
  name?: string;
  /**
   * The sherpa-onnx-node module to use instead of `require('sherpa-onnx-node')`: for hosts that
   * load the addon themselves, and for tests that script the recognizer.
   */
  addon?: unknown;
}

// Minimal shapes of the parts of sherpa-onnx-node we use (it ships no TypeScript types).
interface Waveform {
  samples: Float32Array;
  sampleRate: number;
}
interface SherpaOfflineStream {
  acceptWaveform(wave: Waveform): void;
}
interface SherpaOfflineRecognizer {
  createStream(): SherpaOfflineStream;
  decodeAsync(stream: SherpaOfflineStream): Promise<SherpaOfflineResult>;
}
interface SherpaOfflineResult {
  text: string;
  lang?: string;
  emotion?: string;
  event?: string;
}
interface SherpaOnlineStream {
  acceptWaveform(wave: Waveform): void;
  inputFinished(): void;
}
interface SherpaOnlineRecognizer {
  createStream(): SherpaOnlineStream;
  isReady(stream: SherpaOnlineStream): boolean;
  decode(stream: SherpaOnlineStream): void;
  getResult(stream: SherpaOnlineStream): { text: string };
}
interface SherpaModule {
  OfflineRecognizer: { createAsync(config: object): Promise<SherpaOfflineRecognizer> };
  OnlineRecognizer: new (config: object) => SherpaOnlineRecognizer;
}

type Loaded = { mode: 'offline'; recognizer: SherpaOfflineRecognizer } | { mode: 'online'; recognizer: SherpaOnlineRecognizer };

/** Seconds of silence fed after the last chunk so the streaming model flushes its lookahead. */
const ONLINE_TAIL_PADDING_S = 0.4;

const KIND_LABEL: Record<SherpaAsrKind, string> = {
  'sense-voice': 'SenseVoice',
  paraformer: 'Paraformer',
  whisper: 'Whisper',
  'zipformer-streaming': 'streaming Zipformer',
};

/** sherpa-onnx ASR: batch for every kind, true partial results for 'zipformer-streaming'. */
export class SherpaOnnxAsr implements StreamingAsrProvider {
  readonly name: string;
  readonly kind: SherpaAsrKind;
  private readonly options: SherpaOnnxAsrOptions;
  private loading: Promise<Loaded> | undefined;
  /** Offline decodes run one after another on the addon's worker thread (see decodeOffline). */
  private decodeChain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: SherpaOnnxAsrOptions) {
    if (!options.modelDir) throw new TypeError('SherpaOnnxAsr: modelDir is required');
    this.options = options;
    this.kind = options.kind ?? 'sense-voice';
    if (!(this.kind in KIND_LABEL)) throw new TypeError(`SherpaOnnxAsr: unknown kind '${String(this.kind)}'`);
    this.name = options.name ?? `sherpa-onnx-${this.kind}`;
  }

  /**
   * Check the model files and load the recognizer (also done on first use). Call it at deploy to
   * surface 'model_missing' / 'unavailable' before the first utterance.
   */
  load(): Promise<void> {
    return this.recognizer().then(() => undefined);
  }

  async transcribe(audio: PcmAudio, options: AsrOptions = {}): Promise<AsrResult> {
    throwIfAborted(options.signal, this.name);
    const loaded = await this.recognizer();
    throwIfAborted(options.signal, this.name);
    const samples = int16ToFloat(audio.pcm);
    if (loaded.mode === 'offline') return this.decodeOffline(loaded.recognizer, samples, audio.sampleRateHz, options.signal);
    const stream = loaded.recognizer.createStream();
    stream.acceptWaveform({ samples, sampleRate: audio.sampleRateHz });
    return { text: this.finishOnline(loaded.recognizer, stream, audio.sampleRateHz), ...this.languageField() };
  }

  createStream(sampleRateHz: number, options: AsrOptions = {}): StreamingAsrSession {
    return new SherpaStreamingSession(this, sampleRateHz, options.signal);
  }

  async close(): Promise<void> {
    // The addon frees native recognizers when they are garbage-collected; dropping our reference
    // is all that can be done.
    this.closed = true;
    this.loading = undefined;
  }

  /** @internal Loaded recognizer (memoised; a failed load is retried on the next call). */
  recognizer(): Promise<Loaded> {
    if (this.closed) return Promise.reject(new ProviderError('unavailable', 'provider closed', this.name));
    if (!this.loading) {
      this.loading = this.loadRecognizer();
      this.loading.catch(() => {
        this.loading = undefined;
      });
    }
    return this.loading;
  }

  /** @internal Decode a whole utterance with the offline recognizer. */
  decodeOffline(recognizer: SherpaOfflineRecognizer, samples: Float32Array, sampleRateHz: number, signal?: AbortSignal): Promise<AsrResult> {
    // Serialised: the native decode cannot be cancelled and sharing one recognizer between
    // concurrent worker-thread decodes is not documented as safe. The limiter in front sets
    // concurrency across providers.
    const run = this.decodeChain.then(async () => {
      throwIfAborted(signal, this.name);
      const stream = recognizer.createStream();
      stream.acceptWaveform({ samples, sampleRate: sampleRateHz });
      let raw: SherpaOfflineResult;
      try {
        raw = await recognizer.decodeAsync(stream);
      } catch (err) {
        throw new ProviderError('failed', `sherpa-onnx decode failed: ${errorMessage(err)}`, this.name, { cause: err });
      }
      return this.toResult(raw);
    });
    this.decodeChain = run.catch(() => undefined);
    return raceAbort(run, signal, this.name);
  }

  /** @internal Flush an online stream and return the final text. */
  finishOnline(recognizer: SherpaOnlineRecognizer, stream: SherpaOnlineStream, sampleRateHz: number): string {
    stream.acceptWaveform({ samples: new Float32Array(Math.round(sampleRateHz * ONLINE_TAIL_PADDING_S)), sampleRate: sampleRateHz });
    stream.inputFinished();
    return decodeReady(recognizer, stream);
  }

  /** @internal Language to report when the model does not say. */
  languageField(): { language?: string } {
    const lang = normaliseLanguage(this.options.language);
    return lang ? { language: lang } : {};
  }

  private toResult(raw: SherpaOfflineResult): AsrResult {
    const result: AsrResult = { text: (raw.text ?? '').trim() };
    // SenseVoice tags look like "<|zh|>", "<|NEUTRAL|>", "<|Speech|>".
    const lang = stripTag(raw.lang);
    if (lang) result.language = lang;
    else Object.assign(result, this.languageField());
    const emotion = stripTag(raw.emotion);
    const event = stripTag(raw.event);
    if (emotion || event) result.extra = { ...(emotion ? { emotion } : {}), ...(event ? { event } : {}) };
    return result;
  }

  private async loadRecognizer(): Promise<Loaded> {
    const config = this.buildConfig();
    const sherpa = (this.options.addon as SherpaModule | undefined) ?? loadSherpaModule(this.name);
    try {
      if (this.kind === 'zipformer-streaming') return { mode: 'online', recognizer: new sherpa.OnlineRecognizer(config) };
      return { mode: 'offline', recognizer: await sherpa.OfflineRecognizer.createAsync(config) };
    } catch (err) {
      throw new ProviderError(
        'failed',
        `sherpa-onnx could not load the ${KIND_LABEL[this.kind]} model in ${this.options.modelDir}: ${errorMessage(err)}`,
        this.name,
        { cause: err },
      );
    }
  }

  /** Recognizer config for the kind, after checking every model file exists. */
  private buildConfig(): object {
    const dir = this.options.modelDir;
    const int8 = this.options.preferInt8 ?? true;
    const numThreads = this.options.numThreads ?? 1;
    const featConfig = { sampleRate: 16000, featureDim: 80 };
    const missing: string[] = [];
    const picked: string[] = [];
    const pick = (label: string, test: (file: string) => boolean): string => {
      const found = findModelFile(dir, test, int8);
      if (found) picked.push(found);
      else missing.push(label);
      return found ?? '';
    };
    let config: object;
    switch (this.kind) {
      case 'sense-voice':
      case 'paraformer': {
        const model = pick('model.int8.onnx or model.onnx', (f) => f === 'model.onnx' || f === 'model.int8.onnx');
        const tokens = pick('tokens.txt', (f) => f === 'tokens.txt');
        const modelConfig =
          this.kind === 'sense-voice'
            ? {
                senseVoice: {
                  model,
                  language: normaliseLanguage(this.options.language) ?? '',
                  useInverseTextNormalization: this.options.useItn === false ? 0 : 1,
                },
              }
            : { paraformer: { model } };
        config = { featConfig, modelConfig: { ...modelConfig, tokens, numThreads, provider: 'cpu', debug: 0 } };
        break;
      }
      case 'whisper': {
        const encoder = pick('<size>-encoder.onnx', (f) => /-encoder(\.int8)?\.onnx$/.test(f));
        const decoder = pick('<size>-decoder.onnx', (f) => /-decoder(\.int8)?\.onnx$/.test(f));
        const tokens = pick('<size>-tokens.txt', (f) => /-tokens\.txt$/.test(f));
        const whisper = { encoder, decoder, language: normaliseLanguage(this.options.language) ?? '', task: 'transcribe' };
        config = { featConfig, modelConfig: { whisper, tokens, numThreads, provider: 'cpu', debug: 0 } };
        break;
      }
      case 'zipformer-streaming': {
        const encoder = pick('encoder-*.onnx', (f) => /^encoder.*\.onnx$/.test(f));
        const decoder = pick('decoder-*.onnx', (f) => /^decoder.*\.onnx$/.test(f));
        const joiner = pick('joiner-*.onnx', (f) => /^joiner.*\.onnx$/.test(f));
        const tokens = pick('tokens.txt', (f) => f === 'tokens.txt');
        config = {
          featConfig,
          modelConfig: { transducer: { encoder, decoder, joiner }, tokens, numThreads, provider: 'cpu', debug: 0, modelType: 'zipformer' },
          decodingMethod: 'greedy_search',
          // The VAD upstream decides where utterances end.
          enableEndpoint: 0,
        };
        break;
      }
    }
    if (missing.length > 0) {
      throw new ProviderError(
        'model_missing',
        `${KIND_LABEL[this.kind]} model not found in ${dir} (missing ${missing.join(', ')}): download it with \`npm run models -- ${suggestModel(this.kind, dir)}\``,
        this.name,
      );
    }
    // onnxruntime aborts the whole process (uncaught C++ exception) when the online recognizer
    // meets a file that is not ONNX, so catch truncated downloads, HTML error pages and Git LFS
    // pointers here, while it is still an ordinary error.
    const bad = picked.filter((file) => file.endsWith('.onnx') && !looksLikeOnnx(file));
    if (bad.length > 0) {
      throw new ProviderError(
        'model_missing',
        `${bad.map((f) => basename(f)).join(', ')} in ${dir}: not ONNX (corrupt download or Git LFS pointer): download it again with \`npm run models -- ${suggestModel(this.kind, dir)}\``,
        this.name,
      );
    }
    return config;
  }
}

/** Streaming session: online kinds decode as audio arrives; offline kinds buffer and decode at end(). */
class SherpaStreamingSession implements StreamingAsrSession {
  private readonly queue = new ResultQueue<AsrResult & { partial: boolean }>();
  private readonly chunks: Int16Array[] = [];
  private online: { recognizer: SherpaOnlineRecognizer; stream: SherpaOnlineStream } | undefined;
  private lastPartial = '';
  private ended = false;
  /** Serialises writes behind the (asynchronous) model load. */
  private work: Promise<void>;

  constructor(
    private readonly provider: SherpaOnnxAsr,
    private readonly sampleRateHz: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.work = provider.recognizer().then((loaded) => {
      if (loaded.mode === 'online') this.online = { recognizer: loaded.recognizer, stream: loaded.recognizer.createStream() };
    });
    this.work.catch((err: unknown) => this.queue.fail(err));
    if (signal) {
      const onAbort = (): void => this.queue.fail(new ProviderError('aborted', 'recognition aborted', provider.name));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  write(pcm: Int16Array): void {
    if (this.ended) throw new Error('StreamingAsrSession.write after end()');
    const copy = pcm.slice(); // the caller may reuse its buffer
    this.work = this.work.then(() => {
      if (this.queue.done) return;
      if (!this.online) {
        this.chunks.push(copy);
        return;
      }
      const { recognizer, stream } = this.online;
      stream.acceptWaveform({ samples: int16ToFloat(copy), sampleRate: this.sampleRateHz });
      const text = decodeReady(recognizer, stream);
      if (text && text !== this.lastPartial) {
        this.lastPartial = text;
        this.queue.push({ text, partial: true, ...this.provider.languageField() });
      }
    });
    this.work.catch((err: unknown) => this.queue.fail(err));
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.work = this.work.then(async () => {
      if (this.queue.done) return;
      if (this.online) {
        const text = this.provider.finishOnline(this.online.recognizer, this.online.stream, this.sampleRateHz);
        this.queue.push({ text, partial: false, ...this.provider.languageField() });
      } else {
        const loaded = await this.provider.recognizer();
        if (loaded.mode !== 'offline') throw new Error('unreachable: offline session without offline recognizer');
        const samples = int16ToFloat(concatInt16(this.chunks));
        const result = await this.provider.decodeOffline(loaded.recognizer, samples, this.sampleRateHz, this.signal);
        this.queue.push({ ...result, partial: false });
      }
      this.queue.close();
    });
    this.work.catch((err: unknown) => this.queue.fail(err));
  }

  results(): AsyncIterable<AsrResult & { partial: boolean }> {
    return this.queue;
  }
}

/** Single-consumer async queue: push values, then close() or fail(err). */
class ResultQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private error: unknown;
  private finished = false;
  private wake: (() => void) | undefined;

  get done(): boolean {
    return this.finished;
  }
  push(item: T): void {
    if (this.finished) return;
    this.items.push(item);
    this.wake?.();
  }
  close(): void {
    this.finished = true;
    this.wake?.();
  }
  fail(err: unknown): void {
    if (this.finished) return;
    this.error = err;
    this.finished = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const next = this.items.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.error !== undefined) throw this.error;
      if (this.finished) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/** Run the online decoder over everything buffered and return the current text. */
function decodeReady(recognizer: SherpaOnlineRecognizer, stream: SherpaOnlineStream): string {
  while (recognizer.isReady(stream)) recognizer.decode(stream);
  return (recognizer.getResult(stream).text ?? '').trim();
}

/** First file in `dir` matching `test`, int8 first when preferred. */
function findModelFile(dir: string, test: (file: string) => boolean, preferInt8: boolean): string | undefined {
  if (!existsSync(dir)) return undefined;
  let names: string[];
  try {
    names = readdirSync(dir).filter(test).sort();
  } catch {
    return undefined;
  }
  const int8 = names.filter((n) => n.includes('.int8.'));
  const full = names.filter((n) => !n.includes('.int8.'));
  const ordered = preferInt8 ? [...int8, ...full] : [...full, ...int8];
  const chosen = ordered[0];
  return chosen === undefined ? undefined : join(dir, chosen);
}

/**
 * Cheap sanity check of an ONNX file: a serialized ModelProto starts with field 1 (ir_version,
 * varint), i.e. the byte 0x08.
 */
function looksLikeOnnx(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(1);
    return readSync(fd, head, 0, 1, 0) === 1 && head[0] === 0x08;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Catalogue name to suggest: the entry installed under this folder name, else the kind's first. */
function suggestModel(kind: SherpaAsrKind, dir: string): string {
  const byDir = Object.values(MODEL_CATALOGUE).find((e) => e.dir === basename(dir) && e.kind === kind);
  return byDir?.name ?? modelsOfKind(kind)[0]?.name ?? '--list';
}

let sherpaModule: SherpaModule | undefined;

/** Lazy require: sherpa-onnx-node is an optional dependency with a native addon. */
function loadSherpaModule(provider: string): SherpaModule {
  if (sherpaModule) return sherpaModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sherpaModule = require('sherpa-onnx-node') as SherpaModule;
    return sherpaModule;
  } catch (err) {
    throw new ProviderError(
      'unavailable',
      `sherpa-onnx-node is not installed or cannot load on this platform (npm install sherpa-onnx-node): ${errorMessage(err)}`,
      provider,
      { cause: err },
    );
  }
}

function normaliseLanguage(language: string | undefined): string | undefined {
  if (!language || language.toLowerCase() === 'auto') return undefined;
  const lower = language.toLowerCase();
  if (lower === 'yue' || lower === 'zh-hk' || lower === 'zh-yue') return 'yue';
  return lower.split(/[-_]/)[0] || undefined;
}

function stripTag(tag: string | undefined): string | undefined {
  if (!tag) return undefined;
  const inner = tag.replace(/^<\|/, '').replace(/\|>$/, '').trim();
  return inner || undefined;
}

function throwIfAborted(signal: AbortSignal | undefined, provider: string): void {
  if (signal?.aborted) throw new ProviderError('aborted', 'recognition aborted', provider);
}

/** Reject as soon as the signal aborts; the native work finishes in the background. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, provider: string): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new ProviderError('aborted', 'recognition aborted', provider));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
