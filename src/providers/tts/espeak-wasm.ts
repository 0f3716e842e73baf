/**
 * eSpeak NG compiled to WebAssembly (@echogarden/espeak-ng-emscripten), run in one worker
 * thread per process. The package is GPL-3.0 and an optional dependency: it is loaded only
 * when the first sentence is synthesized, and a clear ProviderError('unavailable') says how to
 * install it when it is missing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ProviderError, type PcmAudio, type TtsOptions, type TtsProvider } from '../types';
import type { EspeakVoiceInfo, EspeakWorkerData, EspeakWorkerRequest, EspeakWorkerResponse } from './espeak-wasm-worker';

export type { EspeakVoiceInfo } from './espeak-wasm-worker';

const PROVIDER_NAME = 'espeak-wasm';
const PACKAGE_NAME = '@echogarden/espeak-ng-emscripten';

/** Options of EspeakWasmTts. */
export interface EspeakWasmTtsOptions {
  /** eSpeak NG voice or language: 'en-us' (default), 'cmn' (Mandarin), 'de', 'en-us+f3'... */
  voice?: string;
  /** Speaking rate in words per minute; 175 is eSpeak's default. */
  rateWpm?: number;
  /** Base pitch 0..100; 50 is eSpeak's default. */
  pitch?: number;
  /** Path of espeak-ng.js, for a copy outside node_modules. Default: resolved from the package. */
  modulePath?: string;
}

// Language tags that eSpeak NG does not take as a voice name, mapped to one it has.
const LANGUAGE_ALIASES: Readonly<Record<string, string>> = {
  zh: 'cmn',
  'zh-cn': 'cmn',
  'zh-hans': 'cmn',
  'zh-tw': 'cmn',
  'zh-hk': 'yue',
  en: 'en-us',
};

const MIN_RATE_WPM = 80;
const MAX_RATE_WPM = 450;

/** Omit that keeps a union a union. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Job {
  request: EspeakWorkerRequest;
  resolve: (response: EspeakWorkerResponse) => void;
  reject: (err: ProviderError) => void;
}

/**
 * Owns the worker thread and its single wasm instance. Requests are serialised: the instance
 * keeps voice/rate state between calls, so two sentences must never interleave.
 */
class EspeakWorkerHost {
  private worker: Worker | undefined;
  private readonly ready: Promise<void>;
  private readonly cancelView: Int32Array;
  private readonly queue: Job[] = [];
  private current: Job | undefined;
  private nextId = 1;
  private failure: ProviderError | undefined;
  private rejectReady: ((err: ProviderError) => void) | undefined;

  constructor(modulePath: string, private readonly onDead: () => void) {
    const cancelWord = new SharedArrayBuffer(4);
    this.cancelView = new Int32Array(cancelWord);
    const data: EspeakWorkerData = { modulePath, cancelWord };
    const worker = new Worker(join(__dirname, 'espeak-wasm-worker.js'), { workerData: data });
    this.worker = worker;
    // Idle, the worker must not keep the process alive; busy, it must (see updateRef).
    worker.unref();
    this.ready = new Promise<void>((resolve, reject) => {
      this.rejectReady = reject;
      worker.once('message', (message: EspeakWorkerResponse) => {
        if (message.type === 'ready') {
          resolve();
          worker.on('message', (m: EspeakWorkerResponse) => this.onMessage(m));
        } else {
          const detail = message.type === 'init_error' ? message.message : `unexpected ${message.type}`;
          reject(this.die(new ProviderError('unavailable', `espeak-ng wasm failed to start: ${detail}`, PROVIDER_NAME)));
        }
      });
    });
    // A rejected ready promise that nobody awaits yet must not crash the process.
    this.ready.catch(() => undefined);
    worker.on('error', (err) => {
      this.die(new ProviderError('failed', `espeak-ng worker crashed: ${err.message}`, PROVIDER_NAME, { cause: err }));
    });
    worker.on('exit', (exitCode) => {
      this.die(new ProviderError('failed', `espeak-ng worker exited (code ${exitCode})`, PROVIDER_NAME));
    });
  }

