/**
 * A bounded pool of pocketsphinx decoders. Loading a decoder costs ~150-200 ms and ~30 MB (the
 * acoustic model and the 134k-word dictionary), so decoders are created lazily up to `poolSize`,
 * then reused across utterances; a concurrent utterance beyond the pool waits its turn (FIFO).
 * The grammar is versioned: a decoder picks up the newest grammar when it is handed out, so an
 * utterance in progress keeps the grammar it started with.
 */
import { ProviderError } from '../types';
import type { NativeDecoder, NativeDecoderOptions, PocketsphinxAddon } from './pocketsphinx-native';

/** Options of {@link DecoderPool}. */
export interface DecoderPoolOptions {
  /** Decoder construction options (model paths, extra flags). */
  decoder: NativeDecoderOptions;
  /** Most decoders alive at once (= concurrent utterances). */
  poolSize: number;
  /** Provider name for errors. */
  provider: string;
}

/** A decoder lent out by the pool; give it back with {@link DecoderPool.release}. */
export interface PooledDecoder {
  readonly decoder: NativeDecoder;
  /** Grammar version loaded into the decoder (0 = none yet). */
  grammarVersion: number;
  /** Extra words already taught to this decoder (word -> phones). */
  readonly taughtWords: Map<string, string>;
}

interface Waiter {
  resolve(decoder: PooledDecoder): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** See the file comment. */
export class DecoderPool {
  private readonly idle: PooledDecoder[] = [];
  private readonly all = new Set<PooledDecoder>();
  private readonly waiters: Waiter[] = [];
  private grammarVersion = 0;
  private jsgf = '';
  private extraWords: Readonly<Record<string, string>> = {};
  private closed = false;
  private createdCount = 0;

  constructor(
    private readonly addon: PocketsphinxAddon,
    private readonly options: DecoderPoolOptions,
  ) {
    if (!Number.isInteger(options.poolSize) || options.poolSize < 1) {
      throw new RangeError(`poolSize must be a positive integer, got ${options.poolSize}`);
    }
  }

  /** Install a new grammar for utterances that start from now on. Returns its version. */
  setGrammar(jsgf: string, extraWords: Readonly<Record<string, string>> = {}): number {
    this.jsgf = jsgf;
    this.extraWords = extraWords;
    return ++this.grammarVersion;
  }

  /** Decoders alive, idle, and utterances waiting for one. */
  get stats(): { size: number; idle: number; waiting: number; created: number } {
    return { size: this.all.size, idle: this.idle.length, waiting: this.waiters.length, created: this.createdCount };
  }

  /** Create decoders up to `count` (default the pool size) so the first utterances don't pay the load. */
  warmUp(count = this.options.poolSize): void {
    while (this.all.size < Math.min(count, this.options.poolSize) && !this.closed) {
      const pooled = this.create();
      this.idle.push(pooled);
    }
  }

  /**
   * Borrow a decoder with the current grammar loaded. Waits (FIFO) while all are busy.
   * @throws ProviderError('aborted') when the signal fires while waiting, ('unavailable') after close.
   */
  async acquire(signal?: AbortSignal): Promise<PooledDecoder> {
    if (this.closed) throw new ProviderError('unavailable', 'pocketsphinx pool is closed', this.options.provider);
    if (signal?.aborted) throw new ProviderError('aborted', 'recognition aborted', this.options.provider, { cause: signal.reason });
    const ready = this.idle.pop() ?? (this.all.size < this.options.poolSize ? this.create() : undefined);
    if (ready) return this.prepare(ready);
    return new Promise<PooledDecoder>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(new ProviderError('aborted', 'recognition aborted', this.options.provider, { cause: signal?.reason }));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /**
   * Give a decoder back. `discard` frees it (after a native error its state is unknown). An
   * utterance left open (aborted caller) is closed first so the decoder is clean for the next one.
   */
  release(pooled: PooledDecoder, discard = false): void {
    if (!this.all.has(pooled)) return;
    if (!discard && pooled.decoder.inUtterance) {
      try {
        pooled.decoder.endUtterance();
      } catch {
        discard = true;
      }
    }
    if (discard || this.closed || pooled.decoder.freed) {
      this.destroy(pooled);
      // A slot opened up: a waiter may now get a fresh decoder.
      if (!this.closed && this.waiters.length > 0 && this.all.size < this.options.poolSize) {
        this.handOver(this.tryCreate());
      }
      return;
    }
    if (this.waiters.length > 0) this.handOver(pooled);
    else this.idle.push(pooled);
  }

  /** Free every decoder (busy ones when they come back) and fail the waiters. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pooled of this.idle.splice(0)) this.destroy(pooled);
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.reject(new ProviderError('unavailable', 'pocketsphinx pool closed', this.options.provider));
    }
  }

  private handOver(pooled: PooledDecoder | Error): void {
    const waiter = this.waiters.shift();
    if (!waiter) {
      if (!(pooled instanceof Error)) this.idle.push(pooled);
      return;
    }
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    if (pooled instanceof Error) {
      waiter.reject(pooled);
      return;
    }
    try {
      waiter.resolve(this.prepare(pooled));
    } catch (err) {
      waiter.reject(err);
    }
  }

  private tryCreate(): PooledDecoder | Error {
    try {
      return this.create();
    } catch (err) {
      return err as Error;
    }
  }

  private create(): PooledDecoder {
    let decoder: NativeDecoder;
    try {
      // Synchronous (~150-200 ms): pocketsphinx loads the model on the calling thread.
      decoder = new this.addon.Decoder(this.options.decoder);
    } catch (err) {
      throw new ProviderError('model_missing', `pocketsphinx could not load its model: ${(err as Error).message}`, this.options.provider, {
        cause: err,
      });
    }
    const pooled: PooledDecoder = { decoder, grammarVersion: 0, taughtWords: new Map() };
    this.all.add(pooled);
    this.createdCount++;
    return pooled;
  }

  /** Load the newest grammar (and its extra words) into the decoder if it has an older one. */
  private prepare(pooled: PooledDecoder): PooledDecoder {
    if (pooled.grammarVersion === this.grammarVersion || !this.jsgf) return pooled;
    try {
      for (const [word, phones] of Object.entries(this.extraWords)) {
        if (pooled.taughtWords.get(word) === phones) continue;
        pooled.decoder.addWord(word, phones);
        pooled.taughtWords.set(word, phones);
      }
      pooled.decoder.setJsgf(this.jsgf);
      pooled.grammarVersion = this.grammarVersion;
      return pooled;
    } catch (err) {
      this.idle.push(pooled);
      throw new ProviderError('failed', `pocketsphinx rejected the grammar: ${(err as Error).message}`, this.options.provider, { cause: err });
    }
  }

  private destroy(pooled: PooledDecoder): void {
    this.all.delete(pooled);
    const index = this.idle.indexOf(pooled);
    if (index >= 0) this.idle.splice(index, 1);
    pooled.decoder.free();
  }
}
