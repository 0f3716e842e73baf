#!/usr/bin/env node
/**
 * Gateway benchmark: memory per idle device, hello latency, CPU per uplink stream (Opus decode
 * included) and downlink pacing quality with many sessions speaking at once.
 *
 * The gateway runs in a forked child (lib/gateway-server.ts) so its RSS and CPU are measured apart
 * from the load generator (this process). Clients connect to 127.0.0.1 only. Every loop is bounded
 * in count and time, and a watchdog ends the run (printing what was measured) after --budget s.
 *
 *   npm run bench:gateway -- [--idle 1000,5000] [--speaking 500] [--uplink 200] [--seconds 10]
 *                            [--loaded-hellos 200] [--batch 200] [--budget 230] [--out FILE] [--quick]
 *                            [--nice=-10] [--server-prof DIR]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setPriority } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { BenchClient, type HelloTiming } from './lib/bench-client';
import { ServerProcess } from './lib/server-process';
import type { PacerSummary, SendGaps, ServerStats } from './lib/gateway-ipc';
import { speechOpusFrames, type SpeechFrames } from './lib/speech-frames';
import { fmt, machineFacts, openFileLimit, percentileOf, percentiles } from './lib/stats';
import { DEFAULT_GATEWAY_OPTIONS } from '../../src/gateway/options';
import { OpusFrameDecoder } from '../../src/audio/opus';

const FRAME_MS = 60;
const KB = 1024;
const MB = 1024 * 1024;

interface Config {
  idleLevels: number[];
  speaking: number;
  uplink: number;
  seconds: number;
  loadedHellos: number;
  batch: number;
  budgetS: number;
  out: string;
  quick: boolean;
  /** Write a V8 CPU profile of every server child into this directory. */
  serverProfileDir: string | undefined;
  /** Scheduling priority (nice) for this process and the server; undefined = leave as is. */
  nice: number | undefined;
}

function usage(): string {
  return [
    'Usage: npm run bench:gateway -- [options]',
    '  --idle 1000,5000     idle device counts (RSS per device, hello latency during the ramp)',
    '  --speaking 500       sessions speaking at once (downlink frame gaps)',
    '  --uplink 200         clients streaming 60 ms Opus uplink (CPU per stream)',
    '  --seconds 10         length of the uplink stream and of the downlink speech',
    '  --loaded-hellos 200  sequential hellos measured on the loaded server',
    '  --batch 200          connections opened at once during a ramp',
    '  --budget 230         watchdog: stop (and print what was measured) after this many seconds',
    '  --out FILE           Markdown report (default bench-results/gateway.md)',
    '  --quick              small run: idle 200,500, speaking 100, uplink 50, 3 s',
    '  --server-prof DIR    write a V8 CPU profile (.cpuprofile) of each gateway server into DIR',
    '  --nice=N             run server and load generator at this priority (-20..19; negative needs root),',
    '                       so other work on a shared machine disturbs the timing figures less',
  ].join('\n');
}