  /** Queue a request; resolves with the worker's answer. */
  async run(request: WithoutId<EspeakWorkerRequest>, signal?: AbortSignal): Promise<EspeakWorkerResponse> {
    if (this.failure) throw this.failure;
    throwIfAborted(signal);
    await this.ready;
    throwIfAborted(signal);
    const id = this.nextId++;
    return new Promise<EspeakWorkerResponse>((resolve, reject) => {
      const onAbort = (): void => {
        const queued = this.queue.indexOf(job);
        if (queued >= 0) this.queue.splice(queued, 1);
        // Running: the worker checks this word between audio chunks and stops early.
        else if (this.current === job) Atomics.store(this.cancelView, 0, id);
        reject(abortedError());
      };
      const job: Job = {
        request: { ...request, id } as EspeakWorkerRequest,
        resolve: (response) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(response);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /** Stop the worker; pending calls reject. */
  async terminate(): Promise<void> {
    const worker = this.worker;
    this.die(new ProviderError('unavailable', 'espeak-ng wasm was shut down', PROVIDER_NAME));
    if (worker) await worker.terminate();
  }

  private pump(): void {
    if (this.current || !this.worker) {
      this.updateRef();
      return;
    }
    const job = this.queue.shift();
    this.current = job;
    if (job) this.worker.postMessage(job.request);
    this.updateRef();
  }

  private updateRef(): void {
    if (!this.worker) return;
    if (this.current || this.queue.length > 0) this.worker.ref();
    else this.worker.unref();
  }

  private onMessage(message: EspeakWorkerResponse): void {
    const job = this.current;
    if (!job || !('id' in message) || message.id !== job.request.id) return;
    this.current = undefined;
    // An aborted job was already rejected; settling again is a no-op.
    job.resolve(message);
    this.pump();
  }

  private die(err: ProviderError): ProviderError {
    if (this.failure) return this.failure;
    this.failure = err;
    this.worker = undefined;
    this.rejectReady?.(err);
    const pending = this.current ? [this.current, ...this.queue] : [...this.queue];
    this.current = undefined;
    this.queue.length = 0;
    for (const job of pending) job.reject(err);
    this.onDead();
    return err;
  }
}

// One host per module path (in practice: one per process).
const hosts = new Map<string, EspeakWorkerHost>();

function hostFor(modulePath: string): EspeakWorkerHost {
  let host = hosts.get(modulePath);
  if (!host) {
    const created = new EspeakWorkerHost(modulePath, () => {
      // A dead host is forgotten so the next call starts a fresh worker.
      if (hosts.get(modulePath) === created) hosts.delete(modulePath);
    });
    host = created;
    hosts.set(modulePath, host);
  }
  return host;
}

function resolveModulePath(explicitPath: string | undefined): string {
  if (explicitPath !== undefined) {
    if (!existsSync(explicitPath)) {
      throw new ProviderError('unavailable', `espeak-ng wasm module not found at ${explicitPath}`, PROVIDER_NAME);
    }
    return explicitPath;
  }
  try {
    return require.resolve(`${PACKAGE_NAME}/espeak-ng.js`);
  } catch (err) {
    throw new ProviderError(
      'unavailable',
      `the optional package ${PACKAGE_NAME} (GPL-3.0) is not installed: run "npm install ${PACKAGE_NAME}" to use the espeak TTS`,
      PROVIDER_NAME,
      { cause: err },
    );
  }
}

function abortedError(): ProviderError {
  return new ProviderError('aborted', 'speech synthesis was aborted', PROVIDER_NAME);
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError();
}

/**
 * Text-to-speech with eSpeak NG in WebAssembly: robotic but instant (~20 ms a phrase after a
 * ~150 ms one-time start), offline, 100+ languages including Mandarin ('cmn') and Cantonese
 * ('yue'). Output is mono PCM at 22,050 Hz.
 */
export class EspeakWasmTts implements TtsProvider {
  readonly name = PROVIDER_NAME;
  private readonly voice: string;
  private readonly rateWpm: number;
  private readonly pitch: number;
  private readonly modulePath: string | undefined;

  constructor(options: EspeakWasmTtsOptions = {}) {
    this.voice = options.voice ?? 'en-us';
    this.rateWpm = options.rateWpm ?? 175;
    this.pitch = options.pitch ?? 50;
    this.modulePath = options.modulePath;
  }

  /** Start the shared worker now rather than on the first sentence (saves ~150 ms then). */
  async warmUp(): Promise<void> {
    await this.listVoices();
  }

  /** Voices of the wasm build (about 140). */
  async listVoices(options: { signal?: AbortSignal } = {}): Promise<EspeakVoiceInfo[]> {
    const response = await hostFor(resolveModulePath(this.modulePath)).run({ type: 'list_voices' }, options.signal);
    if (response.type !== 'voices') throw new ProviderError('bad_response', `espeak-ng worker answered ${response.type}`, PROVIDER_NAME);
    return response.voices;
  }

  async synthesize(text: string, options: TtsOptions = {}): Promise<PcmAudio> {
    throwIfAborted(options.signal);
    const host = hostFor(resolveModulePath(this.modulePath));
    const requested = options.voice ?? (options.language !== undefined ? options.language : this.voice);
    const rateWpm = Math.round(Math.min(MAX_RATE_WPM, Math.max(MIN_RATE_WPM, this.rateWpm * (options.speed ?? 1))));
    const pitch = Math.min(100, Math.max(0, Math.round(this.pitch)));
    const attempt = (voice: string): Promise<EspeakWorkerResponse> =>
      host.run({ type: 'synthesize', text, voice, rateWpm, pitch }, options.signal);

    let response = await attempt(requested);
    const alias = LANGUAGE_ALIASES[requested.toLowerCase()];
    if (response.type === 'error' && response.code === 'bad_voice' && alias !== undefined) {
      response = await attempt(alias);
    }
    if (response.type === 'audio') {
      // A cancelled synthesis was already rejected as aborted; this only guards races.
      if (response.cancelled) throw abortedError();
      return { pcm: response.pcm, sampleRateHz: response.sampleRateHz };
    }
    if (response.type === 'error') {
      throw new ProviderError('failed', response.message, PROVIDER_NAME);
    }
    throw new ProviderError('bad_response', `espeak-ng worker answered ${response.type}`, PROVIDER_NAME);
  }

  /** Instances share one worker: closing one leaves it running (see shutdownEspeakWasm). */
  async close(): Promise<void> {
    // Nothing per instance.
  }
}

/** Stop the shared espeak-ng worker(s); the next synthesize starts a new one. */
export async function shutdownEspeakWasm(): Promise<void> {
  const all = [...hosts.values()];
  hosts.clear();
  await Promise.all(all.map((host) => host.terminate()));
}
