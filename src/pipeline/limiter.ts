import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { LimiterError } from './limiter-error';

/** Limits of one provider (or any flow section). */
export interface LimiterOptions {
  /** Name in logs, status and metrics; the Redis key id in cluster mode. */
  name: string;
  /** Slots that may be held at once (>= 1). */
  maxConcurrent: number;
  /** Requests that may wait for a slot; more are rejected with `queue_full`. Default 0. */
  queueSize?: number;
  /** Longest wait in the queue before `wait_timeout`; 0 = wait forever. Default 0. */
  waitTimeoutMs?: number;
  /**
   * Longest time a slot may be held (the provider call, or a streamed reply held through
   * `acquire()`); then the slot is taken back and its signal aborts with `run_timeout`.
   * 0 = no limit. Default 0.
   */
  runTimeoutMs?: number;
  /** false: never queue, reject at once when every slot is busy. Default true. */
  queueEnabled?: boolean;
}

/** Per-request options of `acquire()` and `run()`. */
export interface AcquireOptions {
  /** Aborting it removes a waiter from the queue at once, or frees a held slot. */
  signal?: AbortSignal;
  /** Higher waits less: inserted before lower priorities, FIFO within a priority. Default 0. */
  priority?: number;
  /** Overrides the limiter's `runTimeoutMs` for this slot. */
  runTimeoutMs?: number;
}

/** A held slot. Release it when the work is done; releasing twice is a no-op. */
export interface Slot {
  /** Lease id (unique; the Redis member in cluster mode). */
  readonly id: string;
  /** Time spent queued before the slot was granted (0 when a slot was free). */
  readonly waitedMs: number;
  /** 1-based place in the queue on arrival; 0 = no wait. */
  readonly queuePosition: number;
  /** Aborts when the slot is taken back: run timeout (`run_timeout`) or the caller's signal (`aborted`). */
  readonly signal: AbortSignal;
  /** True once released (by the holder, a timeout, an abort or close). */
  readonly released: boolean;
  /** Give the slot back; returns false if it was already released. */
  release(): boolean;
}

/** What `run()` resolves to. */
export interface RunResult<T> {
  value: T;
  waitedMs: number;
  queuePosition: number;
}

/** Counters and gauges of a limiter (wait percentiles over the last 1,024 grants). */
export interface LimiterStats {
  name: string;
  running: number;
  queued: number;
  maxConcurrent: number;
  queueSize: number;
  queueEnabled: boolean;
  /** Slots granted since start. */
  acquired: number;
  /** Refused with `queue_full` (or `unavailable`). */
  rejected: number;
  /** `wait_timeout` + `run_timeout`. */
  timedOut: number;
  waitTimedOut: number;
  runTimedOut: number;
  /** Waiters or holders whose caller aborted. */
  aborted: number;
  waitMsP50: number;
  waitMsP99: number;
}

/**
 * Where the permits live. The in-process store is a counter; the Redis store shares them across
 * processes. `take` may be async (a network round trip); the limiter keeps its queue local either way.
 */
export interface PermitStore {
  /** Try to take a permit under `leaseId`; false when `maxConcurrent` are taken. */
  take(leaseId: string, maxConcurrent: number): boolean | Promise<boolean>;
  /** Give the permit of `leaseId` back (idempotent). */
  give(leaseId: string): void;
  /** Called with a function the store calls when a permit may have been freed elsewhere. */
  watch?(onMaybeFree: () => void): void;
  close?(): Promise<void>;
}

/** Permits counted in this process. */
export class LocalPermitStore implements PermitStore {
  private readonly leases = new Set<string>();

  take(leaseId: string, maxConcurrent: number): boolean {
    if (this.leases.size >= maxConcurrent) return false;
    this.leases.add(leaseId);
    return true;
  }

  give(leaseId: string): void {
    this.leases.delete(leaseId);
  }
}