function readConfig(): Config {
  const { values } = parseArgs({
    options: {
      idle: { type: 'string' },
      speaking: { type: 'string' },
      uplink: { type: 'string' },
      seconds: { type: 'string' },
      'loaded-hellos': { type: 'string' },
      batch: { type: 'string' },
      budget: { type: 'string' },
      out: { type: 'string' },
      'server-prof': { type: 'string' },
      nice: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const quick = values.quick === true;
  const int = (name: string, raw: string | undefined, fallback: number, min: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be an integer >= ${min}, got "${raw}"`);
    return n;
  };
  const intInRange = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`--${name} must be an integer ${min}..${max}, got "${raw}"`);
    return n;
  };
  const idleLevels = (values.idle ?? (quick ? '200,500' : '1000,5000'))
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => int('idle', s.trim(), 0, 1))
    .sort((a, b) => a - b);
  return {
    idleLevels,
    speaking: int('speaking', values.speaking, quick ? 100 : 500, 0),
    uplink: int('uplink', values.uplink, quick ? 50 : 200, 0),
    seconds: int('seconds', values.seconds, quick ? 3 : 10, 1),
    loadedHellos: int('loaded-hellos', values['loaded-hellos'], quick ? 50 : 200, 0),
    batch: int('batch', values.batch, 200, 1),
    budgetS: int('budget', values.budget, 230, 10),
    out: values.out ?? 'bench-results/gateway.md',
    quick,
    serverProfileDir: values['server-prof'],
    nice: values.nice === undefined ? undefined : intInRange('nice', values.nice, -20, 19),
  };
}

// ----------------------------------------------------------------------------------------------
// Helpers
// ----------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
let nextDeviceIndex = 0;
/** Servers alive right now, for the watchdog and signal handlers. */
const liveServers = new Set<ServerProcess>();

interface RampResult {
  clients: BenchClient[];
  timings: HelloTiming[];
  failures: number;
  firstError: string;
  wallMs: number;
}

/** Open `count` clients, `batch` at a time (all of a batch in flight together). */
async function ramp(url: string, count: number, batch: number): Promise<RampResult> {
  const result: RampResult = { clients: [], timings: [], failures: 0, firstError: '', wallMs: 0 };
  const t0 = performance.now();
  for (let done = 0; done < count; done += batch) {
    const size = Math.min(batch, count - done);
    const settled = await Promise.allSettled(Array.from({ length: size }, () => BenchClient.open(url, nextDeviceIndex++, 20_000)));
    let batchFailures = 0;
    for (const s of settled) {
      if (s.status === 'fulfilled') {
        result.clients.push(s.value.client);
        result.timings.push(s.value.timing);
      } else {
        batchFailures++;
        result.firstError ||= s.reason instanceof Error ? s.reason.message : String(s.reason);
      }
    }
    result.failures += batchFailures;
    // A whole batch failing means the server is gone or out of descriptors: stop here.
    if (batchFailures === size) break;
  }
  result.wallMs = performance.now() - t0;
  return result;
}

/** Hellos one after another on a loaded server: latency without self-inflicted queueing. */
async function sequentialHellos(url: string, count: number): Promise<{ clients: BenchClient[]; timings: HelloTiming[]; failures: number }> {
  const out = { clients: [] as BenchClient[], timings: [] as HelloTiming[], failures: 0 };
  for (let i = 0; i < count; i++) {
    try {
      const { client, timing } = await BenchClient.open(url, nextDeviceIndex++, 10_000);
      out.clients.push(client);
      out.timings.push(timing);
    } catch {
      out.failures++;
      if (out.failures > 10) break;
    }
  }
  return out;
}

function terminateAll(clients: BenchClient[]): void {
  for (const c of clients) c.terminate();
}

let serverProfileDir: string | undefined;
let serverNice: number | undefined;

/** Set a process's nice value; false when not permitted (negative values need root). */
function trySetPriority(pid: number, nice: number): boolean {
  try {
    setPriority(pid, nice);
    return true;
  } catch {
    return false;
  }
}

/** Set the nice value of this process's scheduler autogroup; returns the previous one, or undefined. */
function setAutogroupNice(nice: number): { previous: number } | undefined {
  try {
    const match = /nice\s+(-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'));
    if (!match) return undefined;
    writeFileSync('/proc/self/autogroup', String(nice));
    return { previous: Number(match[1]) };
  } catch {
    return undefined;
  }
}

async function startServer(): Promise<ServerProcess> {
  const server = await ServerProcess.start({ cpuProfileDir: serverProfileDir });
  liveServers.add(server);
  if (serverNice !== undefined) trySetPriority(server.pid, serverNice);
  return server;
}

async function stopServer(server: ServerProcess): Promise<void> {
  await server.stop();
  liveServers.delete(server);
}

const cpuSeconds = (a: { cpuUserUs: number; cpuSystemUs: number }, b: { cpuUserUs: number; cpuSystemUs: number }) =>
  (b.cpuUserUs + b.cpuSystemUs - a.cpuUserUs - a.cpuSystemUs) / 1e6;

/** "p50 / p99" cell. */
const pp = (values: number[], digits = 1) => {
  const p = percentiles(values);
  return `${fmt(p.p50, digits)} / ${fmt(p.p99, digits)}`;
};

/**
 * Make sure this process can hold `need` descriptors. Node raises its soft limit to the hard limit
 * at start; if the hard limit is too low, root can raise it with prlimit(1) on the live process.
 */
function ensureFdLimit(need: number, notes: string[]): string {
  const before = openFileLimit();
  if (!before) return 'unknown (no /proc)';
  if (before.soft >= need) return `${before.soft} (need ~${need}): ok`;
  const target = Math.max(need, 65_536);
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${target}`], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // Not root or no prlimit: reported below.
  }
  const after = openFileLimit();
  if (after && after.soft >= need) return `${before.soft} raised to ${after.soft} with prlimit (need ~${need})`;
  notes.push(`Open-file limit ${after?.soft ?? before.soft} is below the ~${need} this run needs: large levels will fail to connect. Raise it (ulimit -n, or prlimit as root) and rerun.`);
  return `${after?.soft ?? before.soft} (need ~${need}): TOO LOW`;
}

// ----------------------------------------------------------------------------------------------
// Phases
// ----------------------------------------------------------------------------------------------

interface Report {
  header: string[];
  sections: string[];
  notes: string[];
}

async function idlePhase(cfg: Config, speech: SpeechFrames, report: Report): Promise<void> {
  const server = await startServer();
  const clients: BenchClient[] = [];
  try {
    const childLimit = openFileLimit(server.pid);
    report.header.push(`- Server (child) open-file limit: ${childLimit ? childLimit.soft : 'unknown'}`);
    // Warm-up: the first sessions pay for lazy code loading and JIT; leave that out of per-device RSS.
    const warm = await ramp(server.url, Math.min(100, cfg.idleLevels[0] ?? 100), cfg.batch);
    terminateAll(warm.clients);
    await server.waitFor((s) => s.sessions === 0, 10_000);
    const base = await server.memory();
    const memRows: string[] = [];
    const latRows: string[] = [];
    for (const level of cfg.idleLevels) {
      const add = level - clients.length;
      if (add <= 0) continue;
      const r = await ramp(server.url, add, cfg.batch);
      clients.push(...r.clients);
      const settled = await server.waitFor((s) => s.helloSessions >= clients.length, 10_000);
      const mem = await server.memory();
      const n = clients.length;
      const perDevice = (bytes: number) => fmt(bytes / n / KB, 1);
      const rssPerDeviceKb = (mem.rssBytes - base.rssBytes) / n / KB;
      memRows.push(
        `| ${level} | ${n}${r.failures > 0 ? ` (${r.failures} failed: ${r.firstError})` : ''} | ${fmt(base.rssBytes / MB)} | ${fmt(mem.rssBytes / MB)} | ` +
          `**${fmt(rssPerDeviceKb)}** | ${perDevice(mem.heapUsedBytes - base.heapUsedBytes)} | ${perDevice(mem.externalBytes - base.externalBytes)} | ` +
          `${rssPerDeviceKb <= 100 && r.failures === 0 ? 'yes' : 'NO'} |`,
      );
      if (!settled.ok) report.notes.push(`Idle ${level}: server saw only ${settled.stats.helloSessions} hellos of ${n} clients.`);
      const loaded = await sequentialHellos(server.url, cfg.loadedHellos);
      terminateAll(loaded.clients);
      await server.waitFor((s) => s.sessions === clients.length, 10_000);
      latRows.push(
        `| ${level} | ${fmt(r.wallMs / 1000, 2)} | ${fmt((r.clients.length / r.wallMs) * 1000, 0)} | ${pp(r.timings.map((t) => t.connectMs))} | ` +
          `${pp(r.timings.map((t) => t.helloMs))} | ${pp(loaded.timings.map((t) => t.connectMs), 2)} | ${pp(loaded.timings.map((t) => t.helloMs), 2)}` +
          `${loaded.failures > 0 ? ` (${loaded.failures} failed)` : ''} |`,
      );
      if (r.failures > 0 && r.clients.length === 0) break;
    }
    // Devices that have spoken once: a session creates its Opus decoder on the first uplink frame
    // and keeps it while connected. One frame from every client, in slices so no burst floods.
    if (clients.length > 0) {
      const s0 = await server.stats();
      for (let i = 0; i < clients.length; i++) {
        clients[i]!.sendBinary(speech.frames[i % speech.frames.length]!);
        if (i % 500 === 499) await sleep(10);
      }
      const decoded = await server.waitFor((s) => s.framesIn - s0.framesIn >= clients.length, 15_000);
      const mem = await server.memory();
      const n = clients.length;
      const rssPerDeviceKb = (mem.rssBytes - base.rssBytes) / n / KB;
      memRows.push(
        `| ${n}, each after 1 uplink frame (decoder kept) | ${n}${decoded.ok ? '' : ` (${decoded.stats.framesIn - s0.framesIn} frames decoded)`} | ${fmt(base.rssBytes / MB)} | ${fmt(mem.rssBytes / MB)} | ` +
          `**${fmt(rssPerDeviceKb)}** | ${fmt((mem.heapUsedBytes - base.heapUsedBytes) / n / KB)} | ${fmt((mem.externalBytes - base.externalBytes) / n / KB)} | ${rssPerDeviceKb <= 100 ? 'yes' : 'NO'} |`,
      );
    }
    const decoderKb = decoderMemoryKb(speech.frames[0]!);
    report.sections.push(
      [
        '## 1. RSS per idle connected device',
        '',
        `Server RSS after N clients connected and said hello, after gc() twice, minus the baseline with 0 clients (measured after a warm-up of 100 connections, so lazy loading and JIT are not charged to devices). Clients send \`features.mcp: false\` (no tool list held per session). Target: ≥ 5,000 idle devices at ≤ 100 KB each.`,
        '',
        '| devices | connected | baseline RSS MB | RSS MB | **RSS / device KB** | JS heap / device KB | external / device KB | ≤ 100 KB |',
        '|---:|---:|---:|---:|---:|---:|---:|:-:|',
        ...memRows,
        '',
        `The last row is the same devices after each sent one 60 ms Opus frame: the session then holds an Opus decoder until it disconnects. One decoder alone costs ${fmt(decoderKb, 1)} KB RSS (1,000 created and used once in the load generator process); the native binding also keeps a 11.5 KB output buffer per instance (6 × 960 samples), included in that figure.`,
      ].join('\n'),
    );
    report.sections.push(
      [
        '## 2. Hello latency',
        '',
        `Ramp: ${cfg.batch} connections in flight at once (each: TCP + WebSocket upgrade, then hello sent on open; hello = client hello sent -> server hello received). Loaded: ${cfg.loadedHellos} further clients one after another on the server holding the idle devices (then closed again).`,
        '',
        '| idle devices | ramp s | connects/s | ramp connect p50 / p99 ms | **ramp hello p50 / p99 ms** | loaded connect p50 / p99 ms | **loaded hello p50 / p99 ms** |',
        '|---:|---:|---:|---:|---:|---:|---:|',
        ...latRows,
      ].join('\n'),
    );
  } finally {
    terminateAll(clients);
    await stopServer(server);
  }
}

/** CPU µs of one Opus decode of these frames, measured here (before the server starts). */
function decodeCostUs(speech: SpeechFrames, decodes = 3000): number {
  const decoder = new OpusFrameDecoder(16000);
  for (let i = 0; i < 200; i++) decoder.decode(speech.frames[i % speech.frames.length]!);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < decodes; i++) decoder.decode(speech.frames[i % speech.frames.length]!);
  const used = process.cpuUsage(cpu0);
  return (used.user + used.system) / decodes;
}

/** RSS of one OpusFrameDecoder that has decoded a frame (1,000 made here, in this process). */
function decoderMemoryKb(frame: Buffer, count = 1000): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().rss;
  const decoders: OpusFrameDecoder[] = [];
  for (let i = 0; i < count; i++) {
    const decoder = new OpusFrameDecoder(16000);
    decoder.decode(frame);
    decoders.push(decoder);
  }
  gc?.();
  const kb = (process.memoryUsage().rss - before) / count / KB;
  decoders.length = 0;
  return kb;
}

