import Redis, { type RedisOptions } from 'ioredis';
import { ProviderLimiter, type LimiterOptions, type PermitStore } from './limiter';

/** Options of a cluster-wide limiter. */
export interface RedisLimiterOptions extends LimiterOptions {
  /** redis:// URL, ioredis options, or a client this limiter may use (it is not closed on close()). */
  redis: string | RedisOptions | Redis;
  /** Key prefix; the sorted set is `<prefix><name>`. Default `xiaozhi:limiter:`. */
  keyPrefix?: string;
  /**
   * Lease length: a slot held by a process that crashed or lost Redis frees itself after this long.
   * Held slots renew their lease every third of it. Default 15,000 ms.
   */
  leaseMs?: number;
  /** Waiters retry at least this often (a crashed holder sends no release notice). Default 500 ms. */
  pollMs?: number;
}

// Permits are members of a sorted set scored by their lease expiry (Redis server time, so the
// processes' clocks do not matter). Take = drop expired members, then add ours if fewer than max.
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local leaseMs = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + leaseMs, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], leaseMs * 2)
  return {1, n + 1}
end
return {0, n}
`;

// Renew our leases that still exist (a lease that expired meanwhile is not resurrected: its
// permit may already belong to someone else).
const RENEW_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local leaseMs = tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + leaseMs, ARGV[i])
    renewed = renewed + 1
  end
end
redis.call('PEXPIRE', KEYS[1], leaseMs * 2)
return renewed
`;

const COUNT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`;

/**
 * Permits shared through Redis: a small Lua semaphore with expiring leases, plus a pub/sub channel
 * on which a release wakes the other processes' waiters at once.
 *
 * Why not bottleneck's Redis store: bottleneck counts jobs it runs itself (`schedule(fn)`), so a
 * slot held across a streamed reply would have to be a job kept pending on purpose; its store
 * keeps clients alive by heartbeat rather than per-slot leases, and bottleneck 2.19 (2019) targets
 * ioredis 4 while we ship ioredis 6. A lease per slot is ~30 lines of Lua and fits slot-holding.
 */
export class RedisPermitStore implements PermitStore {
  readonly key: string;
  readonly channel: string;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly ownsClient: boolean;
  private readonly leases = new Set<string>();
  private readonly leaseMs: number;
  private readonly renewTimer: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private closed = false;
  /** Cluster-wide permits taken, as of the last take. */
  lastClusterCount = 0;
  /** Called with backend errors (the limiter re-emits them as `backendError`). */
  onError: (error: Error) => void = () => {};

  constructor(name: string, options: Pick<RedisLimiterOptions, 'redis' | 'keyPrefix' | 'leaseMs' | 'pollMs'>) {
    this.key = `${options.keyPrefix ?? 'xiaozhi:limiter:'}${name}`;
    this.channel = `${this.key}:released`;
    this.leaseMs = Math.max(1000, options.leaseMs ?? 15_000);
    // One retry, then the command fails: a waiter must not hang on a dead Redis (its wait timeout
    // would fire anyway, but failing fast lets the node say "busy" sooner).
    const common: RedisOptions = { maxRetriesPerRequest: 1 };
    if (options.redis instanceof Redis) {
      this.client = options.redis;
      this.ownsClient = false;
    } else {
      this.client = typeof options.redis === 'string' ? new Redis(options.redis, common) : new Redis({ ...common, ...options.redis });
      this.ownsClient = true;
    }
    // A subscribed connection can run no other command, hence a second one.
    this.subscriber = this.client.duplicate();
    this.client.on('error', (e: Error) => this.onError(e));
    this.subscriber.on('error', (e: Error) => this.onError(e));
    this.renewTimer = setInterval(() => this.renew(), Math.floor(this.leaseMs / 3));
    this.renewTimer.unref();
    this.pollMs = Math.max(50, options.pollMs ?? 500);
  }

  private readonly pollMs: number;

  /** Resolves once both connections are ready. */
  async ready(): Promise<void> {
    const wait = (r: Redis) => (r.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve, reject) => {
      const onReady = () => { r.off('error', onError); resolve(); };
      const onError = (e: Error) => { r.off('ready', onReady); reject(e); };
      r.once('ready', onReady);
      r.once('error', onError);
    }));
    await wait(this.client);
    await wait(this.subscriber);
  }

  async take(leaseId: string, maxConcurrent: number): Promise<boolean> {
    const [ok, count] = (await this.client.eval(TAKE_SCRIPT, 1, this.key, maxConcurrent, leaseId, this.leaseMs)) as [number, number];
    this.lastClusterCount = count;
    if (ok === 1) {
      if (this.closed) {
        // Closed during the round trip: give it straight back.
        void this.client.zrem(this.key, leaseId).catch(() => {});
        return false;
      }
      this.leases.add(leaseId);
      return true;
    }
    return false;
  }

  give(leaseId: string): void {
    if (!this.leases.delete(leaseId)) return;
    this.client
      .multi()
      .zrem(this.key, leaseId)
      .publish(this.channel, leaseId)
      .exec()
      .catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))));
  }

  watch(onMaybeFree: () => void): void {
    this.subscriber.subscribe(this.channel).catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))));
    this.subscriber.on('message', (channel: string) => {
      if (channel === this.channel) onMaybeFree();
    });
    // Crashed holders send nothing: their leases expire and only a retry notices.
    this.pollTimer = setInterval(onMaybeFree, this.pollMs);
    this.pollTimer.unref();
  }

  /** Permits taken cluster-wide now (expired leases dropped first). */
  async clusterCount(): Promise<number> {
    return Number(await this.client.eval(COUNT_SCRIPT, 1, this.key));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.renewTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    const mine = Array.from(this.leases);
    this.leases.clear();
    if (mine.length > 0 && this.client.status === 'ready') {
      await this.client.multi().zrem(this.key, ...mine).publish(this.channel, 'closed').exec().catch(() => {});
    }
    this.subscriber.disconnect();
    if (!this.ownsClient) return;
    // quit() on a connection that is down would wait for a reconnect that may never come.
    if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }

  private renew(): void {
    if (this.leases.size === 0 || this.closed) return;
    this.client.eval(RENEW_SCRIPT, 1, this.key, this.leaseMs, ...this.leases).catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))));
  }
}

/**
 * A ProviderLimiter whose `maxConcurrent` is shared by every process using the same Redis and
 * name. Same interface as ProviderLimiter; the queue, its order, `queueSize` and the timeouts are
 * per process (cluster-wide FIFO is not promised), `stats().running` counts this process's slots
 * and `clusterRunning()` the whole cluster's.
 */
export class RedisLimiter extends ProviderLimiter {
  private readonly permits: RedisPermitStore;

  constructor(options: RedisLimiterOptions) {
    const store = new RedisPermitStore(options.name, options);
    super(options, store);
    this.permits = store;
    store.onError = (error) => this.emit('backendError', error);
  }

  /** Resolves when connected to Redis. */
  ready(): Promise<void> {
    return this.permits.ready();
  }

  /** Slots held across the cluster right now. */
  clusterRunning(): Promise<number> {
    return this.permits.clusterCount();
  }

  /** The Redis key holding the leases. */
  get key(): string {
    return this.permits.key;
  }
}
