import { pathToFileURL } from 'node:url';
import { ProviderError, type VadModel, type VadModelStream } from '../types';

const SAMPLE_RATE_HZ = 16000;
/** Same window as Silero so the segmenter and callers need not care which model runs. */
const WINDOW_SAMPLES = 512;

/** Options of {@link WebRtcVadModel.load}. */
export interface WebRtcVadModelOptions {
  /** libfvad mode 0 (quality) .. 3 (very aggressive). Default 3: the only mode that did not keep
   * calling low-level white noise speech in our tests. */
  aggressiveness?: 0 | 1 | 2 | 3;
  /** libfvad frame length: 10, 20 or 30 ms. Default 10 (3 votes per window; fewest false starts here). */
  frameMs?: 10 | 20 | 30;
}

/** Counters of {@link WebRtcVadModel.stats}. */
export interface WebRtcVadStats {
  windows: number;
  frames: number;
}

/** The part of the emscripten module of @echogarden/fvad-wasm that we use. */
interface FvadModule {
  HEAP16: Int16Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _fvad_new(): number;
  _fvad_free(instance: number): void;
  _fvad_reset(instance: number): void;
  _fvad_set_mode(instance: number, mode: number): number;
  _fvad_set_sample_rate(instance: number, sampleRateHz: number): number;
  _fvad_process(instance: number, frame: number, length: number): number;
}

/**
 * The package is ESM-only and we compile to CommonJS, where TypeScript would turn `import()` into
 * `require()`. A Function-built import() stays a real dynamic import.
 */
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

/**
 * WebRTC VAD (libfvad compiled to wasm): a cheap GMM detector, ~100x cheaper than Silero and much
 * less accurate in noise. Useful as the only VAD on tiny hosts or as a gate in front of Silero.
 *
 * `process(window)` takes 512-sample windows like Silero and returns the fraction of libfvad
 * frames completed in it that were judged voiced (10 ms frames: 0, 1/3, 2/3 or 1; 30 ms frames:
 * almost always 0 or 1), so the segmenter's thresholds act as a majority vote. Frames don't divide
 * 512 samples, so each stream carries the remainder over to its next window.
 */
export class WebRtcVadModel implements VadModel {
  readonly name = 'webrtc';
  readonly windowSamples = WINDOW_SAMPLES;
  readonly sampleRateHz = SAMPLE_RATE_HZ;
  /** Samples per libfvad frame. */
  readonly frameSamples: number;
  private readonly streams = new Set<WebRtcVadStream>();
  private closed = false;
  /** Shared with the streams: windows and libfvad frames processed since load. */
  private readonly counters: WebRtcVadStats = { windows: 0, frames: 0 };

  private constructor(
    private readonly wasm: FvadModule,
    readonly aggressiveness: 0 | 1 | 2 | 3,
    frameMs: 10 | 20 | 30,
  ) {
    this.frameSamples = (SAMPLE_RATE_HZ * frameMs) / 1000;
  }

  /** Instantiate the wasm module. Rejects with ProviderError 'unavailable' if it cannot load. */
  static async load(options: WebRtcVadModelOptions = {}): Promise<WebRtcVadModel> {
    const aggressiveness = options.aggressiveness ?? 3;
    const frameMs = options.frameMs ?? 10;
    if (![0, 1, 2, 3].includes(aggressiveness)) {
      throw new ProviderError('failed', `aggressiveness must be 0..3, got ${aggressiveness}`, 'webrtc');
    }
    if (![10, 20, 30].includes(frameMs)) {
      throw new ProviderError('failed', `frameMs must be 10, 20 or 30, got ${frameMs}`, 'webrtc');
    }
    let wasm: FvadModule;
    try {
      // Resolve with require.resolve so lookup follows the usual CommonJS rules from this file.
      const entry = pathToFileURL(require.resolve('@echogarden/fvad-wasm')).href;
      const imported = (await importEsm(entry)) as { default: () => Promise<FvadModule> };
      wasm = await imported.default();
    } catch (error) {
      throw new ProviderError('unavailable', 'cannot load @echogarden/fvad-wasm', 'webrtc', { cause: error });
    }
    return new WebRtcVadModel(wasm, aggressiveness, frameMs);
  }