async function uplinkPhase(cfg: Config, speech: SpeechFrames, report: Report): Promise<void> {
  const n = cfg.uplink;
  const decodeUs = decodeCostUs(speech);
  const server = await startServer();
  let clients: BenchClient[] = [];
  try {
    const r = await ramp(server.url, n, cfg.batch);
    clients = r.clients;
    if (clients.length === 0) throw new Error(`uplink: no client connected (${r.firstError})`);
    for (const c of clients) c.sendJson({ type: 'listen', state: 'start', mode: 'auto' });
    await sleep(300);
    // Idle cost of the same sessions over 2 s (housekeeping timers), to show it is negligible.
    const idle0 = await server.stats();
    await sleep(2000);
    const idle1 = await server.stats();
    const idleCpuPct = (cpuSeconds(idle0, idle1) / 2) * 100;

    // 12 phase groups, 5 ms apart: real devices are not in lock-step on the 60 ms clock.
    const groups = 12;
    const stepMs = FRAME_MS / groups;
    const framesPerClient = Math.round((cfg.seconds * 1000) / FRAME_MS);
    const totalSteps = framesPerClient * groups;
    const s0 = await server.stats(true);
    const parentCpu0 = process.cpuUsage();
    let sent = 0;
    let maxSendLateMs = 0;
    const t0 = performance.now() + 20;
    const wallLimitMs = cfg.seconds * 1000 + 10_000;
    await new Promise<void>((resolve) => {
      let step = 0;
      const tick = () => {
        const now = performance.now();
        while (step < totalSteps && t0 + step * stepMs <= now) {
          maxSendLateMs = Math.max(maxSendLateMs, now - (t0 + step * stepMs));
          const group = step % groups;
          const k = Math.floor(step / groups);
          for (let i = group; i < clients.length; i += groups) {
            if (clients[i]!.sendBinary(speech.frames[(i + k) % speech.frames.length]!)) sent++;
          }
          step++;
        }
        if (step >= totalSteps || now - t0 > wallLimitMs) resolve();
        else setTimeout(tick, Math.max(0, t0 + step * stepMs - performance.now()));
      };
      setTimeout(tick, 20);
    });
    const streamWallS = (performance.now() - t0) / 1000;
    const drained = await server.waitFor((s) => s.framesIn - s0.framesIn >= sent, 10_000);
    const s1 = drained.stats;
    const parentCpu = process.cpuUsage(parentCpu0);
    const decoded = s1.framesIn - s0.framesIn;
    const cpuS = cpuSeconds(s0, s1);
    const audioS = (framesPerClient * FRAME_MS) / 1000;
    const perStreamPct = (cpuS / (clients.length * audioS)) * 100;
    const usPerFrame = decoded > 0 ? (cpuS * 1e6) / decoded : Number.NaN;
    report.sections.push(
      [
        '## 3. CPU per uplink stream (Opus decode included)',
        '',
        `${clients.length} clients in \`listen start\` (auto), each sending one real 60 ms 16 kHz Opus packet (${speech.frames.length} distinct frames of ${speech.source}, mean ${fmt(speech.meanBytes, 0)} bytes) per 60 ms for ${fmt(audioS, 1)} s, spread over ${groups} phase groups 5 ms apart. The gateway decodes every frame to PCM (decodeUplink) and emits it as an 'audio' event to a counting listener. Server CPU = user + system of the child process from the first frame sent until the last was decoded.`,
        '',
        '| streams | frames sent | frames decoded | dropped / bad | server CPU s | µs CPU / frame | **% of a core / stream** | **streams / core** | server loop delay p99 ms | idle CPU (same sessions) |',
        '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
        `| ${clients.length} | ${sent} | ${decoded} | ${s1.droppedMessages} / ${s1.badFrames} | ${fmt(cpuS, 2)} | ${fmt(usPerFrame, 0)} | **${fmt(perStreamPct, 3)}** | **${fmt(100 / perStreamPct, 0)}** | ${fmt(s1.loopDelayMs.p99, 1)} | ${fmt(idleCpuPct, 2)} % |`,
        '',
        `Where the time goes: Opus decode alone of the same frames costs ${fmt(decodeUs, 0)} µs (measured in the load generator before the server started), i.e. ${fmt((decodeUs / usPerFrame) * 100, 0)} % of the server's ${fmt(usPerFrame, 0)} µs per frame; the rest is the socket read (one wakeup per few frames), WebSocket parsing, framing and the 'audio' event.`,
        '',
        `Load generator: stream took ${fmt(streamWallS, 1)} s wall, its own CPU ${fmt((parentCpu.user + parentCpu.system) / 1e6, 2)} s, worst send lateness ${fmt(maxSendLateMs, 1)} ms.`,
      ].join('\n'),
    );
    if (!drained.ok) report.notes.push(`Uplink: only ${decoded} of ${sent} frames were decoded within 10 s after the stream ended.`);
  } finally {
    terminateAll(clients);
    await stopServer(server);
  }
}

