/**
 * The gateway under test, run as a child of the gateway benchmark (scripts/bench/gateway.ts) so its
 * RSS and CPU are its own. Listens on 127.0.0.1 (random port), answers commands over IPC, and
 * exits when the parent goes away. Not meant to be started by hand.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { DeviceGateway } from '../../../src/gateway/device-gateway';
import type { Session } from '../../../src/gateway/session';
import { speechOpusFrames } from './speech-frames';
import { percentiles } from './stats';
import type { BenchCommand, BenchReply, MemorySnapshot, PacerSummary, SendGaps, ServerReady, ServerStats, SpeakStarted, SpeechPrepared } from './gateway-ipc';

const gcFn = (globalThis as { gc?: () => void }).gc;
let warnings = 0;
let framesIn = 0;
let speakingDone = 0;
let speechFrames: Buffer[] = [];
const speakingSessions: Session[] = [];

/**
 * Server-side send times of binary frames, per socket, while a speak run is measured. The gateway
 * has no such hook, so the benchmark wraps ws's send (instrumentation only: it records, then calls
 * the original). Comparing these gaps with the ones the clients see separates pacer lateness from
 * the load generator's own delays.
 */
const sendTimes = new Map<WebSocket, { times: Float64Array; count: number }>();
const originalSend = WebSocket.prototype.send;
WebSocket.prototype.send = function benchSend(this: WebSocket, data: unknown, ...rest: unknown[]): void {
  if (sendTimes.size > 0 && Buffer.isBuffer(data)) {
    const rec = sendTimes.get(this);
    if (rec && rec.count < rec.times.length) rec.times[rec.count++] = performance.now();
  }
  (originalSend as (this: WebSocket, ...args: unknown[]) => void).call(this, data, ...rest);
} as typeof WebSocket.prototype.send;

/** The session's socket; a private field of Session, reached only for the instrumentation above. */
function socketOf(session: Session): WebSocket | undefined {
  const ws = (session as unknown as { ws?: unknown }).ws;
  return ws instanceof WebSocket ? ws : undefined;
}

const gateway = new DeviceGateway({
  port: 0,
  host: '127.0.0.1',
  // Idle devices must stay connected for the whole measurement; pings stay on (as in production).
  limits: { idleTimeoutMs: 0, maxSessions: 20_000 },
  decodeUplink: true,
  logger: {
    info: () => undefined,
    warn: (message) => {
      if (++warnings <= 5) process.stderr.write(`[gateway warn] ${message}\n`);
    },
    error: (message) => {
      if (++warnings <= 5) process.stderr.write(`[gateway error] ${message}\n`);
    },
  },
});

/** Sampling interval of the loop-delay histogram; Node records the whole interval, so it is subtracted. */
const LOOP_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
const extraDelayMs = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
loopDelay.enable();

gateway.on('session', (session: Session) => {
  // A consumer of uplink audio, as the xiaozhi-in node would be (the decode happens regardless).
  session.on('audio', () => {
    framesIn++;
  });
});
gateway.on('error', (error: Error) => process.stderr.write(`[gateway error] ${error.message}\n`));

function send(message: BenchReply | ServerReady): void {
  if (process.connected) process.send?.(message);
}

function memory(): MemorySnapshot {
  // Two passes: the first may only schedule finalisers (ws/socket handles) that the second frees.
  gcFn?.();
  gcFn?.();
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers };
}

function stats(resetLoopDelay: boolean): ServerStats {
  const cpu = process.cpuUsage();
  let helloSessions = 0;
  let badFrames = 0;
  let droppedMessages = 0;
  const sessions = gateway.list();
  for (const s of sessions) {
    if (s.state !== 'awaiting_hello') helloSessions++;
    badFrames += s.counters.badFrames;
    droppedMessages += s.counters.droppedMessages;
  }
  const result: ServerStats = {
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    sessions: sessions.length,
    helloSessions,
    framesIn,
    badFrames,
    droppedMessages,
    warnings,
    loopDelayMs: { p50: extraDelayMs(loopDelay.percentile(50)), p99: extraDelayMs(loopDelay.percentile(99)), max: extraDelayMs(loopDelay.max) },
  };
  if (resetLoopDelay) loopDelay.reset();
  return result;
}

async function speak(staggerMs: number): Promise<SpeakStarted> {
  const t0 = performance.now();
  speakingSessions.length = 0;
  sendTimes.clear();
  speakingDone = 0;
  const sessions = gateway.list().filter((s) => s.state !== 'awaiting_hello' && s.state !== 'closed');
  sessions.forEach((session, i) => {
    speakingSessions.push(session);
    const ws = socketOf(session);
    if (ws) sendTimes.set(ws, { times: new Float64Array(speechFrames.length + 16), count: 0 });
    session.once('speaking-done', () => {
      speakingDone++;
    });
    const start = () => {
      // The same Buffers for every session: the pacer never copies or mutates them.
      session.queueOpus(speechFrames, session.turn);
      session.finishSpeaking(session.turn);
    };
    if (staggerMs > 0) setTimeout(start, (i * staggerMs) / sessions.length);
    else start();
  });
  // queueOpus/finishSpeaking run in the session's promise chain: wait until those microtasks ran.
  await new Promise<void>((resolve) => setImmediate(resolve));
  return { sessions: speakingSessions.length, startMs: performance.now() - t0 };
}

function sendGaps(skipFrames: number): SendGaps {
  const gaps: number[] = [];
  for (const { times, count } of sendTimes.values()) {
    for (let i = Math.max(1, skipFrames); i < count; i++) gaps.push(times[i]! - times[i - 1]!);
  }
  const p = percentiles(gaps);
  return { available: sendTimes.size > 0, count: p.count, p50: p.p50, p90: p.p90, p99: p.p99, max: p.max, over65: gaps.filter((g) => g > 65).length };
}

function pacerSummary(): PacerSummary {
  let framesSent = 0;
  let underruns = 0;
  const late: number[] = [];
  for (const s of speakingSessions) {
    framesSent += s.pacerStats.framesSent;
    underruns += s.pacerStats.underruns;
    late.push(s.pacerStats.maxLateMs);
  }
  const p = percentiles(late);
  return { sessions: speakingSessions.length, framesSent, underruns, maxLateMs: { p50: p.p50, p99: p.p99, max: p.max }, speakingDone };
}

async function handle(command: BenchCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'mem':
      return memory();
    case 'stats':
      return stats(command.resetLoopDelay === true);
    case 'prepare-speech': {
      const speech = await speechOpusFrames({ sampleRateHz: gateway.options.downlink.sampleRateHz, frameMs: gateway.options.downlink.frameMs, frameCount: command.frameCount });
      speechFrames = speech.frames;
      return { frames: speech.frames.length, source: speech.source, meanBytes: speech.meanBytes } satisfies SpeechPrepared;
    }
    case 'speak':
      return speak(command.staggerMs);
    case 'send-gaps':
      return sendGaps(command.skipFrames);
    case 'pacer-stats':
      return pacerSummary();
    case 'shutdown':
      await gateway.close();
      setTimeout(() => process.exit(0), 50);
      return { closed: true };
  }
}

process.on('message', (raw: unknown) => {
  const command = raw as BenchCommand;
  handle(command).then(
    (result) => send({ id: command.id, ok: true, result }),
    (error: unknown) => send({ id: command.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
// Never outlive the benchmark (crash, Ctrl-C, watchdog).
process.on('disconnect', () => process.exit(0));

gateway.start().then(
  () => send({ type: 'ready', port: gateway.port, pid: process.pid }),
  (error: unknown) => {
    process.stderr.write(`gateway failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
