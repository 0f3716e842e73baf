/**
 * Response cache for the voice pipeline: TTS audio of repeated sentences (confirmations,
 * greetings, errors) and, optionally, LLM answers to identical prompts.
 *
 * `ResponseCache` is a bounded in-memory LRU (by entries and by bytes, optional TTL).
 * `RedisResponseCache` puts that memory cache in front of Redis (read-through L1 + L2) so several
 * hub instances share what one of them produced. Keys come from {@link cacheKey}: the sha256 of a
 * stable JSON of the inputs, so equal inputs give equal keys on every instance.
 */
import { createHash } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';

/** Counters of a cache. `hitRatio` is hits / (hits + misses), 0 before any lookup. */
export interface CacheStats {
  hits: number;
  misses: number;
  /** Entries held in memory. */
  entries: number;
  /** Bytes held in memory, as `sizeOf` counts them. */
  bytes: number;
  hitRatio: number;
}

/**
 * What the caching providers need from a cache: the memory cache answers synchronously, the Redis
 * one with promises, and callers simply await either.
 */
export interface CacheLike<V> {
  get(key: string): V | undefined | Promise<V | undefined>;
  /** Store a value; failures of a shared layer are reported, never thrown to the caller. */
  set(key: string, value: V, options?: { ttlMs?: number }): unknown;
  stats(): CacheStats;
}

/** Error of the cache layer (only ever passed to `onError`: a cache failure is a miss). */
export class ResponseCacheError extends Error {
  constructor(
    readonly code: 'redis_failed' | 'redis_timeout' | 'bad_value',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ResponseCacheError';
  }
}

/** Options of {@link ResponseCache}. */
export interface ResponseCacheOptions<V> {
  /** Most entries held; the least recently used goes first. Default 1000. */
  maxEntries?: number;
  /** Most bytes held (as `sizeOf` counts them). Default unlimited. */
  maxBytes?: number;
  /**
   * Size of one value in bytes. Default: `byteLength` of Buffers and typed arrays, UTF-16 size of
   * strings, 0 for anything else (so give one whenever `maxBytes` should bound other values).
   */
  sizeOf?: (value: V) => number;
  /** Entries older than this are gone. Default: no expiry. */
  ttlMs?: number;
  /** Clock in epoch ms (tests). Default Date.now. */
  now?: () => number;
}

interface MemoryEntry<V> {
  value: V;
  bytes: number;
  /** Epoch ms; Infinity when the entry never expires. */
  expiresAt: number;
}

/** Default size of a value: buffers and strings by their bytes, anything else 0. */
function defaultSizeOf(value: unknown): number {
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (typeof value === 'string') return value.length * 2;
  return 0;
}

/**
 * Bounded in-memory LRU cache. A Map keeps insertion order, so re-inserting on each hit makes the
 * first key the least recently used: eviction and lookup are O(1). Expired entries are dropped
 * when met (lookup or eviction), so a TTL needs no timer that would keep the process alive.
 */
export class ResponseCache<V> implements CacheLike<V> {
  private readonly entries = new Map<string, MemoryEntry<V>>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly sizeOf: (value: V) => number;
  private readonly ttlMs: number | undefined;
  private readonly now: () => number;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  /** Entries dropped to make room (not counting expiry or delete). */
  evictions = 0;

  constructor(options: ResponseCacheOptions<V> = {}) {
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 1000));
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.sizeOf = options.sizeOf ?? defaultSizeOf;
    this.ttlMs = options.ttlMs !== undefined && options.ttlMs > 0 ? options.ttlMs : undefined;
    this.now = options.now ?? Date.now;
  }

  /** The value under `key`, or undefined; counts a hit or a miss and marks the entry recently used. */
  get(key: string): V | undefined {
    const entry = this.live(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** True when `key` holds a live value; counts nothing and leaves the LRU order as it is. */
  has(key: string): boolean {
    return this.live(key) !== undefined;
  }

  /** Milliseconds `key` has left (Infinity without a TTL), or undefined when it is absent. */
  remainingTtlMs(key: string): number | undefined {
    const entry = this.live(key);
    return entry ? entry.expiresAt - this.now() : undefined;
  }

  /**
   * Store `value` under `key` (per-entry `ttlMs` overrides the cache's). Returns false when the
   * value alone is larger than `maxBytes`: it is not stored, and an older value of the key is
   * dropped so a stale one is never served instead.
   */
  set(key: string, value: V, options: { ttlMs?: number } = {}): boolean {
    this.delete(key);
    const bytes = Math.max(0, this.sizeOf(value));
    if (bytes > this.maxBytes) return false;
    const ttlMs = options.ttlMs ?? this.ttlMs;
    if (ttlMs !== undefined && ttlMs <= 0) return false;
    const expiresAt = ttlMs === undefined ? Number.POSITIVE_INFINITY : this.now() + ttlMs;
    this.entries.set(key, { value, bytes, expiresAt });
    this.bytes += bytes;
    this.evict();
    return true;
  }

  /** Drop `key`; true when it was there. */
  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    return true;
  }

  /** Drop every entry (counters stay). */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  stats(): CacheStats {
    const lookups = this.hits + this.misses;
    return { hits: this.hits, misses: this.misses, entries: this.entries.size, bytes: this.bytes, hitRatio: lookups === 0 ? 0 : this.hits / lookups };
  }

  /** The entry of `key` if present and not expired; an expired one is removed. */
  private live(key: string): MemoryEntry<V> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Drop least recently used entries until both bounds hold. */
  private evict(): void {
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) return;
      this.delete(oldest.value);
      this.evictions++;
    }
  }
}