/** Figures of one downlink run (one fresh server, `speaking` sessions). */
interface DownlinkRun {
  label: string;
  sessions: number;
  framesReceived: number;
  framesExpected: number;
  complete: number;
  clients: number;
  skip: number;
  measuredBurst: number;
  gaps: ReturnType<typeof percentiles>;
  over65: number;
  /** Late gaps within the first second of each session (start-up of all sessions at once). */
  over65FirstSecond: number;
  /** Simulated device play-out: audio gaps (a frame arriving after the previous one finished). */
  playoutUnderruns: number;
  sessionsWithUnderrun: number;
  /** Device buffer left when each frame arrived (ms of audio still queued ahead of it). */
  bufferMargin: ReturnType<typeof percentiles>;
  bufferMarginP1: number;
  bufferMarginMin: number;
  /** Server time to start all sessions (speak command, microtasks included). */
  serverStartMs: number;
  send: SendGaps;
  stop: ReturnType<typeof percentiles>;
  missingStops: number;
  expectedStopMs: number;
  firstFrame: ReturnType<typeof percentiles>;
  serverCpuPct: number;
  serverLoop: ServerStats['loopDelayMs'];
  pacer: PacerSummary;
  parentCpuPct: number;
  parentLoopP99Ms: number;
  parentLoopMaxMs: number;
  speechSeconds: number;
  speechSource: string;
  speechMeanBytes: number;
}

