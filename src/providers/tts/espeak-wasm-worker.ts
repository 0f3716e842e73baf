/**
 * Worker-thread side of EspeakWasmTts. The wasm build of eSpeak NG synthesizes synchronously,
 * 20-100 ms a sentence: run on the main thread it would stall every device's 60 ms audio
 * pacing, so it runs here. One request at a time (the main thread queues), and a shared
 * cancel word lets the main thread stop a synthesis between audio chunks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

/** Messages from the main thread. */
export type EspeakWorkerRequest =
  | { type: 'synthesize'; id: number; text: string; voice: string; rateWpm: number; pitch: number }
  | { type: 'list_voices'; id: number };

/** Messages to the main thread. */
export type EspeakWorkerResponse =
  | { type: 'ready'; sampleRateHz: number }
  | { type: 'init_error'; message: string }
  | { type: 'audio'; id: number; pcm: Int16Array; sampleRateHz: number; cancelled: boolean }
  | { type: 'voices'; id: number; voices: EspeakVoiceInfo[] }
  | { type: 'error'; id: number; code: 'failed' | 'bad_voice'; message: string };

/** One voice of the wasm build. */
export interface EspeakVoiceInfo {
  /** Human name, e.g. "Chinese (Mandarin, latin as English)". */
  name: string;
  /** Identifier usable as a voice, e.g. "sit/cmn". */
  identifier: string;
  /** Language codes usable as a voice, e.g. ["cmn", "zh-cmn", "zh"]. */
  languages: string[];
}

/** Data handed over at worker creation. */
export interface EspeakWorkerData {
  /** Absolute path of espeak-ng.js. */
  modulePath: string;
  /** Int32Array view: slot 0 holds the id of the request to cancel. */
  cancelWord: SharedArrayBuffer;
}

// The minimal surface of the emscripten module that this worker uses.
interface EspeakEngine {
  set_voice(voice: string): number;
  set_rate(rateWpm: number): void;
  set_pitch(pitch: number): void;
  get_samplerate(): number;
  list_voices(): Array<{ name: string; identifier: string; languages: Array<{ name: string }> }>;
  synthesize(text: string, onChunk: (samples: Int16Array | null) => boolean): void;
}

// tsc (module: commonjs) turns import() into require(), which cannot load this ES module on
// every Node 20 release: keep a real dynamic import by hiding it from the compiler.
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<{
  default: () => Promise<{ eSpeakNGWorker: new () => EspeakEngine }>;
}>;

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const data = workerData as EspeakWorkerData;
  const cancel = new Int32Array(data.cancelWord);
  let engine: EspeakEngine;
  try {
    const moduleFactory = await importEsm(pathToFileURL(data.modulePath).href);
    const instance = await moduleFactory.default();
    engine = new instance.eSpeakNGWorker();
  } catch (err) {
    port.postMessage({ type: 'init_error', message: err instanceof Error ? err.message : String(err) } satisfies EspeakWorkerResponse);
    return;
  }
  const sampleRateHz = engine.get_samplerate();
  port.postMessage({ type: 'ready', sampleRateHz } satisfies EspeakWorkerResponse);

  port.on('message', (request: EspeakWorkerRequest) => {
    if (request.type === 'list_voices') {
      const voices = engine.list_voices().map((v) => ({ name: v.name, identifier: v.identifier, languages: v.languages.map((l) => l.name) }));
      port.postMessage({ type: 'voices', id: request.id, voices } satisfies EspeakWorkerResponse);
      return;
    }
    try {
      if (engine.set_voice(request.voice) !== 0) {
        port.postMessage({ type: 'error', id: request.id, code: 'bad_voice', message: `espeak-ng has no voice "${request.voice}"` } satisfies EspeakWorkerResponse);
        return;
      }
      engine.set_rate(request.rateWpm);
      engine.set_pitch(request.pitch);
      const chunks: Int16Array[] = [];
      let total = 0;
      let cancelled = false;
      engine.synthesize(request.text, (samples) => {
        if (samples && samples.length > 0) {
          chunks.push(samples);
          total += samples.length;
        }
        // Returning true tells eSpeak NG to stop this synthesis.
        cancelled = Atomics.load(cancel, 0) === request.id;
        return cancelled;
      });
      const pcm = new Int16Array(total);
      let offset = 0;
      for (const chunk of chunks) {
        pcm.set(chunk, offset);
        offset += chunk.length;
      }
      port.postMessage({ type: 'audio', id: request.id, pcm, sampleRateHz, cancelled } satisfies EspeakWorkerResponse, [pcm.buffer]);
    } catch (err) {
      port.postMessage({ type: 'error', id: request.id, code: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies EspeakWorkerResponse);
    }
  });
}

void main();