interface Waiter {
  readonly enqueuedAt: number;
  readonly priority: number;
  position: number;
  readonly runTimeoutMs: number;
  readonly signal?: AbortSignal;
  settled: boolean;
  /** Still in the queue (removal is lazy: an aborted waiter is skipped, not spliced out). */
  inQueue: boolean;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
  resolve(slot: Slot): void;
  reject(error: LimiterError): void;
}

const WAIT_SAMPLES = 1024;

/** An acquire() call on its way to a slot. */
interface PendingRequest {
  opts: AcquireOptions;
  runTimeoutMs: number;
  startedAt: number;
}

/**
 * Waiters in priority-then-FIFO order. Appending and taking the head are O(1) and a removal
 * (abort, timeout) is O(1) by marking, so a burst of thousands of waiters that all time out
 * costs linear time, not quadratic; only a higher-priority insert scans.
 */
class WaitQueue {
  private items: Waiter[] = [];
  private head = 0;
  private live = 0;

  get length(): number {
    return this.live;
  }

  /** Insert by priority; returns the 1-based position among live waiters. */
  insert(waiter: Waiter): number {
    this.live++;
    waiter.inQueue = true;
    const last = this.items[this.items.length - 1];
    if (!last || last.priority >= waiter.priority || this.live === 1) {
      this.items.push(waiter);
      return this.live;
    }
    let position = 1;
    for (let i = this.head; i < this.items.length; i++) {
      const w = this.items[i]!;
      if (!w.inQueue) continue;
      if (w.priority < waiter.priority) {
        this.items.splice(i, 0, waiter);
        return position;
      }
      position++;
    }
    this.items.push(waiter);
    return position;
  }

  peek(): Waiter | undefined {
    while (this.head < this.items.length && !this.items[this.head]!.inQueue) this.head++;
    this.compact();
    return this.items[this.head];
  }

  shift(): Waiter | undefined {
    const waiter = this.peek();
    if (waiter) this.remove(waiter);
    return waiter;
  }

  remove(waiter: Waiter): void {
    if (!waiter.inQueue) return;
    waiter.inQueue = false;
    this.live--;
    if (this.live === 0) {
      this.items = [];
      this.head = 0;
    }
  }