async function downlinkRun(cfg: Config, staggerMs: number, label: string): Promise<DownlinkRun> {
  const server = await startServer();
  let clients: BenchClient[] = [];
  try {
    const frameCount = Math.round((cfg.seconds * 1000) / FRAME_MS);
    const prepared = await server.prepareSpeech(frameCount);
    const r = await ramp(server.url, cfg.speaking, cfg.batch);
    clients = r.clients;
    if (clients.length === 0) throw new Error(`downlink: no client connected (${r.firstError})`);
    for (const c of clients) c.record(prepared.frames + 16);
    await sleep(300);
    const s0 = await server.stats(true);
    const parentLoop = monitorEventLoopDelay({ resolution: 10 });
    parentLoop.enable();
    const parentCpu0 = process.cpuUsage();
    const t0 = performance.now();
    const started = await server.speak(staggerMs);
    const deadline = Date.now() + cfg.seconds * 1000 + staggerMs + 20_000;
    while (Date.now() < deadline && clients.some((c) => c.ttsStopMs < 0 && !c.closed)) await sleep(100);
    const wallS = (performance.now() - t0) / 1000;
    const s1 = await server.stats();
    const parentCpu = process.cpuUsage(parentCpu0);
    parentLoop.disable();
    const pacer = await server.pacerStats();
    const { prerollFrames, stopMarginMs } = DEFAULT_GATEWAY_OPTIONS.downlink;
    const send = await server.sendGaps(prerollFrames);

    // The pre-roll goes out in one burst; gaps inside it say nothing about pacing. The burst size is
    // also measured (frames within 20 ms of the first), so a pacer change shows up in the report.
    const burstSizes: number[] = [];
    const gaps: number[] = [];
    const stopDelays: number[] = [];
    const firstFrameMs: number[] = [];
    let complete = 0;
    let framesReceived = 0;
    let missingStops = 0;
    let over65FirstSecond = 0;
    let playoutUnderruns = 0;
    let sessionsWithUnderrun = 0;
    const margins: number[] = [];
    const firstSecondFrames = Math.ceil(1000 / FRAME_MS);
    for (const c of clients) {
      const t = c.frameTimesMs!;
      framesReceived += c.frameCount;
      if (c.frameCount === prepared.frames) complete++;
      if (c.frameCount > 0) {
        firstFrameMs.push(t[0]! - t0);
        let k = 0;
        while (k < c.frameCount && t[k]! - t[0]! < 20) k++;
        burstSizes.push(k);
      }
      for (let i = prerollFrames; i < c.frameCount; i++) {
        const gap = t[i]! - t[i - 1]!;
        gaps.push(gap);
        if (gap > 65 && i < firstSecondFrames) over65FirstSecond++;
      }
      // Device model: each frame plays on arrival or as soon as the previous one has finished.
      let playEndMs = c.frameCount > 0 ? t[0]! + FRAME_MS : 0;
      let underruns = 0;
      for (let i = 1; i < c.frameCount; i++) {
        const margin = playEndMs - t[i]!;
        // Pre-roll frames arrive while the device buffer is still filling: only paced frames count.
        if (i >= prerollFrames) margins.push(margin);
        if (margin < 0) underruns++;
        playEndMs = Math.max(playEndMs, t[i]!) + FRAME_MS;
      }
      playoutUnderruns += underruns;
      if (underruns > 0) sessionsWithUnderrun++;
      if (c.ttsStopMs >= 0 && c.frameCount > 0) stopDelays.push(c.ttsStopMs - t[c.frameCount - 1]!);
      else missingStops++;
    }
    const measuredBurst = percentiles(burstSizes).p50;
    return {
      label,
      sessions: started.sessions,
      framesReceived,
      framesExpected: prepared.frames * clients.length,
      complete,
      clients: clients.length,
      skip: prerollFrames,
      measuredBurst,
      gaps: percentiles(gaps),
      over65: gaps.filter((x) => x > 65).length,
      over65FirstSecond,
      playoutUnderruns,
      sessionsWithUnderrun,
      bufferMargin: percentiles(margins),
      bufferMarginP1: percentileOf(margins, 1),
      bufferMarginMin: margins.reduce((a, b) => Math.min(a, b), Infinity),
      serverStartMs: started.startMs,
      send,
      stop: percentiles(stopDelays),
      missingStops,
      expectedStopMs: measuredBurst * FRAME_MS + stopMarginMs,
      firstFrame: percentiles(firstFrameMs),
      serverCpuPct: (cpuSeconds(s0, s1) / wallS) * 100,
      serverLoop: s1.loopDelayMs,
      pacer,
      parentCpuPct: ((parentCpu.user + parentCpu.system) / 1e6 / wallS) * 100,
      parentLoopP99Ms: Math.max(0, parentLoop.percentile(99) / 1e6 - 10),
      parentLoopMaxMs: Math.max(0, parentLoop.max / 1e6 - 10),
      speechSeconds: (prepared.frames * FRAME_MS) / 1000,
      speechSource: prepared.source,
      speechMeanBytes: prepared.meanBytes,
    };
  } finally {
    terminateAll(clients);
    await stopServer(server);
  }
}

