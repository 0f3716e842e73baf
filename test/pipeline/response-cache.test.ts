import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import {
  RedisResponseCache,
  ResponseCache,
  ResponseCacheError,
  cacheKey,
  jsonCodec,
  stableStringify,
} from '../../src/pipeline/response-cache';
import { CachingTts, pcmAudioCodec } from '../../src/providers/tts/caching-tts';
import type { PcmAudio, TtsOptions, TtsProvider } from '../../src/providers/types';
import { freePort, REDIS_SERVER, startRedis, type ManagedServer } from '../broker/broker-fixtures';

/** A clock the test moves by hand, so TTL tests need no sleeping. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('pipeline/ResponseCache (memory LRU)', () => {
  it('evicts the least recently used entry when maxEntries is passed', () => {
    const cache = new ResponseCache<string>({ maxEntries: 3 });
    cache.set('a', 'A');
    cache.set('b', 'B');
    cache.set('c', 'C');
    assert.equal(cache.get('a'), 'A'); // a becomes the most recent: b is now the oldest
    cache.set('d', 'D');
    assert.equal(cache.has('b'), false);
    assert.deepEqual(['a', 'c', 'd'].map((k) => cache.get(k)), ['A', 'C', 'D']);
    assert.equal(cache.stats().entries, 3);
    assert.equal(cache.evictions, 1);
  });

  it('evicts by bytes as sizeOf counts them, and refuses a value larger than maxBytes', () => {
    const cache = new ResponseCache<Buffer>({ maxBytes: 100 });
    cache.set('a', Buffer.alloc(40));
    cache.set('b', Buffer.alloc(40));
    assert.equal(cache.stats().bytes, 80);
    cache.set('c', Buffer.alloc(40)); // 120 > 100: a goes
    assert.equal(cache.has('a'), false);
    assert.equal(cache.has('b'), true);
    assert.equal(cache.stats().bytes, 80);
    // Replacing a key counts its new size only.
    cache.set('b', Buffer.alloc(10));
    assert.equal(cache.stats().bytes, 50);
    // A value that can never fit is not stored and the key's old value is gone too.
    assert.equal(cache.set('c', Buffer.alloc(101)), false);
    assert.equal(cache.has('c'), false);
    assert.equal(cache.stats().bytes, 10);
    // One big entry pushes out several small ones.
    cache.set('x', Buffer.alloc(10));
    cache.set('y', Buffer.alloc(10));
    cache.set('big', Buffer.alloc(95));
    assert.deepEqual(cache.stats().entries, 1);
    assert.equal(cache.stats().bytes, 95);
  });

  it('uses a custom sizeOf', () => {
    const cache = new ResponseCache<{ text: string }>({ maxBytes: 10, sizeOf: (v) => v.text.length });
    cache.set('a', { text: 'hello' });
    cache.set('b', { text: 'world' });
    cache.set('c', { text: '!' });
    assert.equal(cache.has('a'), false);
    assert.equal(cache.stats().bytes, 6);
  });

  it('expires entries after ttlMs (cache-wide and per entry) without timers', () => {
    const clock = manualClock();
    const cache = new ResponseCache<string>({ ttlMs: 1000, now: clock.now });
    cache.set('a', 'A');
    cache.set('short', 'S', { ttlMs: 100 });
    assert.equal(cache.remainingTtlMs('a'), 1000);
    clock.advance(99);
    assert.equal(cache.get('short'), 'S');
    clock.advance(1);
    assert.equal(cache.get('short'), undefined);
    assert.equal(cache.get('a'), 'A');
    clock.advance(900);
    assert.equal(cache.has('a'), false);
    assert.equal(cache.stats().entries, 0);
    assert.equal(cache.stats().bytes, 0);
  });

  it('counts hits and misses on get only; has() neither counts nor refreshes the LRU order', () => {
    const cache = new ResponseCache<string>({ maxEntries: 2 });
    assert.equal(cache.stats().hitRatio, 0);
    cache.set('a', 'A');
    cache.set('b', 'B');
    assert.equal(cache.has('a'), true);
    cache.set('c', 'C'); // a is still the oldest despite has()
    assert.equal(cache.has('a'), false);
    cache.get('b');
    cache.get('c');
    cache.get('nope');
    const stats = cache.stats();
    assert.equal(stats.hits, 2);
    assert.equal(stats.misses, 1);
    assert.equal(stats.hitRatio, 2 / 3);
    assert.equal(cache.delete('b'), true);
    assert.equal(cache.delete('b'), false);
  });

  it('builds keys from a stable JSON of the inputs', () => {
    assert.equal(stableStringify({ b: 1, a: [1, { d: undefined, c: 'x' }] }), '{"a":[1,{"c":"x"}],"b":1}');
    assert.equal(cacheKey({ text: 'hi', voice: 'en', speed: undefined }), cacheKey({ voice: 'en', text: 'hi' }));
    assert.notEqual(cacheKey({ text: 'hi', voice: 'en' }), cacheKey({ text: 'hi', voice: 'de' }));
    assert.match(cacheKey('x'), /^[0-9a-f]{64}$/);
  });
});

/** A TTS provider that makes a deterministic tone per text and counts its calls. */
class ToneTts implements TtsProvider {
  readonly name = 'tone';
  calls = 0;
  async synthesize(text: string, _options?: TtsOptions): Promise<PcmAudio> {
    this.calls++;
    const pcm = new Int16Array(800 + text.length * 10);
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(5000 * Math.sin(i * (text.length % 7 + 1) * 0.05));
    return { pcm, sampleRateHz: 16000 };
  }
}

