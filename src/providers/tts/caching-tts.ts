/**
 * Serves repeated sentences (confirmations, greetings, error replies) from a cache instead of
 * synthesizing them again. Wraps any TtsProvider.
 */
import { endianness } from 'node:os';
import { hubMetrics } from '../../metrics/hub-metrics';
import { ResponseCache, cacheKey, type BufferCodec, type CacheLike, type CacheStats } from '../../pipeline/response-cache';
import { ProviderError, type PcmAudio, type TtsOptions, type TtsProvider } from '../types';

/** Options of {@link CachingTts}. */
export interface CachingTtsOptions {
  /**
   * What makes this provider's audio differ from another's with the same name: engine settings
   * the per-call options do not carry (default voice, model, rate, endpoint...). Part of every
   * key. Default the provider's name; set it whenever a shared (Redis) cache serves providers
   * configured differently.
   */
  namespace?: string;
  /** A cache to use (e.g. a RedisResponseCache with {@link pcmAudioCodec}); default a memory one from the bounds below. */
  cache?: CacheLike<PcmAudio>;
  /** Bytes of PCM held by the default memory cache. Default 32 MiB (about 12 min of 22 kHz audio). */
  maxBytes?: number;
  /** Sentences held by the default memory cache. Default 2000. */
  maxEntries?: number;
  /** Lifetime of an entry in the default memory cache. Default: none (LRU only). */
  ttlMs?: number;
  /**
   * Longer texts bypass the cache: long LLM sentences hardly ever repeat and would only push
   * the short canned ones out. Default 300 characters.
   */
  maxTextChars?: number;
  /** Label `cache` of the hub's `xiaozhi_cache_lookups_total` counter, or false to count nothing. Default 'tts'. */
  metricsLabel?: string | false;
}

/** Counters of a {@link CachingTts}. Joins are requests that shared a synthesis already running. */
export interface CachingTtsStats {
  hits: number;
  misses: number;
  joined: number;
  /** Syntheses the inner provider was asked for. */
  syntheses: number;
  /** (hits + joined) / lookups, 0 before any lookup. */
  hitRatio: number;
  /** The cache's own counters (entries and bytes held). */
  cache: CacheStats;
}

/** One synthesis shared by every request for the same key while it runs. */
interface Flight {
  readonly result: Promise<PcmAudio>;
  readonly controller: AbortController;
  /** Requests still waiting for it; the last one to leave aborts it. */
  waiters: number;
}

const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 2000;
const DEFAULT_MAX_TEXT_CHARS = 300;

/** Bytes of a PcmAudio in memory (samples plus a little bookkeeping). */
export function pcmAudioBytes(audio: PcmAudio): number {
  return audio.pcm.byteLength + 64;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * Buffer codec of PcmAudio for a RedisResponseCache: 'PCM1', the rate as uint32 LE, then the
 * samples as int16 LE (copied as one block on little-endian hosts, which is all of them in practice).
 */
export const pcmAudioCodec: BufferCodec<PcmAudio> = {
  encode(audio) {
    const out = Buffer.allocUnsafe(8 + audio.pcm.length * 2);
    out.write('PCM1', 0, 'latin1');
    out.writeUInt32LE(audio.sampleRateHz, 4);
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(audio.pcm.buffer, audio.pcm.byteOffset, audio.pcm.byteLength), 8);
    } else {
      for (let i = 0; i < audio.pcm.length; i++) out.writeInt16LE(audio.pcm[i]!, 8 + i * 2);
    }
    return out;
  },
  decode(buffer) {
    if (buffer.length < 8 || buffer.toString('latin1', 0, 4) !== 'PCM1' || (buffer.length - 8) % 2 !== 0) {
      throw new TypeError('not a PCM1 cache entry');
    }
    const sampleRateHz = buffer.readUInt32LE(4);
    const pcm = new Int16Array((buffer.length - 8) / 2);
    if (LITTLE_ENDIAN_HOST) {
      // A fresh, aligned array: the Buffer's own offset may be odd.
      new Uint8Array(pcm.buffer).set(buffer.subarray(8));
    } else {
      for (let i = 0; i < pcm.length; i++) pcm[i] = buffer.readInt16LE(8 + i * 2);
    }
    return { pcm, sampleRateHz };
  },
};

/**
 * The text as it enters a key: Unicode NFC, whitespace collapsed and trimmed. Case and
 * punctuation stay, since both change how a sentence is spoken.
 */
export function normalizeTtsText(text: string): string {
  return text.normalize('NFC').replace(/\s+/g, ' ').trim();
}

/**
 * A TtsProvider that remembers what it synthesized. The key is the namespace (provider name and
 * settings) + voice, language and speed of the call + the normalised text. A hit returns a copy
 * of the cached PCM without calling the inner provider; concurrent requests for the same key
 * share one synthesis. A request that is aborted leaves the shared synthesis running for the
 * others; only when every waiter has left is the synthesis itself aborted. Failures are not
 * cached. Lookups are counted in hubMetrics().cache ({cache: 'tts', result: 'hit' | 'miss'};
 * a request that joins a running synthesis counts as a hit: it costs no synthesis).
 */
export class CachingTts implements TtsProvider {
  readonly name: string;
  private readonly cache: CacheLike<PcmAudio>;
  private readonly ownsCache: boolean;
  private readonly namespace: string;
  private readonly maxTextChars: number;
  private readonly metricsLabel: string | false;
  private readonly flights = new Map<string, Flight>();
  private hits = 0;
  private misses = 0;
  private joined = 0;
  private syntheses = 0;