function minOf(r: DownlinkRun): number {
  return r.bufferMargin.count > 0 ? r.bufferMarginMin : Number.NaN;
}

async function downlinkPhase(cfg: Config, report: Report): Promise<void> {
  const runs: DownlinkRun[] = [];
  let failure: unknown;
  for (const [staggerMs, label] of [
    [0, 'all start in the same ms'],
    [FRAME_MS, `starts spread over ${FRAME_MS} ms`],
  ] as const) {
    try {
      runs.push(await downlinkRun(cfg, staggerMs, label));
    } catch (error) {
      failure ??= error;
    }
  }
  const first = runs[0];
  if (first) {
    const pct = (part: number, whole: number) => (whole > 0 ? (part / whole) * 100 : Number.NaN);
    const stopMarginMs = DEFAULT_GATEWAY_OPTIONS.downlink.stopMarginMs;
    report.sections.push(
      [
        `## 4. Downlink frame gaps with ${cfg.speaking} sessions speaking at once`,
        '',
        `On one IPC command the server makes every session \`queueOpus\` ${fmt(first.speechSeconds, 1)} s of pre-encoded 24 kHz 60 ms frames (${first.speechSource}, mean ${fmt(first.speechMeanBytes, 0)} bytes, the same Buffers for all) and \`finishSpeaking\`. Two runs, each on a fresh server: all sessions starting in the same millisecond (worst case: every pacer fires on the same tick), and starts spread evenly over one frame (closer to real devices, whose answers never start together). Clients stamp each binary frame on arrival; gaps are between consecutive frames of a session, leaving out the first ${first.skip} frames of each (the pre-roll; measured burst: ${fmt(first.measuredBurst, 0)} frames within 20 ms). "Server send" gaps are the same, stamped in the gateway process as each frame is handed to the socket.`,
        '',
        '| start | sessions | frames received / expected | gap p50 ms | p90 ms | p99 ms | max ms | **gaps > 65 ms** | of which in 1st second | target ≤ 1 % | server send gap p99 / max ms | server send gaps > 65 ms |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|',
        ...runs.map((r) => {
          const share = pct(r.over65, r.gaps.count);
          return (
            `| ${r.label} | ${r.sessions} | ${r.framesReceived} / ${r.framesExpected} | ${fmt(r.gaps.p50)} | ${fmt(r.gaps.p90)} | ${fmt(r.gaps.p99)} | ${fmt(r.gaps.max)} | ` +
            `**${fmt(share, 2)} %** (${r.over65} of ${r.gaps.count}) | ${r.over65FirstSecond} | ${share <= 1 ? 'yes' : 'NO'} | ` +
            (r.send.available ? `${fmt(r.send.p99)} / ${fmt(r.send.max)} | ${fmt(pct(r.send.over65, r.send.count), 2)} % |` : 'n/a | n/a |')
          );
        }),
        '',
        '| start | device buffer when a frame arrives p50 / p1 / min ms | play-out underruns (sessions) | server time to start all sessions ms | first frame after command p50 / p99 ms | tts stop after last frame p50 / p99 / max ms | expected ms | missing stops |',
        '|---|---:|---:|---:|---:|---:|---:|---:|',
        ...runs.map(
          (r) =>
            `| ${r.label} | ${fmt(r.bufferMargin.p50)} / ${fmt(r.bufferMarginP1)} / ${fmt(minOf(r))} | ${r.playoutUnderruns} (${r.sessionsWithUnderrun}) | ${fmt(r.serverStartMs)} | ${fmt(r.firstFrame.p50)} / ${fmt(r.firstFrame.p99)} | ${fmt(r.stop.p50)} / ${fmt(r.stop.p99)} / ${fmt(r.stop.max)} | ≈ ${fmt(r.expectedStopMs, 0)} (${fmt(r.measuredBurst, 0)} pre-roll frames still to play + ${stopMarginMs} ms margin) | ${r.missingStops} |`,
        ),
        '',
        '| start | server CPU % of a core | server loop delay p50 / p99 / max ms | pacer worst lateness per session p50 / p99 / max ms | pacer underruns | load generator CPU % of a core | load generator loop delay p99 / max ms |',
        '|---|---:|---:|---:|---:|---:|---:|',
        ...runs.map(
          (r) =>
            `| ${r.label} | ${fmt(r.serverCpuPct)} | ${fmt(r.serverLoop.p50)} / ${fmt(r.serverLoop.p99)} / ${fmt(r.serverLoop.max)} | ${fmt(r.pacer.maxLateMs.p50)} / ${fmt(r.pacer.maxLateMs.p99)} / ${fmt(r.pacer.maxLateMs.max)} | ${r.pacer.underruns} | ${fmt(r.parentCpuPct)} | ${fmt(r.parentLoopP99Ms)} / ${fmt(r.parentLoopMaxMs)} |`,
        ),
        '',
        'Device buffer: a simple device model plays each frame on arrival or right after the previous one; the margin is how much audio was still queued when a paced frame (after the pre-roll) arrived (negative = audible gap). A gap > 65 ms is only audible when it eats the whole pre-roll.',
        '',
        `The client-side gaps are measured in the load generator, which shares the ${machineFacts().cores} cores with the server: its own event-loop delay shows up in them. The server-send gaps and the pacer lateness are the gateway's own view. Loop delays are the extra delay of a 10 ms timer (the interval itself subtracted).`,
      ].join('\n'),
    );
  }
  if (failure) throw failure;
}

