import { pathToFileURL } from 'node:url';
import { concatInt16 } from './pcm';

/** The parts of the Emscripten module of @echogarden/speex-resampler-wasm that we call. */
interface SpeexModule {
  HEAP16: Int16Array;
  HEAPU32: Uint32Array;
  HEAP32: Int32Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _speex_resampler_init(channels: number, inRate: number, outRate: number, quality: number, errPtr: number): number;
  _speex_resampler_destroy(state: number): void;
  _speex_resampler_process_int(state: number, channel: number, inPtr: number, inLenPtr: number, outPtr: number, outLenPtr: number): number;
  _speex_resampler_skip_zeros(state: number): number;
  _speex_resampler_reset_mem(state: number): number;
  _speex_resampler_get_input_latency(state: number): number;
}

const PACKAGE = '@echogarden/speex-resampler-wasm';
let modulePromise: Promise<SpeexModule> | undefined;

/**
 * Load the wasm module once per process; every Resampler allocates its own state inside it.
 * The package is ESM-only. tsc (module: commonjs) rewrites `import()` into `require()`, which
 * loads ESM only on Node >= 20.19, so on older Node we fall back to a real dynamic import of the
 * resolved file URL (hidden from tsc inside a Function).
 */
function loadSpeex(): Promise<SpeexModule> {
  modulePromise ??= (async () => {
    let factory: unknown;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      factory = (require(PACKAGE) as { default?: unknown }).default;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
      const url = pathToFileURL(require.resolve(PACKAGE)).href;
      const dynamicImport = new Function('url', 'return import(url)') as (u: string) => Promise<{ default: unknown }>;
      factory = (await dynamicImport(url)).default;
    }
    if (typeof factory !== 'function') throw new Error(`${PACKAGE} did not export a module factory`);
    return (await (factory as () => Promise<SpeexModule>)()) as SpeexModule;
  })();
  modulePromise.catch(() => {
    modulePromise = undefined; // allow a retry after a failed load
  });
  return modulePromise;
}

/** Frees the wasm-side memory of a Resampler that was garbage-collected without close(). */
const leakGuard = new FinalizationRegistry<{ mod: SpeexModule; ptrs: number[]; state: number }>((held) => {
  held.mod._speex_resampler_destroy(held.state);
  for (const p of held.ptrs) held.mod._free(p);
});

/**
 * Streaming mono Int16 resampler (Speex resampler in wasm). Keeps filter state between
 * process() calls, so chunk boundaries leave no clicks; flush() drains the filter so the total
 * output is round(totalInput * toHz / fromHz) samples, aligned with the input (no leading delay).
 * When fromHz === toHz it is an identity pass-through with no wasm involved.
 */
export class Resampler {
  readonly fromHz: number;
  readonly toHz: number;
  private readonly mod: SpeexModule | undefined;
  private state = 0;
  private inPtr = 0;
  private outPtr = 0;
  private lenPtr = 0; // two u32: [in length, out length]
  private capacityIn = 0;
  private capacityOut = 0;
  private inTotal = 0;
  private outTotal = 0;
  private closed = false;
  private readonly token = {};
  private readonly held: { mod: SpeexModule; ptrs: number[]; state: number } | undefined;

  private constructor(fromHz: number, toHz: number, mod: SpeexModule | undefined, quality: number) {
    this.fromHz = fromHz;
    this.toHz = toHz;
    this.mod = mod;
    if (mod) {
      const errPtr = mod._malloc(4);
      mod.HEAP32[errPtr >> 2] = 0;
      this.state = mod._speex_resampler_init(1, fromHz, toHz, quality, errPtr);
      const err = mod.HEAP32[errPtr >> 2];
      mod._free(errPtr);
      if (!this.state || err) throw new RangeError(`speex resampler init failed (${fromHz} -> ${toHz} Hz, quality ${quality}, error ${err})`);
      // Without skip_zeros the output starts with the filter's group delay worth of silence.
      mod._speex_resampler_skip_zeros(this.state);
      this.lenPtr = mod._malloc(8);
      this.held = { mod, ptrs: [this.lenPtr], state: this.state };
      leakGuard.register(this, this.held, this.token);
    }
  }

  /**
   * Create a resampler. Rates must be positive integers.
   * @param quality Speex quality 0 (fast) to 10 (best); default 5, plenty for speech.
   */
  static async create(fromHz: number, toHz: number, quality = 5): Promise<Resampler> {
    for (const hz of [fromHz, toHz]) {
      if (!Number.isInteger(hz) || hz <= 0) throw new RangeError(`sample rate must be a positive integer, got ${hz}`);
    }
    if (!Number.isInteger(quality) || quality < 0 || quality > 10) throw new RangeError(`quality must be 0..10, got ${quality}`);
    if (fromHz === toHz) return new Resampler(fromHz, toHz, undefined, quality);
    return new Resampler(fromHz, toHz, await loadSpeex(), quality);
  }