/** Turns values into Buffers for Redis and back. */
export interface BufferCodec<V> {
  encode(value: V): Buffer;
  /** Throws on a Buffer it cannot read (the entry is then treated as a miss). */
  decode(buffer: Buffer): V;
}

/** A codec for JSON-serialisable values. */
export function jsonCodec<V>(): BufferCodec<V> {
  return {
    encode: (value) => Buffer.from(JSON.stringify(value), 'utf8'),
    decode: (buffer) => JSON.parse(buffer.toString('utf8')) as V,
  };
}

/** Options of {@link RedisResponseCache}: the memory layer's options plus the Redis layer's. */
export interface RedisResponseCacheOptions<V> extends ResponseCacheOptions<V> {
  /** redis:// URL or ioredis options (a client is created and closed by close()), or a client (left open). */
  redis: string | RedisOptions | Redis;
  /** Serialises values as Buffers. */
  codec: BufferCodec<V>;
  /** Prefix of every Redis key, e.g. 'xiaozhi:cache:tts:'. Default 'xiaozhi:cache:'. */
  keyPrefix?: string;
  /**
   * Lifetime of entries in Redis. Default `ttlMs`, else 24 h: shared entries always expire, so
   * an instance that changed its voice never leaves audio behind for good.
   */
  redisTtlMs?: number;
  /** A Redis round trip longer than this counts as a miss (the turn does not wait). Default 250 ms. */
  redisTimeoutMs?: number;
  /** Told about Redis failures and unreadable entries; the cache goes on as memory-only meanwhile. */
  onError?: (error: ResponseCacheError) => void;
}

/** {@link CacheStats} of the two layers: hits count both, `l2Hits` those served by Redis. */
export interface LayeredCacheStats extends CacheStats {
  l2Hits: number;
  l2Errors: number;
}

const DEFAULT_REDIS_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Read-through two-layer cache: memory (L1, this instance) in front of Redis (L2, shared by every
 * instance). `get` asks L1, then L2, and copies an L2 hit into L1 with the entry's remaining
 * lifetime; `set` writes both. Redis failures and slow answers degrade to misses: a cache must
 * never be the reason a turn fails or waits.
 */
export class RedisResponseCache<V> implements CacheLike<V> {
  /** The memory layer (its own stats count L1 lookups only). */
  readonly memory: ResponseCache<V>;
  private readonly client: Redis;
  private readonly ownsClient: boolean;
  private readonly codec: BufferCodec<V>;
  private readonly keyPrefix: string;
  private readonly redisTtlMs: number;
  private readonly redisTimeoutMs: number;
  private readonly onError: (error: ResponseCacheError) => void;
  private hits = 0;
  private misses = 0;
  private l2Hits = 0;
  private l2Errors = 0;

  constructor(options: RedisResponseCacheOptions<V>) {
    this.memory = new ResponseCache<V>(options);
    this.codec = options.codec;
    this.keyPrefix = options.keyPrefix ?? 'xiaozhi:cache:';
    this.redisTtlMs = options.redisTtlMs ?? options.ttlMs ?? DEFAULT_REDIS_TTL_MS;
    this.redisTimeoutMs = options.redisTimeoutMs ?? 250;
    this.onError = options.onError ?? (() => undefined);
    if (isRedisClient(options.redis)) {
      this.client = options.redis;
      this.ownsClient = false;
    } else {
      // Loaded here so a memory-only cache never pulls ioredis in.
      const RedisClass = (require('ioredis') as typeof import('ioredis')).Redis;
      // No offline queue and one retry: while Redis is down, commands fail at once (a miss)
      // instead of piling up behind the reconnect.
      const common: RedisOptions = { maxRetriesPerRequest: 1, enableOfflineQueue: false };
      this.client = typeof options.redis === 'string' ? new RedisClass(options.redis, common) : new RedisClass({ ...common, ...options.redis });
      this.ownsClient = true;
      this.client.on('error', (error: Error) => this.report('redis_failed', `redis: ${error.message}`, error));
    }
  }