  constructor(
    private readonly inner: TtsProvider,
    options: CachingTtsOptions = {},
  ) {
    this.name = inner.name;
    this.namespace = options.namespace ?? inner.name;
    this.maxTextChars = options.maxTextChars ?? DEFAULT_MAX_TEXT_CHARS;
    this.metricsLabel = options.metricsLabel ?? 'tts';
    if (options.cache) {
      this.cache = options.cache;
      this.ownsCache = false;
    } else {
      this.cache = new ResponseCache<PcmAudio>({
        maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
        maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
        ttlMs: options.ttlMs,
        sizeOf: pcmAudioBytes,
      });
      this.ownsCache = true;
    }
  }

  /** The wrapped provider. */
  get provider(): TtsProvider {
    return this.inner;
  }

  async synthesize(text: string, options: TtsOptions = {}): Promise<PcmAudio> {
    const { signal, ...settings } = options;
    if (signal?.aborted) throw this.aborted();
    const normalized = normalizeTtsText(text);
    if (normalized === '' || normalized.length > this.maxTextChars) return this.inner.synthesize(text, options);

    const key = cacheKey({ ns: this.namespace, voice: settings.voice, language: settings.language, speed: settings.speed, text: normalized });
    // A running synthesis first: with a shared (Redis) cache the lookup below is a round trip,
    // and the audio of a flight that ends meanwhile would not be found by it.
    let flight = this.flights.get(key);
    if (!flight) {
      const cached = await this.cache.get(key);
      if (cached !== undefined) {
        this.count('hit');
        return copyAudio(cached);
      }
      if (signal?.aborted) throw this.aborted();
      flight = this.flights.get(key);
    }
    if (flight) {
      this.joined++;
      this.count('hit', false);
    } else {
      this.count('miss');
      flight = this.start(key, text, settings);
    }
    return this.wait(key, flight, signal);
  }

  /** Start the inner provider's engine, if it has a warm-up (e.g. espeak's worker, a model). */
  async warmUp(): Promise<void> {
    const warm = (this.inner as { warmUp?: () => Promise<void> }).warmUp;
    if (warm) await warm.call(this.inner);
  }

  stats(): CachingTtsStats {
    const lookups = this.hits + this.misses + this.joined;
    return {
      hits: this.hits,
      misses: this.misses,
      joined: this.joined,
      syntheses: this.syntheses,
      hitRatio: lookups === 0 ? 0 : (this.hits + this.joined) / lookups,
      cache: this.cache.stats(),
    };
  }

  /** Aborts running syntheses, drops a cache this wrapper created, and closes the inner provider. */
  async close(): Promise<void> {
    for (const flight of this.flights.values()) flight.controller.abort();
    this.flights.clear();
    if (this.ownsCache && this.cache instanceof ResponseCache) this.cache.clear();
    await this.inner.close?.();
  }

  private start(key: string, text: string, settings: Omit<TtsOptions, 'signal'>): Flight {
    const controller = new AbortController();
    this.syntheses++;
    const result = this.inner.synthesize(text, { ...settings, signal: controller.signal }).then((audio) => {
      // Stored even when every waiter left meanwhile (the provider ignored the abort): the audio is
      // good. Not awaited: the waiters need not wait for a shared (Redis) layer's write.
      try {
        void Promise.resolve(this.cache.set(key, audio)).catch(() => undefined);
      } catch {
        // A cache that cannot take the value is simply a cache that missed.
      }
      return audio;
    });
    const flight: Flight = { result, controller, waiters: 0 };
    this.flights.set(key, flight);
    const forget = (): void => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    result.then(forget, forget);
    return flight;
  }

  /** Wait for a shared synthesis on behalf of one request, leaving it when that request is aborted. */
  private wait(key: string, flight: Flight, signal: AbortSignal | undefined): Promise<PcmAudio> {
    flight.waiters++;
    return new Promise<PcmAudio>((resolve, reject) => {
      let left = false;
      const leave = (): void => {
        if (left) return;
        left = true;
        signal?.removeEventListener('abort', onAbort);
        flight.waiters--;
      };
      const onAbort = (): void => {
        if (left) return;
        leave();
        if (flight.waiters === 0) {
          // Nobody wants this audio any more: stop the engine, and let the next request start afresh.
          if (this.flights.get(key) === flight) this.flights.delete(key);
          flight.controller.abort();
        }
        reject(this.aborted());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.result.then(
        (audio) => {
          if (left) return;
          leave();
          resolve(copyAudio(audio));
        },
        (error: unknown) => {
          if (left) return;
          leave();
          reject(error);
        },
      );
    });
  }

  private count(result: 'hit' | 'miss', own = true): void {
    if (own) {
      if (result === 'hit') this.hits++;
      else this.misses++;
    }
    if (this.metricsLabel !== false) hubMetrics().cache.inc({ cache: this.metricsLabel, result });
  }

  private aborted(): ProviderError {
    return new ProviderError('aborted', 'speech request was aborted', this.name);
  }
}

/** A copy, so a caller that changes its samples in place never alters the cached audio. */
function copyAudio(audio: PcmAudio): PcmAudio {
  return { pcm: audio.pcm.slice(), sampleRateHz: audio.sampleRateHz };
}