  /** Resample the next chunk; returns the output available so far (the filter holds back a few samples until flush). */
  process(pcm: Int16Array): Int16Array {
    this.assertOpen();
    if (!this.mod) return pcm.slice();
    this.inTotal += pcm.length;
    const out = this.run(pcm);
    this.outTotal += out.length;
    return out;
  }

  /**
   * Drain the filter: returns the remaining output so that everything returned since creation
   * (or the last flush) totals round(input * toHz / fromHz). Leaves the resampler ready for a new stream.
   */
  flush(): Int16Array {
    this.assertOpen();
    if (!this.mod) return new Int16Array(0);
    const mod = this.mod;
    const expected = Math.round((this.inTotal * this.toHz) / this.fromHz);
    const parts: Int16Array[] = [];
    let produced = this.outTotal;
    // Feed silence until the held-back tail has come out; bounded in case the filter misbehaves.
    const zeros = new Int16Array(Math.max(64, mod._speex_resampler_get_input_latency(this.state) * 2));
    for (let round = 0; produced < expected && round < 16; round++) {
      const out = this.run(zeros);
      parts.push(out);
      produced += out.length;
    }
    let tail = concatInt16(parts);
    const want = Math.max(0, expected - this.outTotal);
    if (tail.length > want) tail = tail.slice(0, want);
    mod._speex_resampler_reset_mem(this.state);
    mod._speex_resampler_skip_zeros(this.state);
    this.inTotal = 0;
    this.outTotal = 0;
    return tail;
  }

  /** Forget buffered input without producing output (e.g. on barge-in). */
  reset(): void {
    this.assertOpen();
    if (!this.mod) return;
    this.mod._speex_resampler_reset_mem(this.state);
    this.mod._speex_resampler_skip_zeros(this.state);
    this.inTotal = 0;
    this.outTotal = 0;
  }

  /** Free the wasm memory. Idempotent; the resampler is unusable afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.mod) return;
    leakGuard.unregister(this.token);
    this.mod._speex_resampler_destroy(this.state);
    for (const p of [this.inPtr, this.outPtr, this.lenPtr]) if (p) this.mod._free(p);
    this.state = this.inPtr = this.outPtr = this.lenPtr = 0;
  }

  private run(pcm: Int16Array): Int16Array {
    const mod = this.mod as SpeexModule;
    this.ensureCapacity(pcm.length);
    // Read the heap views after any malloc: memory growth replaces them.
    mod.HEAP16.set(pcm, this.inPtr >> 1);
    const parts: Int16Array[] = [];
    let consumed = 0;
    // Bounded: each pass consumes input or the output buffer was full; 64 passes is far beyond need.
    for (let pass = 0; pass < 64 && consumed < pcm.length; pass++) {
      const lens = mod.HEAPU32;
      lens[this.lenPtr >> 2] = pcm.length - consumed;
      lens[(this.lenPtr >> 2) + 1] = this.capacityOut;
      const rc = mod._speex_resampler_process_int(this.state, 0, this.inPtr + consumed * 2, this.lenPtr, this.outPtr, this.lenPtr + 4);
      if (rc !== 0) throw new Error(`speex resampler error ${rc}`);
      const used = mod.HEAPU32[this.lenPtr >> 2] ?? 0;
      const made = mod.HEAPU32[(this.lenPtr >> 2) + 1] ?? 0;
      consumed += used;
      if (made > 0) parts.push(mod.HEAP16.slice(this.outPtr >> 1, (this.outPtr >> 1) + made));
      if (used === 0 && made === 0) break;
    }
    return concatInt16(parts);
  }

  private ensureCapacity(inSamples: number): void {
    const mod = this.mod as SpeexModule;
    if (inSamples > this.capacityIn) {
      if (this.inPtr) mod._free(this.inPtr);
      this.capacityIn = Math.max(inSamples, 4096);
      this.inPtr = mod._malloc(this.capacityIn * 2);
    }
    const outNeeded = Math.ceil((this.capacityIn * this.toHz) / this.fromHz) + 256;
    if (outNeeded > this.capacityOut) {
      if (this.outPtr) mod._free(this.outPtr);
      this.capacityOut = outNeeded;
      this.outPtr = mod._malloc(this.capacityOut * 2);
    }
    if (this.held) this.held.ptrs = [this.lenPtr, this.inPtr, this.outPtr];
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('Resampler is closed');
  }
}

/** One-shot resampling of a whole clip; the output has round(length * toHz / fromHz) samples. */
export async function resample(pcm: Int16Array, fromHz: number, toHz: number): Promise<Int16Array> {
  const r = await Resampler.create(fromHz, toHz);
  try {
    return concatInt16([r.process(pcm), r.flush()]);
  } finally {
    r.close();
  }
}
