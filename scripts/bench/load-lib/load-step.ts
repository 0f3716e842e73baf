/**
 * One load step: a fresh hub (the standalone runner as a child process, flow derived from
 * flows/default.json), its idle RSS, N devices connected and doing full turns, a measured window,
 * a drain, and the figures. The hub is always stopped, whatever fails.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { buildBenchFlow, type FlowNode } from '../pipeline-lib/flows';
import { Hub, metricValue } from '../pipeline-lib/hub-process';
import { summarize, type Summary } from '../pipeline-lib/stats';
import { DeviceFleet } from './device-fleet';
import type { DeviceSpeech, TurnRecord } from './load-device';
import { machineBusyPercent, sampleMachineCpu, sampleMainThreadSched } from './machine-cpu';
import { histogramDelta, quantileBound, readHistogram, shareAbove } from './prom-histogram';

/** Which providers the hub runs. */
export type LoadMode = 'instant' | 'offline';

/** Ids the pipeline benchmark adds to its flows for its probe; the load benchmark runs without them. */
const PROBE_IDS = new Set(['bench_probe', 'bench_http_in', 'bench_rows_fn', 'bench_http_out']);

/**
 * The flow of `mode` without the pipeline benchmark's probe (so the hub runs what users run):
 * - instant: default chain with ASR, LLM and TTS on the OpenAI-compatible endpoint (loopback);
 * - offline: flows/default.json unchanged (pocketsphinx grammar ASR, offline responder, espeak-ng).
 */
export function buildLoadFlow(mode: LoadMode): { flow: FlowNode[]; silenceMs: number; prerollFrames: number } {
  const { flow, silenceMs } = buildBenchFlow(mode);
  const clean = flow.filter((n) => !PROBE_IDS.has(n.id));
  for (const node of clean) {
    if (node.wires) node.wires = node.wires.map((port) => port.filter((id) => !PROBE_IDS.has(id)));
  }
  const server = clean.find((n) => n.type === 'xiaozhi-server');
  const prerollFrames = Number(server?.prerollFrames ?? 5);
  return { flow: clean, silenceMs, prerollFrames: Number.isFinite(prerollFrames) ? prerollFrames : 5 };
}

/** Thresholds of "held at real time". */
export interface HoldCriteria {
  /** End of speech -> first reply audio, p99, at most (ms; includes the VAD silence window). */
  maxLatencyP99Ms: number;
  /**
   * Share of downlink gaps > 65 ms at most (0-1); Infinity = reported, not judged. Most such gaps
   * are timer jitter the device's pre-roll absorbs; `maxUnderrunTurnShare` judges what is heard.
   */
  maxGapShare: number;
  /** Share of turns in which the device model ran out of audio (an audible gap) at most (0-1). */
  maxUnderrunTurnShare: number;
  /** Share of turns that must complete with audio and `tts stop` (0-1). */
  minTurnOkShare: number;
}

/** Settings of a step. */
export interface StepSettings {
  mode: LoadMode;
  devices: number;
  warmupMs: number;
  durationMs: number;
  thinkMinMs: number;
  thinkMaxMs: number;
  turnTimeoutMs: number;
  speech: DeviceSpeech;
  /** Extra hub environment (the instant providers' URL). */
  env: Record<string, string>;
  criteria: HoldCriteria;
  /** Hubs alive, for the watchdog and signal handlers. */
  liveHubs: Set<Hub>;
  /** Runner script (default dist/scripts/start.js; e.g. a wrapper that profiles the hub). */
  runner?: string;
  log: (line: string) => void;
}

