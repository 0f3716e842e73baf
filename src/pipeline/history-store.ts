/**
 * Where the LLM stage keeps each device's conversation between turns. In memory for one
 * instance; in Redis when several instances sit behind a load balancer, so a device that
 * reconnects to another instance keeps its conversation.
 */
import Redis, { type RedisOptions } from 'ioredis';
import { ChatHistory } from '../providers/llm/chat-history';

/** Failure codes of a {@link HistoryStoreError}. */
export type HistoryStoreErrorCode = 'timeout' | 'unavailable' | 'corrupt' | 'closed';

/** A history store failed; the LLM stage falls back to the history it has in memory. */
export class HistoryStoreError extends Error {
  readonly code: HistoryStoreErrorCode;
  constructor(code: HistoryStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HistoryStoreError';
    this.code = code;
  }
}

/** Conversation histories by device id. */
export interface HistoryStore {
  /**
   * True when other processes read and write the same histories (Redis): the LLM stage then loads
   * at every turn start, since another instance may have answered the device meanwhile.
   */
  readonly shared: boolean;
  /** The device's history, or undefined when none is kept. */
  load(deviceId: string): Promise<ChatHistory | undefined>;
  /** Keep the device's history (replacing what was kept). */
  save(deviceId: string, history: ChatHistory): Promise<void>;
  /** Forget the device's history. */
  delete?(deviceId: string): Promise<void>;
  /** Free what the store owns (connections). */
  close?(): Promise<void>;
}

/** Options of {@link MemoryHistoryStore}. */
export interface MemoryHistoryStoreOptions {
  /** Devices kept; the least recently used one is forgotten first. Default 1000. */
  maxConversations?: number;
}

/**
 * Histories in this process, bounded, least recently used forgotten first. `load` hands out the
 * kept object itself (no copy), so the stage appends to it in place as it always did.
 */
export class MemoryHistoryStore implements HistoryStore {
  readonly shared = false;
  private readonly histories = new Map<string, ChatHistory>();
  private readonly maxConversations: number;

  constructor(options: MemoryHistoryStoreOptions = {}) {
    this.maxConversations = Math.max(1, Math.floor(options.maxConversations ?? 1000));
  }

  /** Devices with a kept history. */
  get size(): number {
    return this.histories.size;
  }

  async load(deviceId: string): Promise<ChatHistory | undefined> {
    const history = this.histories.get(deviceId);
    if (history) this.touch(deviceId, history);
    return history;
  }

  async save(deviceId: string, history: ChatHistory): Promise<void> {
    this.touch(deviceId, history);
  }

  async delete(deviceId: string): Promise<void> {
    this.histories.delete(deviceId);
  }

  private touch(deviceId: string, history: ChatHistory): void {
    // A Map iterates in insertion order: re-inserting moves the device to the young end.
    this.histories.delete(deviceId);
    this.histories.set(deviceId, history);
    while (this.histories.size > this.maxConversations) {
      const oldest = this.histories.keys().next().value;
      if (oldest === undefined) break;
      this.histories.delete(oldest);
    }
  }
}

/** Options of {@link RedisHistoryStore}: give `url` (or ioredis options) or `client`. */
export interface RedisHistoryStoreOptions {
  /** redis:// URL or ioredis options; the store opens and closes its own connection. */
  url?: string | RedisOptions;
  /** A connection to use instead; the store does not close it. */
  client?: Redis;
  /** Key of a device is `<keyPrefix><deviceId>`. Default `xiaozhi:history:`. */
  keyPrefix?: string;
  /** A conversation nobody continues is dropped after this long. Default 7 days. */
  ttlSec?: number;
  /**
   * Limit on one load or save. A turn must not wait on a Redis that is away: past this the stage
   * carries on with its memory copy. Default 1000 ms.
   */
  operationTimeoutMs?: number;
}

const DEFAULT_KEY_PREFIX = 'xiaozhi:history:';
const DEFAULT_TTL_SEC = 7 * 24 * 3600;
const DEFAULT_OPERATION_TIMEOUT_MS = 1000;

/**
 * Histories in Redis as the JSON of `ChatHistory.toJSON()`, one string key per device with a
 * sliding expiry (every save renews it). Last writer wins: a device talks to one instance at a
 * time, so two instances never answer the same device at once.
 */
export class RedisHistoryStore implements HistoryStore {
  readonly shared = true;
  readonly keyPrefix: string;
  readonly ttlSec: number;
  private readonly client: Redis;
  private readonly ownsClient: boolean;
  private readonly operationTimeoutMs: number;
  private closed = false;

  constructor(options: RedisHistoryStoreOptions) {
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else if (options.url !== undefined) {
      // Commands wait for the first connection (a turn right after start-up), but while Redis is
      // away they are given up after one reconnect attempt instead of piling up; the operation
      // timeout bounds the wait either way.
      const base: RedisOptions = { maxRetriesPerRequest: 1 };
      this.client = typeof options.url === 'string' ? new Redis(options.url, base) : new Redis({ ...base, ...options.url });
      this.ownsClient = true;
      // Reported per operation; an unhandled 'error' event would crash the process.
      this.client.on('error', () => undefined);
    } else {
      throw new TypeError('RedisHistoryStore: give url or client');
    }
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.ttlSec = Math.max(1, Math.floor(options.ttlSec ?? DEFAULT_TTL_SEC));
    this.operationTimeoutMs = Math.max(1, options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS);
  }

  /** The Redis key of a device's history. */
  keyOf(deviceId: string): string {
    return this.keyPrefix + deviceId;
  }

  async load(deviceId: string): Promise<ChatHistory | undefined> {
    const text = await this.run('load', () => this.client.get(this.keyOf(deviceId)));
    if (text === null) return undefined;
    try {
      return ChatHistory.fromJSON(text);
    } catch (error) {
      throw new HistoryStoreError('corrupt', `history of ${deviceId} in Redis is not readable: ${errorText(error)}`, { cause: error });
    }
  }

  async save(deviceId: string, history: ChatHistory): Promise<void> {
    await this.run('save', () => this.client.set(this.keyOf(deviceId), JSON.stringify(history.toJSON()), 'EX', this.ttlSec));
  }

  async delete(deviceId: string): Promise<void> {
    await this.run('delete', () => this.client.del(this.keyOf(deviceId)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private async run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    if (this.closed) throw new HistoryStoreError('closed', `history store closed (${what})`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HistoryStoreError('timeout', `Redis did not answer the history ${what} within ${this.operationTimeoutMs} ms`)),
        this.operationTimeoutMs,
      );
    });
    try {
      return await Promise.race([operation(), timeout]);
    } catch (error) {
      if (error instanceof HistoryStoreError) throw error;
      throw new HistoryStoreError('unavailable', `history ${what} failed: ${errorText(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