// ----------------------------------------------------------------------------------------------
// Main
// ----------------------------------------------------------------------------------------------

function render(report: Report, partial: string | undefined): string {
  const parts = [...report.header, '', ...report.sections.flatMap((s) => [s, ''])];
  if (report.notes.length > 0) parts.push('## Notes', '', ...report.notes.map((n) => `- ${n}`), '');
  if (partial) parts.push(`**Run incomplete: ${partial}**`, '');
  return parts.join('\n');
}

function emit(report: Report, cfg: Config, partial?: string): void {
  const text = render(report, partial);
  process.stdout.write(`${text}\n`);
  try {
    mkdirSync(dirname(cfg.out), { recursive: true });
    writeFileSync(cfg.out, text);
    process.stderr.write(`report written to ${cfg.out}\n`);
  } catch (error) {
    process.stderr.write(`could not write ${cfg.out}: ${(error as Error).message}\n`);
  }
}

async function main(): Promise<void> {
  const cfg = readConfig();
  serverProfileDir = cfg.serverProfileDir;
  const facts = machineFacts();
  const report: Report = { header: [], sections: [], notes: [] };
  const maxIdle = cfg.idleLevels[cfg.idleLevels.length - 1] ?? 0;
  const need = Math.max(maxIdle + cfg.loadedHellos, cfg.speaking, cfg.uplink) + 256;
  report.header.push(
    '# Gateway benchmark',
    '',
    `- Date: ${new Date().toISOString()}${cfg.quick ? ' (--quick)' : ''}`,
    `- CPU: ${facts.cpuModel}, ${facts.cores} cores; ${facts.platform}; Node ${facts.nodeVersion}`,
    `- Load average at start: ${facts.loadAverage} (other work on the machine skews CPU and timing figures)`,
    `- Gateway in a child process; clients in the parent on 127.0.0.1. **The load generator shares the same ${facts.cores} cores as the server.**`,
    `- Load-generator open-file limit: ${ensureFdLimit(need, report.notes)}`,
  );
  if (cfg.nice !== undefined) {
    const ok = trySetPriority(0, cfg.nice);
    if (ok) serverNice = cfg.nice;
    // With autogroup scheduling (Linux default on desktops and many servers) nice only ranks
    // processes within one session; the session's own weight is the autogroup's nice.
    const autogroup = setAutogroupNice(cfg.nice);
    report.header.push(
      ok
        ? `- Priority: server and load generator run at nice ${cfg.nice} (--nice)${autogroup ? `, and their scheduler autogroup too (was ${autogroup.previous}, restored at the end)` : ''}, ahead of other work on the machine`
        : `- Priority: could not set nice ${cfg.nice} (not permitted); running at the default priority`,
    );
    if (autogroup) process.once('exit', () => setAutogroupNice(autogroup.previous));
  }
  const startedAt = performance.now();
  let finished = false;
  const watchdog = setTimeout(() => {
    if (finished) return;
    for (const s of liveServers) s.kill();
    emit(report, cfg, `watchdog fired after ${cfg.budgetS} s`);
    process.exit(2);
  }, cfg.budgetS * 1000);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const s of liveServers) s.kill();
      emit(report, cfg, `interrupted by ${signal}`);
      process.exit(130);
    });
  }

  const phases: Array<[string, () => Promise<void>]> = [];
  // 50 distinct 60 ms 16 kHz uplink frames, encoded once and reused by every client.
  let uplinkSpeech: SpeechFrames | undefined;
  const speech16k = async () => (uplinkSpeech ??= await speechOpusFrames({ sampleRateHz: 16000, frameCount: 50 }));
  if (cfg.idleLevels.length > 0) phases.push(['idle', async () => idlePhase(cfg, await speech16k(), report)]);
  if (cfg.uplink > 0) phases.push(['uplink', async () => uplinkPhase(cfg, await speech16k(), report)]);
  if (cfg.speaking > 0) phases.push(['downlink', () => downlinkPhase(cfg, report)]);
  let failed = false;
  for (const [name, run] of phases) {
    const t = performance.now();
    process.stderr.write(`phase ${name}...\n`);
    try {
      await run();
    } catch (error) {
      failed = true;
      report.notes.push(`Phase ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    process.stderr.write(`phase ${name} done in ${fmt((performance.now() - t) / 1000, 1)} s\n`);
  }
  report.header.push(`- Load average at end: ${machineFacts().loadAverage}; total run ${fmt((performance.now() - startedAt) / 1000, 1)} s`);
  finished = true;
  clearTimeout(watchdog);
  emit(report, cfg);
  process.exitCode = failed ? 1 : 0;
}

main().catch((error: unknown) => {
  for (const s of liveServers) s.kill();
  process.stderr.write(`bench:gateway failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