/** Figures of one step. */
export interface StepResult {
  mode: LoadMode;
  devices: number;
  connected: number;
  connectFailed: number;
  connectError?: string;
  connectMs: number;
  socketsLost: number;
  windowMs: number;
  /** Turns started in the window. */
  turns: number;
  turnsOk: number;
  /** Reasons of failed turns with counts. */
  failures: Map<string, number>;
  /** Turns still unfinished when the drain gave up (counted as failed). */
  unfinished: number;
  /** End of speech (last voiced frame sent) -> first reply frame received, ok turns. */
  latency: Summary;
  /** End of speech -> `tts start`. */
  ttsStartLatency: Summary;
  silenceMs: number;
  /** Client-side reply frame gaps after the pre-roll. */
  gaps: Summary;
  gapsOver65: number;
  /** Ok turns in which the modelled device ran out of audio at least once, and underruns in all. */
  turnsWithUnderrun: number;
  underruns: number;
  /** Server-side share of gaps > 65 ms (hub's xiaozhi_downlink_frame_gap_ms over the window and drain). */
  serverGapShare: number;
  /** Hub-side speech end -> first audio (xiaozhi_stage_latency_ms), mean and p99 bucket bound. */
  hubStageMeanMs: number;
  hubStageP99BoundMs: number;
  hubLagP99Ms: number;
  hubLagMaxMs: number;
  /** CPU in % of one core over the window. */
  hubCpuPct: number;
  /** Hub main thread (event loop): % of the window on a CPU, and % runnable but waiting for a CPU. */
  hubMainRunPct: number;
  hubMainWaitPct: number;
  /** Hub CPU time per device-second of the window (ms): the cost that capacity divides into. */
  hubCpuMsPerDeviceSec: number;
  /** Hub main-thread (event loop) time per device-second (ms): one event loop is the hard ceiling. */
  hubMainMsPerDeviceSec: number;
  loadGenCpuPct: number;
  machineCpuPct: number;
  rssIdleMiB: number;
  rssConnectedMiB: number;
  rssPeakMiB: number;
  rssPerDeviceMiB: number;
  loadGen: { maxTickLagMs: number; lateTicks: number; loopDelayP99Ms: number; loopDelayMaxMs: number };
  uplinkFramesPerSec: number;
  held: boolean;
  /** Why the step did not hold (empty when held). */
  reasons: string[];
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Prometheus lag gauges (seconds) -> ms. */
function lagMs(text: string, name: string): number {
  const v = metricValue(text, name);
  return v === undefined ? Number.NaN : v * 1000;
}

function judge(r: StepResult, c: HoldCriteria): string[] {
  const reasons: string[] = [];
  if (r.connected < r.devices) reasons.push(`${r.devices - r.connected} devices could not connect`);
  if (r.socketsLost > 0) reasons.push(`${r.socketsLost} sockets lost`);
  if (r.turns === 0) reasons.push('no turn in the window');
  else if (r.turnsOk / r.turns < c.minTurnOkShare) reasons.push(`only ${((r.turnsOk / r.turns) * 100).toFixed(1)} % of turns completed`);
  if (!(r.latency.p99 <= c.maxLatencyP99Ms)) reasons.push(`latency p99 ${r.latency.p99.toFixed(0)} ms > ${c.maxLatencyP99Ms} ms`);
  const share = r.gaps.count > 0 ? r.gapsOver65 / r.gaps.count : Number.NaN;
  if (Number.isFinite(c.maxGapShare) && !(share <= c.maxGapShare)) reasons.push(`gaps > 65 ms ${(share * 100).toFixed(2)} % > ${(c.maxGapShare * 100).toFixed(1)} %`);
  const underrunShare = r.turnsOk > 0 ? r.turnsWithUnderrun / r.turnsOk : Number.NaN;
  if (r.turnsOk > 0 && !(underrunShare <= c.maxUnderrunTurnShare)) {
    reasons.push(`${(underrunShare * 100).toFixed(1)} % of turns had an audible underrun > ${(c.maxUnderrunTurnShare * 100).toFixed(1)} %`);
  }
  return reasons;
}

/** Run one step on a fresh hub. Never leaves the hub running; hub failures land in `error`. */
export async function runStep(s: StepSettings): Promise<StepResult> {
  const { flow, silenceMs, prerollFrames } = buildLoadFlow(s.mode);
  const cores = cpus().length;
  const result: StepResult = {
    mode: s.mode,
    devices: s.devices,
    connected: 0,
    connectFailed: 0,
    connectMs: 0,
    socketsLost: 0,
    windowMs: 0,
    turns: 0,
    turnsOk: 0,
    failures: new Map(),
    unfinished: 0,
    latency: summarize([]),
    ttsStartLatency: summarize([]),
    silenceMs,
    gaps: summarize([]),
    gapsOver65: 0,
    turnsWithUnderrun: 0,
    underruns: 0,
    serverGapShare: Number.NaN,
    hubStageMeanMs: Number.NaN,
    hubStageP99BoundMs: Number.NaN,
    hubLagP99Ms: Number.NaN,
    hubLagMaxMs: Number.NaN,
    hubCpuPct: Number.NaN,
    hubMainRunPct: Number.NaN,
    hubMainWaitPct: Number.NaN,
    hubCpuMsPerDeviceSec: Number.NaN,
    hubMainMsPerDeviceSec: Number.NaN,
    loadGenCpuPct: Number.NaN,
    machineCpuPct: Number.NaN,
    rssIdleMiB: Number.NaN,
    rssConnectedMiB: Number.NaN,
    rssPeakMiB: Number.NaN,
    rssPerDeviceMiB: Number.NaN,
    loadGen: { maxTickLagMs: Number.NaN, lateTicks: 0, loopDelayP99Ms: Number.NaN, loopDelayMaxMs: Number.NaN },
    uplinkFramesPerSec: Number.NaN,
    held: false,
    reasons: [],
  };
  let hub: Hub | undefined;
  let fleet: DeviceFleet | undefined;
  try {
    hub = await Hub.start({ flow, env: s.env, startTimeoutMs: 60_000, ...(s.runner !== undefined ? { runner: s.runner } : {}) });
    s.liveHubs.add(hub);
    // Let start-up garbage settle before the idle baseline (models loaded, flows started).
    await sleep(2500);
    await hub.metrics();
    result.rssIdleMiB = hub.rssMiB();
    fleet = new DeviceFleet({
      url: hub.wsUrl,
      speech: s.speech,
      prerollFrames,
      thinkMinMs: s.thinkMinMs,
      thinkMaxMs: s.thinkMaxMs,
      turnTimeoutMs: s.turnTimeoutMs,
      firstTurnSpreadMs: s.warmupMs,
    });
    const connected = await fleet.connect(s.devices);
    Object.assign(result, { connected: connected.connected, connectFailed: connected.failed, connectMs: connected.connectMs });
    if (connected.firstError !== undefined) result.connectError = connected.firstError;
    s.log(`  ${connected.connected}/${s.devices} connected in ${(connected.connectMs / 1000).toFixed(1)} s`);
    await sleep(1000);
    result.rssConnectedMiB = hub.rssMiB();

    fleet.start();
    await sleep(s.warmupMs);

    // The window. Scraping /metrics resets prom-client's event-loop lag histogram, so the second
    // scrape's lag covers exactly the window.
    const m0 = await hub.metrics();
    fleet.resetClockStats();
    const framesBefore = fleet.devices.reduce((a, d) => a + d.framesSent, 0);
    const t0 = performance.now();
    const hubCpu0 = hub.cpuSeconds();
    const sched0 = sampleMainThreadSched(hub.pid);
    const self0 = process.cpuUsage();
    const machine0 = sampleMachineCpu();
    let rssPeak = hub.rssMiB();
    const rssTimer = setInterval(() => {
      const rss = hub?.rssMiB() ?? Number.NaN;
      if (rss > rssPeak) rssPeak = rss;
    }, 1000);
    try {
      await sleep(s.durationMs);
    } finally {
      clearInterval(rssTimer);
    }
    const t1 = performance.now();
    const wallSec = (t1 - t0) / 1000;
    result.windowMs = t1 - t0;
    result.hubCpuPct = ((hub.cpuSeconds() - hubCpu0) / wallSec) * 100;
    const sched1 = sampleMainThreadSched(hub.pid);
    if (sched0 && sched1) {
      result.hubMainRunPct = ((sched1.runSec - sched0.runSec) / wallSec) * 100;
      result.hubMainWaitPct = ((sched1.waitSec - sched0.waitSec) / wallSec) * 100;
    }
    const self = process.cpuUsage(self0);
    result.loadGenCpuPct = ((self.user + self.system) / 1e6 / wallSec) * 100;
    result.machineCpuPct = machineBusyPercent(machine0, sampleMachineCpu(), cores);
    result.uplinkFramesPerSec = (fleet.devices.reduce((a, d) => a + d.framesSent, 0) - framesBefore) / wallSec;
    const rssEnd = hub.rssMiB();
    result.rssPeakMiB = Math.max(rssPeak, rssEnd);
    result.loadGen = fleet.clockStats();
    const m1 = await hub.metrics();
    result.hubLagP99Ms = lagMs(m1, 'xiaozhi_nodejs_eventloop_lag_p99_seconds');
    result.hubLagMaxMs = lagMs(m1, 'xiaozhi_nodejs_eventloop_lag_max_seconds');

    fleet.drain();
    result.unfinished = await fleet.settle(s.turnTimeoutMs + 3000);
    const m2 = await hub.metrics();
    result.socketsLost = fleet.closedCount();

    const gapHist = histogramDelta(readHistogram(m2, 'xiaozhi_downlink_frame_gap_ms'), readHistogram(m0, 'xiaozhi_downlink_frame_gap_ms'));
    result.serverGapShare = shareAbove(gapHist, 65);
    const stage = { stage: 'speech_end_to_first_audio' };
    const stageHist = histogramDelta(readHistogram(m2, 'xiaozhi_stage_latency_ms', stage), readHistogram(m0, 'xiaozhi_stage_latency_ms', stage));
    if (stageHist && stageHist.count > 0) {
      result.hubStageMeanMs = stageHist.sum / stageHist.count;
      result.hubStageP99BoundMs = quantileBound(stageHist, 0.99);
    }

    // RSS per device: what N connected, talking devices added to the idle hub.
    result.rssPerDeviceMiB = result.connected > 0 ? (result.rssPeakMiB - result.rssIdleMiB) / result.connected : Number.NaN;

    result.hubCpuMsPerDeviceSec = result.connected > 0 ? (result.hubCpuPct * 10) / result.connected : Number.NaN;
    result.hubMainMsPerDeviceSec = result.connected > 0 ? (result.hubMainRunPct * 10) / result.connected : Number.NaN;

    const inWindow = (t: TurnRecord): boolean => t.startedMs >= t0 && t.startedMs < t1;
    const turns = fleet.turns.filter(inWindow);
    result.turns = turns.length + result.unfinished;
    const ok = turns.filter((t) => t.ok);
    result.turnsOk = ok.length;
    for (const t of turns) if (!t.ok) result.failures.set(t.error ?? 'unknown', (result.failures.get(t.error ?? 'unknown') ?? 0) + 1);
    if (result.unfinished > 0) result.failures.set('unfinished at the end of the drain', result.unfinished);
    result.latency = summarize(ok.map((t) => t.firstAudioMs - t.lastVoicedMs).filter(Number.isFinite));
    result.ttsStartLatency = summarize(ok.map((t) => t.ttsStartMs - t.lastVoicedMs).filter(Number.isFinite));
    const gaps: number[] = [];
    for (const t of ok) for (const g of t.gapsMs) gaps.push(g);
    result.gaps = summarize(gaps);
    result.gapsOver65 = gaps.filter((g) => g > 65).length;
    result.turnsWithUnderrun = ok.filter((t) => t.underruns > 0).length;
    result.underruns = ok.reduce((a, t) => a + t.underruns, 0);
    result.reasons = judge(result, s.criteria);
    result.held = result.reasons.length === 0;
  } catch (error) {
    result.error = error instanceof Error ? error.message.slice(0, 2000) : String(error);
    result.reasons = [`step failed: ${result.error.split('\n')[0] ?? ''}`];
    result.held = false;
  } finally {
    if (fleet) await fleet.close().catch(() => undefined);
    if (hub) {
      await hub.stop();
      s.liveHubs.delete(hub);
    }
  }
  return result;
}