  /** Live waiters, head first. */
  toArray(): Waiter[] {
    return this.items.slice(this.head).filter((w) => w.inQueue);
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Per-provider admission control: at most `maxConcurrent` slots held, up to `queueSize` waiters
 * in priority-then-FIFO order, a wait timeout and a run timeout, and abort at any point.
 *
 * Two APIs: `run(fn)` for a call that fits in one promise, and `acquire()` / `Slot.release()` for a
 * stage that holds its slot across a streamed reply (LLM sentences, TTS audio).
 *
 * Events: `change` ({running, queued}) on every state change, `acquired` (Slot), `rejected`
 * (LimiterError), `timeout` (LimiterError), `backendError` (Error, cluster store only).
 */
export class ProviderLimiter extends EventEmitter {
  readonly name: string;
  private options: Required<LimiterOptions>;
  private readonly store: PermitStore;
  private readonly queue = new WaitQueue();
  private readonly held = new Set<Slot>();
  private readonly waits = new Float64Array(WAIT_SAMPLES);
  private waitCount = 0;
  private pumping = false;
  private pumpAgain = false;
  private readonly leasePrefix = randomUUID();
  private leaseSeq = 0;
  private closed = false;
  private counters = { acquired: 0, rejected: 0, waitTimedOut: 0, runTimedOut: 0, aborted: 0 };

  constructor(options: LimiterOptions, store: PermitStore = new LocalPermitStore()) {
    super();
    // Every node sharing a named limiter listens to it; dozens are normal, not a leak.
    this.setMaxListeners(0);
    this.name = options.name;
    this.options = ProviderLimiter.normalise(options);
    this.store = store;
    store.watch?.(() => this.pump());
  }

  /** Validate and fill defaults. */
  static normalise(options: LimiterOptions): Required<LimiterOptions> {
    const int = (value: number | undefined, fallback: number, min: number, what: string) => {
      const v = value ?? fallback;
      if (!Number.isFinite(v) || v < min) throw new LimiterError('invalid_config', `limiter "${options.name}": ${what} must be a number >= ${min} (got ${String(value)})`, options.name);
      return Math.floor(v);
    };
    return {
      name: options.name,
      maxConcurrent: int(options.maxConcurrent, 1, 1, 'maxConcurrent'),
      queueSize: int(options.queueSize, 0, 0, 'queueSize'),
      waitTimeoutMs: int(options.waitTimeoutMs, 0, 0, 'waitTimeoutMs'),
      runTimeoutMs: int(options.runTimeoutMs, 0, 0, 'runTimeoutMs'),
      queueEnabled: options.queueEnabled ?? true,
    };
  }

  /** Current limits. */
  get limits(): Readonly<Required<LimiterOptions>> {
    return this.options;
  }

  /**
   * Change the limits live (a redeployed node with new numbers). Held slots keep running; a raised
   * `maxConcurrent` admits waiters at once, a lowered one admits nobody until enough slots free up.
   */
  configure(options: Partial<Omit<LimiterOptions, 'name'>>): void {
    this.options = ProviderLimiter.normalise({ ...this.options, ...options, name: this.name });
    this.changed();
    this.pump();
  }

  /**
   * Wait for a slot. Rejects with LimiterError `queue_full`, `wait_timeout`, `aborted`, `closed`
   * (or `unavailable` when a shared backend is down and queueing is off).
   */
  acquire(opts: AcquireOptions = {}): Promise<Slot> {
    // Not an async function on purpose: the promise handed out is the one the grant resolves, so
    // callers' continuations run in grant order (an async wrapper would add adoption ticks that
    // can reorder waiters granted in the same tick).
    if (this.closed) return Promise.reject(this.error('closed', 'limiter closed'));
    if (opts.signal?.aborted) {
      this.counters.aborted++;
      return Promise.reject(this.error('aborted', 'aborted before queueing'));
    }
    const request = { opts, runTimeoutMs: opts.runTimeoutMs ?? this.options.runTimeoutMs, startedAt: Date.now() };
    if (this.queue.length > 0) return this.enqueue(request);
    // Fast path: nobody is ahead of us, so try for a permit straight away.
    const leaseId = this.nextLeaseId();
    let result: boolean | Promise<boolean>;
    try {
      result = this.store.take(leaseId, this.options.maxConcurrent);
    } catch (error) {
      this.emit('backendError', error);
      return this.afterFirstTry(false, true, leaseId, request);
    }
    if (typeof result === 'boolean') return this.afterFirstTry(result, false, leaseId, request);
    return result.then(
      (took) => this.afterFirstTry(took, false, leaseId, request),
      (error: unknown) => {
        this.emit('backendError', error);
        return this.afterFirstTry(false, true, leaseId, request);
      },
    );
  }

  private afterFirstTry(took: boolean, backendDown: boolean, leaseId: string, request: PendingRequest): Promise<Slot> {
    if (took) {
      if (this.closed || request.opts.signal?.aborted) {
        this.store.give(leaseId);
        if (this.closed) return Promise.reject(this.error('closed', 'limiter closed'));
        this.counters.aborted++;
        return Promise.reject(this.error('aborted', 'aborted before the slot was granted'));
      }
      return Promise.resolve(this.grant(leaseId, request.startedAt, 0, request.runTimeoutMs, request.opts.signal));
    }
    if (backendDown && !this.options.queueEnabled) {
      this.counters.rejected++;
      const error = this.error('unavailable', 'limiter backend unavailable');
      this.emit('rejected', error);
      this.changed();
      return Promise.reject(error);
    }
    return this.enqueue(request);
  }

  private enqueue(request: PendingRequest): Promise<Slot> {
    if (!this.options.queueEnabled || this.queue.length >= this.options.queueSize) {
      this.counters.rejected++;
      const error = this.options.queueEnabled
        ? this.error('queue_full', `all ${this.options.maxConcurrent} slots busy and ${this.queue.length}/${this.options.queueSize} queued`)
        : this.error('queue_full', `all ${this.options.maxConcurrent} slots busy (queueing off)`);
      this.emit('rejected', error);
      this.changed();
      return Promise.reject(error);
    }
    const { opts, runTimeoutMs, startedAt } = request;
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = { enqueuedAt: startedAt, priority: opts.priority ?? 0, position: 0, runTimeoutMs, signal: opts.signal, settled: false, inQueue: false, resolve, reject };
      waiter.position = this.queue.insert(waiter);
      if (this.options.waitTimeoutMs > 0) {
        waiter.timer = setTimeout(() => {
          this.counters.waitTimedOut++;
          const error = this.error('wait_timeout', `no slot within ${this.options.waitTimeoutMs} ms`);
          this.emit('timeout', error);
          this.dropWaiter(waiter, error);
        }, this.options.waitTimeoutMs);
      }
      if (opts.signal) {
        waiter.onAbort = () => {
          this.counters.aborted++;
          this.dropWaiter(waiter, this.error('aborted', 'aborted while queued'));
        };
        opts.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.changed();
      this.pump();
    });
  }

  /**
   * Run `fn` in a slot. `fn` gets a signal that aborts on run timeout or the caller's abort; the
   * promise then rejects at once (`run_timeout` / `aborted`) and the slot is freed even if `fn`
   * ignores the signal, so a hung provider cannot hold the limiter forever.
   */
  async run<T>(fn: (signal: AbortSignal) => Promise<T>, opts: AcquireOptions = {}): Promise<RunResult<T>> {
    const slot = await this.acquire(opts);
    try {
      const work = fn(slot.signal);
      const value = await new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(slot.signal.reason);
        if (slot.signal.aborted) return onAbort();
        slot.signal.addEventListener('abort', onAbort, { once: true });
        work.then(
          (v) => {
            slot.signal.removeEventListener('abort', onAbort);
            resolve(v);
          },
          (e: unknown) => {
            slot.signal.removeEventListener('abort', onAbort);
            reject(e);
          },
        );
      });
      return { value, waitedMs: slot.waitedMs, queuePosition: slot.queuePosition };
    } finally {
      slot.release();
    }
  }

  /** Counters, gauges and wait percentiles. */
  stats(): LimiterStats {
    const n = Math.min(this.waitCount, WAIT_SAMPLES);
    const sorted = Array.from(this.waits.subarray(0, n)).sort((a, b) => a - b);
    const pct = (p: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)]!);
    return {
      name: this.name,
      running: this.held.size,
      queued: this.queue.length,
      maxConcurrent: this.options.maxConcurrent,
      queueSize: this.options.queueSize,
      queueEnabled: this.options.queueEnabled,
      acquired: this.counters.acquired,
      rejected: this.counters.rejected,
      timedOut: this.counters.waitTimedOut + this.counters.runTimedOut,
      waitTimedOut: this.counters.waitTimedOut,
      runTimedOut: this.counters.runTimedOut,
      aborted: this.counters.aborted,
      waitMsP50: pct(50),
      waitMsP99: pct(99),
    };
  }

  /** Slots held by this process. */
  get running(): number {
    return this.held.size;
  }

  /** Waiters in this process. */
  get queued(): number {
    return this.queue.length;
  }

  /** Reject every waiter (`closed`), take back every slot, close the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.queue.toArray()) this.dropWaiter(waiter, this.error('closed', 'limiter closed'));
    for (const slot of Array.from(this.held)) (slot as HeldSlot).takeBack(this.error('closed', 'limiter closed'));
    this.changed();
    await this.store.close?.();
  }

  /**
   * Admit waiters while permits are free. Synchronous with an in-process store (no promise per
   * release); with an async store one round trip is in flight at a time and the loop continues
   * when it answers.
   */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    let handedOff = false;
    try {
      while (!this.closed && this.queue.length > 0) {
        const leaseId = this.nextLeaseId();
        let result: boolean | Promise<boolean>;
        try {
          result = this.store.take(leaseId, this.options.maxConcurrent);
        } catch (error) {
          this.emit('backendError', error);
          break;
        }
        if (typeof result !== 'boolean') {
          handedOff = true;
          result
            .then(
              (took) => {
                if (took) this.admitHead(leaseId);
                return took;
              },
              (error: unknown) => {
                // Backend down: the waiters stay queued; the store's poll (or a release)
                // retries, and the wait timeout bounds how long anyone can be stuck.
                this.emit('backendError', error);
                return false;
              },
            )
            .then((took) => {
              this.pumping = false;
              if (took || this.pumpAgain) {
                this.pumpAgain = false;
                this.pump();
              }
            });
          return;
        }
        if (!result) break;
        this.admitHead(leaseId);
      }
    } finally {
      if (!handedOff) {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.pump();
        }
      }
    }
  }

  /** Give a freshly taken permit to the head of the queue (or back, if nobody waits any more). */
  private admitHead(leaseId: string): void {
    const head = this.closed ? undefined : this.queue.shift();
    if (!head) {
      this.store.give(leaseId);
      return;
    }
    this.settleWaiter(head);
    head.resolve(this.grant(leaseId, head.enqueuedAt, head.position, head.runTimeoutMs, head.signal));
  }

  /** Unique across processes (the prefix) and cheap (the counter). */
  private nextLeaseId(): string {
    return `${this.leasePrefix}:${++this.leaseSeq}`;
  }

  private grant(leaseId: string, startedAt: number, position: number, runTimeoutMs: number, signal?: AbortSignal): Slot {
    const waitedMs = Date.now() - startedAt;
    const slot = new HeldSlot(leaseId, waitedMs, position, (s) => this.onReleased(s));
    this.held.add(slot);
    this.counters.acquired++;
    this.waits[this.waitCount % WAIT_SAMPLES] = waitedMs;
    this.waitCount++;
    if (runTimeoutMs > 0) {
      slot.setTimer(
        setTimeout(() => {
          this.counters.runTimedOut++;
          const error = this.error('run_timeout', `slot held longer than ${runTimeoutMs} ms`);
          this.emit('timeout', error);
          slot.takeBack(error);
        }, runTimeoutMs),
      );
    }
    if (signal) {
      const onAbort = () => {
        this.counters.aborted++;
        slot.takeBack(this.error('aborted', 'aborted while running'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      slot.onRelease(() => signal.removeEventListener('abort', onAbort));
    }
    this.emit('acquired', slot);
    this.changed();
    return slot;
  }

  private onReleased(slot: HeldSlot): void {
    if (!this.held.delete(slot)) return;
    this.store.give(slot.id);
    this.changed();
    this.pump();
  }

  private dropWaiter(waiter: Waiter, error: LimiterError): void {
    if (waiter.settled) return;
    this.queue.remove(waiter);
    this.settleWaiter(waiter);
    waiter.reject(error);
    this.changed();
  }

  private settleWaiter(waiter: Waiter): void {
    waiter.settled = true;
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }

  private changed(): void {
    this.emit('change', { running: this.held.size, queued: this.queue.length });
  }

  private error(code: LimiterError['code'], message: string): LimiterError {
    return new LimiterError(code, `limiter "${this.name}": ${message}`, this.name);
  }
}

/** The slot object handed out by ProviderLimiter. */
class HeldSlot implements Slot {
  // Created on first use: an AbortController per slot is the dearest allocation here, and
  // acquire() users that never look at the signal should not pay for it.
  private controller?: AbortController;
  private abortReason?: Error;
  private timer?: NodeJS.Timeout;
  private readonly cleanups: Array<() => void> = [];
  private done = false;

  constructor(
    readonly id: string,
    readonly waitedMs: number,
    readonly queuePosition: number,
    private readonly onReleased: (slot: HeldSlot) => void,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  get released(): boolean {
    return this.done;
  }

  setTimer(timer: NodeJS.Timeout): void {
    this.timer = timer;
  }

  onRelease(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  release(): boolean {
    if (this.done) return false;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.onReleased(this);
    return true;
  }

  /** Timeout, abort or close: free the slot first, then tell the holder through the signal. */
  takeBack(reason: Error): void {
    if (this.done) return;
    this.release();
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}