  createStream(): VadModelStream {
    if (this.closed) throw new ProviderError('failed', 'WebRTC VAD model is closed', 'webrtc');
    const instance = this.wasm._fvad_new();
    if (instance === 0) throw new ProviderError('failed', 'fvad_new failed (out of wasm memory?)', 'webrtc');
    if (this.wasm._fvad_set_sample_rate(instance, SAMPLE_RATE_HZ) !== 0 || this.wasm._fvad_set_mode(instance, this.aggressiveness) !== 0) {
      this.wasm._fvad_free(instance);
      throw new ProviderError('failed', 'fvad rejected its settings', 'webrtc');
    }
    const stream = new WebRtcVadStream(this.wasm, instance, this.frameSamples, this.aggressiveness, this.counters, () =>
      this.streams.delete(stream),
    );
    this.streams.add(stream);
    return stream;
  }

  /** Windows and libfvad frames processed since load. */
  stats(): WebRtcVadStats {
    return { ...this.counters };
  }

  /** Free every stream's native instance. The wasm module itself is garbage-collected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stream of [...this.streams]) stream.close();
  }
}

/** One libfvad instance plus a wasm buffer and the carried-over samples. */
class WebRtcVadStream implements VadModelStream {
  private readonly buffer: number;
  /** Samples left from the previous window that did not fill a frame. */
  private readonly carry: Int16Array;
  private carried = 0;
  private closed = false;

  constructor(
    private readonly wasm: FvadModule,
    private readonly instance: number,
    private readonly frameSamples: number,
    private readonly mode: number,
    private readonly counters: WebRtcVadStats,
    private readonly onClose: () => void,
  ) {
    // Room for carry + one window: at most frameSamples - 1 + 512 samples.
    this.buffer = wasm._malloc((frameSamples + WINDOW_SAMPLES) * 2);
    this.carry = new Int16Array(frameSamples);
  }

  process(window: Int16Array): Promise<number> {
    if (this.closed) return Promise.reject(new ProviderError('failed', 'VAD stream is closed', 'webrtc'));
    if (window.length !== WINDOW_SAMPLES) {
      return Promise.reject(new ProviderError('failed', `WebRTC VAD wants ${WINDOW_SAMPLES}-sample windows, got ${window.length}`, 'webrtc'));
    }
    // Read HEAP16 each time: the view is replaced when wasm memory grows.
    const heap = this.wasm.HEAP16;
    const base = this.buffer >> 1;
    heap.set(this.carry.subarray(0, this.carried), base);
    heap.set(window, base + this.carried);
    const total = this.carried + WINDOW_SAMPLES;
    let frames = 0;
    let voiced = 0;
    let offset = 0;
    for (; offset + this.frameSamples <= total; offset += this.frameSamples) {
      const result = this.wasm._fvad_process(this.instance, this.buffer + offset * 2, this.frameSamples);
      if (result < 0) return Promise.reject(new ProviderError('failed', 'fvad_process failed', 'webrtc'));
      frames++;
      voiced += result;
    }
    this.carried = total - offset;
    this.counters.windows++;
    this.counters.frames += frames;
    this.carry.set(heap.subarray(base + offset, base + total));
    return Promise.resolve(frames === 0 ? 0 : voiced / frames);
  }

  reset(): void {
    this.carried = 0;
    if (this.closed) return;
    this.wasm._fvad_reset(this.instance);
    // fvad_reset also puts mode and sample rate back to their defaults.
    this.wasm._fvad_set_sample_rate(this.instance, SAMPLE_RATE_HZ);
    this.wasm._fvad_set_mode(this.instance, this.mode);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wasm._fvad_free(this.instance);
    this.wasm._free(this.buffer);
    this.onClose();
  }
}