describe('pipeline/RedisResponseCache (real redis-server on loopback)', function () {
  this.timeout(20_000);
  let server: ManagedServer | undefined;
  let raw: Redis | undefined;
  const caches: Array<RedisResponseCache<unknown>> = [];

  function open<V>(options: Partial<ConstructorParameters<typeof RedisResponseCache<V>>[0]> & { codec: ConstructorParameters<typeof RedisResponseCache<V>>[0]['codec'] }): RedisResponseCache<V> {
    const cache = new RedisResponseCache<V>({ redis: server!.url, keyPrefix: 'test:cache:', ...options });
    caches.push(cache as RedisResponseCache<unknown>);
    return cache;
  }

  before(async function () {
    if (!existsSync(REDIS_SERVER)) {
      console.log(`      skipped: ${REDIS_SERVER} is not installed (apt-get install redis-server)`);
      this.skip();
    }
    server = await startRedis();
    raw = new Redis(server.url);
  });

  afterEach(async () => {
    await Promise.all(caches.splice(0).map((c) => c.close()));
    await raw?.flushall();
  });

  after(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  it('shares entries between two instances: L2 hit copied into L1 with the remaining TTL', async () => {
    const a = open<{ text: string }>({ codec: jsonCodec(), ttlMs: 60_000 });
    const b = open<{ text: string }>({ codec: jsonCodec(), ttlMs: 60_000 });
    await Promise.all([a.ready(), b.ready()]);
    const key = cacheKey({ q: 'what can you do' });
    assert.equal(await b.get(key), undefined);
    await a.set(key, { text: 'I can answer questions.' });
    const pttl = await raw!.pttl(`test:cache:${key}`);
    assert.ok(pttl > 0 && pttl <= 60_000, `pttl ${pttl}`);

    assert.deepEqual(await b.get(key), { text: 'I can answer questions.' });
    assert.equal(b.stats().l2Hits, 1);
    const remaining = b.memory.remainingTtlMs(key);
    assert.ok(remaining !== undefined && remaining <= pttl, `L1 ttl ${String(remaining)} within Redis pttl ${pttl}`);
    // Second read is served by memory: no further L2 hit.
    assert.deepEqual(await b.get(key), { text: 'I can answer questions.' });
    assert.equal(b.stats().l2Hits, 1);
    assert.equal(b.stats().hits, 2);
    assert.equal(b.stats().misses, 1);

    // Delete on one instance removes the shared entry; a third instance misses.
    assert.equal(await a.delete(key), true);
    const c = open<{ text: string }>({ codec: jsonCodec() });
    await c.ready();
    assert.equal(await c.has(key), false);
    assert.equal(await c.get(key), undefined);
  });

  it('expires shared entries with redisTtlMs', async () => {
    const a = open<string>({ codec: jsonCodec(), redisTtlMs: 150 });
    const b = open<string>({ codec: jsonCodec() });
    await Promise.all([a.ready(), b.ready()]);
    await a.set('k', 'v');
    assert.equal(await b.has('k'), true);
    // Wait for Redis itself to drop it (bounded), then a fresh instance must miss.
    for (let i = 0; i < 50 && (await raw!.exists('test:cache:k')) === 1; i++) await sleep(50);
    assert.equal(await raw!.exists('test:cache:k'), 0);
    const c = open<string>({ codec: jsonCodec() });
    await c.ready();
    assert.equal(await c.get('k'), undefined);
  });

  it('reports an unreadable entry and treats it as a miss', async () => {
    const errors: ResponseCacheError[] = [];
    const cache = open<PcmAudio>({ codec: pcmAudioCodec, onError: (e) => errors.push(e) });
    await cache.ready();
    await raw!.set('test:cache:bad', 'not pcm');
    assert.equal(await cache.get('bad'), undefined);
    assert.equal(errors[0]?.code, 'bad_value');
  });

  it('serves CachingTts audio synthesized on one instance to another without synthesis', async () => {
    const innerA = new ToneTts();
    const innerB = new ToneTts();
    const cacheA = open<PcmAudio>({ codec: pcmAudioCodec, keyPrefix: 'test:cache:tts:' });
    const cacheB = open<PcmAudio>({ codec: pcmAudioCodec, keyPrefix: 'test:cache:tts:' });
    await Promise.all([cacheA.ready(), cacheB.ready()]);
    const ttsA = new CachingTts(innerA, { cache: cacheA, namespace: 'tone 16k', metricsLabel: false });
    const ttsB = new CachingTts(innerB, { cache: cacheB, namespace: 'tone 16k', metricsLabel: false });

    const first = await ttsA.synthesize('Okay, the light is on.');
    assert.equal(innerA.calls, 1);
    // The Redis write is not awaited by synthesize(): wait (bounded) until it landed.
    const keys = async (): Promise<string[]> => raw!.keys('test:cache:tts:*');
    for (let i = 0; i < 100 && (await keys()).length === 0; i++) await sleep(10);
    assert.equal((await keys()).length, 1);

    const second = await ttsB.synthesize('Okay,  the light is on. ');
    assert.equal(innerB.calls, 0, 'instance B served the audio from Redis');
    assert.equal(second.sampleRateHz, first.sampleRateHz);
    assert.deepEqual(second.pcm, first.pcm);
    assert.equal(cacheB.stats().l2Hits, 1);

    // Another namespace (other voice settings) never sees A's audio.
    const ttsC = new CachingTts(innerB, { cache: cacheB, namespace: 'tone 16k slow', metricsLabel: false });
    await ttsC.synthesize('Okay, the light is on.');
    assert.equal(innerB.calls, 1);
  });

  it('degrades to a memory-only cache when Redis is unreachable', async () => {
    const port = await freePort(); // nothing listens there
    const errors: ResponseCacheError[] = [];
    const cache = new RedisResponseCache<string>({ redis: `redis://127.0.0.1:${port}`, codec: jsonCodec(), onError: (e) => errors.push(e), redisTimeoutMs: 200 });
    caches.push(cache as RedisResponseCache<unknown>);
    assert.equal(await cache.get('k'), undefined);
    await cache.set('k', 'v');
    assert.equal(await cache.get('k'), 'v'); // from memory
    assert.ok(errors.length > 0 && errors.every((e) => e instanceof ResponseCacheError));
    assert.ok(cache.stats().l2Errors > 0);
  });
});
