import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeviceGateway } from '../gateway/device-gateway';
import type { Session } from '../gateway/session';
import { limiterRegistry } from '../pipeline/limiter-registry';

/** Per-turn timestamps (epoch ms) that pipeline stages put on msg.timings. */
export interface TurnTimings {
  speechEnd?: number;
  asrStart?: number;
  asrEnd?: number;
  llmStart?: number;
  llmFirstSentence?: number;
  ttsFirstAudio?: number;
  [stage: string]: number | undefined;
}

const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000];
const GAP_BUCKETS_MS = [20, 40, 55, 60, 62, 65, 70, 80, 100, 150, 250, 500, 1000];

/**
 * Prometheus metrics of the hub: sessions, turns, per-stage latency, limiter queues, downlink
 * frame gaps, errors by kind, and process metrics (RSS, CPU, event loop lag).
 *
 * One registry per process (several gateways share it); `metrics()` renders the text format.
 */
export class HubMetrics {
  readonly registry = new Registry();
  readonly sessions = new Gauge({ name: 'xiaozhi_sessions', help: 'Connected device sessions by state', labelNames: ['state'], registers: [this.registry] });
  readonly connections = new Counter({ name: 'xiaozhi_connections_total', help: 'WebSocket connections by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly turns = new Counter({ name: 'xiaozhi_turns_total', help: 'Turns started by trigger', labelNames: ['trigger'], registers: [this.registry] });
  readonly stageLatency = new Histogram({
    name: 'xiaozhi_stage_latency_ms',
    help: 'Latency of pipeline stages within a turn (ms)',
    labelNames: ['stage'],
    buckets: LATENCY_BUCKETS_MS,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'xiaozhi_limiter_queued', help: 'Requests waiting in a limiter', labelNames: ['limiter'], registers: [this.registry] });
  readonly queueRunning = new Gauge({ name: 'xiaozhi_limiter_running', help: 'Requests holding a limiter slot', labelNames: ['limiter'], registers: [this.registry] });
  readonly queueWait = new Histogram({
    name: 'xiaozhi_limiter_wait_ms',
    help: 'Time spent waiting for a limiter slot (ms)',
    labelNames: ['limiter'],
    buckets: LATENCY_BUCKETS_MS,
    registers: [this.registry],
  });
  readonly frameGap = new Histogram({
    name: 'xiaozhi_downlink_frame_gap_ms',
    help: 'Gap between consecutive paced downlink audio frames of a session (ms; pre-roll excluded)',
    buckets: GAP_BUCKETS_MS,
    registers: [this.registry],
  });
  readonly queuedFrames = new Gauge({ name: 'xiaozhi_downlink_queued_frames', help: 'Downlink frames waiting in pacers', registers: [this.registry] });
  readonly framesOut = new Counter({ name: 'xiaozhi_downlink_frames_total', help: 'Downlink audio frames sent', registers: [this.registry] });
  readonly framesIn = new Counter({ name: 'xiaozhi_uplink_frames_total', help: 'Uplink audio frames received', registers: [this.registry] });
  readonly errors = new Counter({ name: 'xiaozhi_errors_total', help: 'Errors by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly cache = new Counter({ name: 'xiaozhi_cache_lookups_total', help: 'Response cache lookups by cache and result', labelNames: ['cache', 'result'], registers: [this.registry] });
  private readonly watched = new WeakSet<DeviceGateway>();
  private readonly gateways = new Set<DeviceGateway>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'xiaozhi_' });
    limiterRegistry.on('acquired', (name: string, waitedMs: number) => this.queueWait.observe({ limiter: name }, waitedMs));
    limiterRegistry.on('refused', (name: string, error: { code?: string }) => this.errors.inc({ kind: `limiter_${error.code ?? 'refused'}` }));
    limiterRegistry.on('runTimeout', () => this.errors.inc({ kind: 'limiter_run_timeout' }));
  }

  /** Follow a gateway: connection outcomes, turns, errors, frame counts, session states. */
  watchGateway(gateway: DeviceGateway): void {
    this.gateways.add(gateway);
    if (this.watched.has(gateway)) return;
    this.watched.add(gateway);
    gateway.on('rejected', (info: { code: number }) => this.connections.inc({ outcome: `rejected_${info.code}` }));
    gateway.on('session', (session: Session) => {
      this.connections.inc({ outcome: 'accepted' });
      session.on('listen', (e: { state: string }) => {
        if (e.state !== 'stop') this.turns.inc({ trigger: e.state });
      });
      session.on('abort', () => this.turns.inc({ trigger: 'abort' }));
      session.on('protocol-error', (e: { code: string }) => this.errors.inc({ kind: e.code }));
      session.on('frame-gap', (gapMs: number) => this.frameGap.observe(gapMs));
    });
    gateway.on('session-closed', (session: Session) => {
      this.framesIn.inc(session.counters.framesIn);
      this.framesOut.inc(session.counters.framesOut);
    });
    gateway.on('idle', () => this.errors.inc({ kind: 'idle_timeout' }));
  }

  unwatchGateway(gateway: DeviceGateway): void {
    this.gateways.delete(gateway);
  }

  /** Record a turn's stage latencies from msg.timings (called once per turn, e.g. at first audio). */
  observeTimings(timings: TurnTimings | undefined): void {
    if (!timings) return;
    const span = (stage: string, from?: number, to?: number) => {
      if (typeof from === 'number' && typeof to === 'number' && to >= from) this.stageLatency.observe({ stage }, to - from);
    };
    span('asr', timings.asrStart, timings.asrEnd);
    span('llm_first_sentence', timings.llmStart, timings.llmFirstSentence);
    span('tts_first_audio', timings.llmFirstSentence ?? timings.asrEnd, timings.ttsFirstAudio);
    span('speech_end_to_first_audio', timings.speechEnd, timings.ttsFirstAudio);
  }

  /** Text exposition of every metric. */
  async metrics(): Promise<string> {
    // Session gauges are computed at scrape time from the live gateways (no bookkeeping drift).
    const states: Record<string, number> = { awaiting_hello: 0, idle: 0, listening: 0, speaking: 0 };
    let queued = 0;
    for (const gateway of this.gateways) {
      for (const session of gateway.list()) {
        states[session.state] = (states[session.state] ?? 0) + 1;
        queued += session.queuedFrames;
      }
    }
    this.queuedFrames.set(queued);
    this.queueDepth.reset();
    this.queueRunning.reset();
    for (const shared of limiterRegistry.list()) {
      const stats = shared.limiter.stats();
      this.queueDepth.set({ limiter: stats.name }, stats.queued);
      this.queueRunning.set({ limiter: stats.name }, stats.running);
    }
    this.sessions.reset();
    for (const [state, count] of Object.entries(states)) this.sessions.set({ state }, count);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

let shared: HubMetrics | undefined;

/** The process-wide metrics instance (created on first use). */
export function hubMetrics(): HubMetrics {
  shared ??= new HubMetrics();
  return shared;
}