  /** Resolves once the Redis connection is ready (useful before the first lookup of a test or bench). */
  async ready(): Promise<void> {
    if (this.client.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        this.client.off('error', onError);
        resolve();
      };
      const onError = (error: Error): void => {
        this.client.off('ready', onReady);
        reject(error);
      };
      this.client.once('ready', onReady);
      this.client.once('error', onError);
    });
  }

  async get(key: string): Promise<V | undefined> {
    const local = this.memory.get(key);
    if (local !== undefined) {
      this.hits++;
      return local;
    }
    const redisKey = this.keyPrefix + key;
    const reply = await this.redis('read', async () => {
      const results = await this.client.pipeline().getBuffer(redisKey).pttl(redisKey).exec();
      return results;
    });
    const buffer = reply?.[0]?.[1];
    if (!Buffer.isBuffer(buffer)) {
      this.misses++;
      return undefined;
    }
    let value: V;
    try {
      value = this.codec.decode(buffer);
    } catch (error) {
      this.report('bad_value', `unreadable cache entry ${redisKey}: ${(error as Error).message}`, error);
      this.misses++;
      return undefined;
    }
    const pttl = reply?.[1]?.[1];
    // PTTL is -1 for a key without expiry: keep it in memory under the memory layer's own TTL.
    this.memory.set(key, value, typeof pttl === 'number' && pttl > 0 ? { ttlMs: pttl } : {});
    this.hits++;
    this.l2Hits++;
    return value;
  }

  /** True when either layer holds `key`; counts nothing. */
  async has(key: string): Promise<boolean> {
    if (this.memory.has(key)) return true;
    const exists = await this.redis('read', () => this.client.exists(this.keyPrefix + key));
    return exists === 1;
  }

  /** Store in both layers; resolves once Redis has it (or failed, which is reported, not thrown). */
  async set(key: string, value: V, options: { ttlMs?: number } = {}): Promise<void> {
    this.memory.set(key, value, options);
    const ttlMs = Math.max(1, Math.round(options.ttlMs ?? this.redisTtlMs));
    let encoded: Buffer;
    try {
      encoded = this.codec.encode(value);
    } catch (error) {
      this.report('bad_value', `cannot encode a cache value: ${(error as Error).message}`, error);
      return;
    }
    await this.redis('write', () => this.client.set(this.keyPrefix + key, encoded, 'PX', ttlMs));
  }

  /** Drop `key` from both layers. */
  async delete(key: string): Promise<boolean> {
    const local = this.memory.delete(key);
    const removed = await this.redis('write', () => this.client.del(this.keyPrefix + key));
    return local || removed === 1;
  }

  stats(): LayeredCacheStats {
    const lookups = this.hits + this.misses;
    const memory = this.memory.stats();
    return {
      hits: this.hits,
      misses: this.misses,
      entries: memory.entries,
      bytes: memory.bytes,
      hitRatio: lookups === 0 ? 0 : this.hits / lookups,
      l2Hits: this.l2Hits,
      l2Errors: this.l2Errors,
    };
  }

  /** Close the Redis connection if this cache opened it. */
  async close(): Promise<void> {
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  /** Run one Redis operation under the timeout; undefined (reported) on failure. */
  private async redis<T>(kind: 'read' | 'write', operation: () => Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.redisTimeoutMs);
    });
    try {
      const pending = operation();
      // A late answer after the timeout must not surface as an unhandled rejection.
      pending.catch(() => undefined);
      const result = await Promise.race([pending, timeout]);
      if (result === 'timeout') {
        this.report('redis_timeout', `redis ${kind} took longer than ${this.redisTimeoutMs} ms`);
        return undefined;
      }
      return result;
    } catch (error) {
      this.report('redis_failed', `redis ${kind} failed: ${(error as Error).message}`, error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private report(code: ResponseCacheError['code'], message: string, cause?: unknown): void {
    if (code !== 'bad_value') this.l2Errors++;
    this.onError(new ResponseCacheError(code, message, cause === undefined ? undefined : { cause }));
  }
}

/** True for an ioredis client (duck-typed, so ioredis is not loaded to check). */
function isRedisClient(value: unknown): value is Redis {
  return typeof value === 'object' && value !== null && typeof (value as { pipeline?: unknown }).pipeline === 'function' && typeof (value as { getBuffer?: unknown }).getBuffer === 'function';
}

/**
 * JSON with object keys sorted and `undefined` members left out, so the same inputs always give
 * the same text whatever order their fields were written in.
 */
export function stableStringify(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') {
    // JSON.stringify turns NaN/Infinity into null, like JSON itself.
    return JSON.stringify(value) ?? 'null';
  }
  if (ArrayBuffer.isView(value)) return JSON.stringify(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
  if (Array.isArray(value)) return `[${value.map((item) => stableStringify(item)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .filter((key) => record[key] !== undefined && typeof record[key] !== 'function')
    .sort()
    .map((key) => `${JSON.stringify(key)}:${stableStringify(record[key])}`);
  return `{${members.join(',')}}`;
}

/** Cache key of some inputs: hex sha256 of their {@link stableStringify}. */
export function cacheKey(inputs: unknown): string {
  return createHash('sha256').update(stableStringify(inputs)).digest('hex');
}
