import { EventEmitter } from 'node:events';
import { ProviderLimiter, type LimiterOptions, type Slot } from './limiter';
import type { LimiterError } from './limiter-error';
import { LimiterGate } from './limiter-gate';
import { RedisLimiter } from './limiter-redis';

/** Limits plus where the permits live. */
export interface SharedLimiterConfig extends LimiterOptions {
  /** redis:// URL: share `maxConcurrent` with every process using the same Redis and name. */
  redisUrl?: string;
}

/** A named limiter with its msg gate, shared by every node that uses the name. */
export interface SharedLimiter {
  readonly name: string;
  readonly limiter: ProviderLimiter;
  readonly gate: LimiterGate;
  readonly redisUrl: string;
}

interface Entry extends SharedLimiter {
  limiter: ProviderLimiter;
  redisUrl: string;
  users: Set<object>;
  /** Some user passed limits (a release-only user creates a placeholder with one slot). */
  configured: boolean;
}

/**
 * Process-wide table of named limiters: nodes with the same limiter name share one
 * ProviderLimiter (and its session table), like Node-RED config nodes share a connection.
 * The limiter is closed when its last user leaves (redeploy).
 *
 * Events, for metrics that outlive redeploys: `acquired` (name, waitedMs), `refused`
 * (name, LimiterError: queue_full, wait_timeout, unavailable), `runTimeout` (name).
 */
export class LimiterRegistry extends EventEmitter {
  private readonly entries = new Map<string, Entry>();

  /**
   * Join the limiter `name`. With `config`, its limits apply (live reconfiguration if the limiter
   * exists; a new Redis URL replaces it). Without, the user only needs the shared table (release side).
   * Returns the shared limiter and whether this config differed from one already in force.
   */
  use(user: object, name: string, config?: SharedLimiterConfig): SharedLimiter & { conflict: boolean } {
    let entry = this.entries.get(name);
    let conflict = false;
    const redisUrl = config?.redisUrl?.trim() ?? '';
    if (entry && config && entry.redisUrl !== redisUrl) {
      // Cluster mode switched on/off or moved: a new limiter; the old one's slots are taken back.
      void entry.limiter.close();
      entry.gate.clear();
      entry.limiter = this.create({ ...config, name }, redisUrl);
      entry.gate.limiter = entry.limiter;
      entry.redisUrl = redisUrl;
    } else if (entry && config) {
      const now = entry.limiter.limits;
      const next = ProviderLimiter.normalise({ ...config, name });
      conflict = entry.configured && (now.maxConcurrent !== next.maxConcurrent || now.queueSize !== next.queueSize || now.waitTimeoutMs !== next.waitTimeoutMs || now.runTimeoutMs !== next.runTimeoutMs || now.queueEnabled !== next.queueEnabled);
      entry.limiter.configure(next);
    }
    if (!entry) {
      const limiter = this.create(config ? { ...config, name } : { name, maxConcurrent: 1 }, redisUrl);
      entry = { name, limiter, gate: new LimiterGate(limiter), redisUrl, users: new Set(), configured: false };
      this.entries.set(name, entry);
    }
    if (config) entry.configured = true;
    entry.users.add(user);
    return { name, limiter: entry.limiter, gate: entry.gate, redisUrl: entry.redisUrl, conflict };
  }

  /** The live limiter of a name (it may have been replaced since `use`). */
  get(name: string): SharedLimiter | undefined {
    return this.entries.get(name);
  }

  /** Leave; the last user closes the limiter (waiters are dropped, slots taken back). */
  async leave(user: object, name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry || !entry.users.delete(user) || entry.users.size > 0) return;
    this.entries.delete(name);
    entry.gate.clear();
    await entry.limiter.close();
  }

  /** Every named limiter (metrics read running/queued from `limiter.stats()` at scrape time). */
  list(): SharedLimiter[] {
    return Array.from(this.entries.values());
  }

  private create(options: LimiterOptions, redisUrl: string): ProviderLimiter {
    const limiter = redisUrl ? new RedisLimiter({ ...options, redis: redisUrl }) : new ProviderLimiter(options);
    const name = options.name;
    limiter.on('acquired', (slot: Slot) => this.emit('acquired', name, slot.waitedMs));
    limiter.on('rejected', (error: LimiterError) => this.emit('refused', name, error));
    limiter.on('timeout', (error: LimiterError) => this.emit(error.code === 'run_timeout' ? 'runTimeout' : 'refused', name, error));
    return limiter;
  }
}

/** The process-wide registry the Node-RED nodes use. */
export const limiterRegistry = new LimiterRegistry();
