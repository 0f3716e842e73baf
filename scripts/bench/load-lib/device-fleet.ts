/**
 * N LoadDevices against one hub, paced by one drift-corrected clock: the 60 ms frame period is cut
 * into six 10 ms slots and each device sends in its own slot, like unsynchronised microphones.
 * A late timer tick sends every due slot at once (catching up), and the next tick is scheduled on
 * the absolute clock, so the uplink rate never drifts even when the load generator is busy; how
 * late it ran is reported (a saturated load generator invalidates a run).
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { LoadDevice, UPLINK_FRAME_MS, type DeviceSpeech, type TurnRecord } from './load-device';

const SLOTS = 6;
const SLOT_MS = UPLINK_FRAME_MS / SLOTS;

/** Options of a fleet. */
export interface FleetOptions {
  url: string;
  speech: DeviceSpeech;
  prerollFrames: number;
  thinkMinMs: number;
  thinkMaxMs: number;
  turnTimeoutMs: number;
  /** Spread of the first turns after start (so the devices do not all speak at once). */
  firstTurnSpreadMs: number;
}

/** Result of connecting the devices. */
export interface FleetConnectResult {
  connected: number;
  failed: number;
  connectMs: number;
  firstError?: string;
}

/** How the load generator itself kept up. */
export interface FleetClockStats {
  /** Largest lateness of a slot tick (ms). */
  maxTickLagMs: number;
  /** Ticks more than one frame period late. */
  lateTicks: number;
  ticks: number;
  /** Event-loop delay of the load-generator process over the window (ms). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Devices and their turns. */
export class DeviceFleet {
  readonly devices: LoadDevice[] = [];
  /** Every finished turn, in finishing order. */
  readonly turns: TurnRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private maxTickLagMs = 0;
  private lateTicks = 0;
  private ticks = 0;
  private loopDelay: IntervalHistogram | undefined;

  constructor(private readonly options: FleetOptions) {}

  /** Connect `count` devices, `parallel` handshakes at a time; failures are counted, not thrown. */
  async connect(count: number, parallel = 64, timeoutMs = 20_000, shouldStop: () => boolean = () => false): Promise<FleetConnectResult> {
    const began = performance.now();
    let failed = 0;
    let firstError: string | undefined;
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const index = next++;
        if (index >= count || shouldStop()) return;
        const device = new LoadDevice(index, {
          url: this.options.url,
          speech: this.options.speech,
          prerollFrames: this.options.prerollFrames,
          thinkMinMs: this.options.thinkMinMs,
          thinkMaxMs: this.options.thinkMaxMs,
          turnTimeoutMs: this.options.turnTimeoutMs,
          onTurn: (turn) => this.turns.push(turn),
        });
        try {
          await device.open(timeoutMs);
          device.slot = index % SLOTS;
          this.devices.push(device);
        } catch (error) {
          failed++;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, () => worker()));
    return { connected: this.devices.length, failed, connectMs: performance.now() - began, ...(firstError !== undefined ? { firstError } : {}) };
  }

  /** Every device says `listen start auto` and speaks first after a random part of the spread; the clock starts. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const now = performance.now();
    for (const device of this.devices) device.startListening(now, Math.random() * this.options.firstTurnSpreadMs);
    const bySlot: LoadDevice[][] = Array.from({ length: SLOTS }, () => []);
    for (const device of this.devices) bySlot[device.slot]?.push(device);
    const startMs = performance.now();
    let tick = 0;
    const pump = (): void => {
      if (!this.running) return;
      const nowMs = performance.now();
      while (startMs + tick * SLOT_MS <= nowMs) {
        const lagMs = nowMs - (startMs + tick * SLOT_MS);
        if (lagMs > this.maxTickLagMs) this.maxTickLagMs = lagMs;
        if (lagMs > UPLINK_FRAME_MS) this.lateTicks++;
        for (const device of bySlot[tick % SLOTS] ?? []) device.tick(nowMs);
        tick++;
        this.ticks++;
      }
      this.timer = setTimeout(pump, Math.max(0, startMs + tick * SLOT_MS - performance.now()));
    };
    pump();
  }

  /** Start measuring the load generator's own lateness (call at the start of the window). */
  resetClockStats(): void {
    this.maxTickLagMs = 0;
    this.lateTicks = 0;
    this.ticks = 0;
    this.loopDelay?.disable();
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
  }

  clockStats(): FleetClockStats {
    const h = this.loopDelay;
    // The histogram holds the delay including the 10 ms resolution timer; subtract it.
    const ms = (ns: number | undefined): number => (ns === undefined || !Number.isFinite(ns) ? Number.NaN : Math.max(0, ns / 1e6 - 10));
    return {
      maxTickLagMs: this.maxTickLagMs,
      lateTicks: this.lateTicks,
      ticks: this.ticks,
      loopDelayP99Ms: ms(h?.percentile(99)),
      loopDelayMaxMs: ms(h?.max),
    };
  }

  /** Stop starting turns: devices finish the turn they are in and go quiet. */
  drain(): void {
    for (const device of this.devices) device.draining = true;
  }

  /** Devices still inside a turn (talking, awaiting or playing). */
  busyCount(): number {
    let busy = 0;
    for (const d of this.devices) if (d.phase === 'talking' || d.phase === 'awaiting' || d.phase === 'playing') busy++;
    return busy;
  }

  /** Wait until no device is inside a turn, or `timeoutMs`. Resolves with the devices still busy. */
  async settle(timeoutMs: number): Promise<number> {
    const until = performance.now() + timeoutMs;
    while (this.busyCount() > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 100));
    return this.busyCount();
  }

  /** Sockets the hub closed (or that failed) while the fleet ran. */
  closedCount(): number {
    return this.devices.filter((d) => d.closed).length;
  }

  /** Stop the clock and close every socket. */
  async close(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.loopDelay?.disable();
    // In batches: thousands of close handshakes at once would only measure the close storm.
    for (let i = 0; i < this.devices.length; i += 500) await Promise.all(this.devices.slice(i, i + 500).map((d) => d.close()));
  }
}
