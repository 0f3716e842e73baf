/**
 * The standalone runner (dist/scripts/start.js: embedded Node-RED with our nodes) as a child
 * process of the benchmark: its own data dir and loopback ports, a generated flow, and a stop that
 * always ends it (SIGTERM, then SIGKILL after a grace period).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlowNode, ProbeRow } from './flows';
import { PROBE_PATH } from './flows';

/** Error of the benchmark harness (hub did not start, probe unreachable...). */
export class BenchHarnessError extends Error {
  constructor(
    readonly code: 'runner_missing' | 'hub_start' | 'hub_exit' | 'http',
    message: string,
  ) {
    super(message);
    this.name = 'BenchHarnessError';
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let clockTicksPerSecond: number | undefined;

/** Kernel clock ticks per second (the unit of utime/stime in /proc/<pid>/stat). */
function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const value = Number(out.stdout?.trim());
    clockTicksPerSecond = Number.isFinite(value) && value > 0 ? value : 100;
  }
  return clockTicksPerSecond;
}

/** CPU seconds (user + system, all threads) a process has used, from /proc/<pid>/stat; NaN if unreadable. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces): utime is field 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** Resident set size of a process in MiB; NaN if unreadable. */
export function processRssMiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Options of startHub. */
export interface HubOptions {
  flow: FlowNode[];
  /** Extra environment (XIAOZHI_LLM_BASE_URL...). */
  env?: Record<string, string>;
  /** Runner script; default <cwd>/dist/scripts/start.js (the build the package ships). */
  runner?: string;
  startTimeoutMs?: number;
}

/** A running hub. */
export class Hub {
  private stopped = false;

  private constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    readonly devicePort: number,
    readonly editorPort: number,
    private readonly dataDir: string,
    private readonly output: () => string,
  ) {}

  /** Spawn the runner with `flow` and wait until the flows started and the device server listens. */
  static async start(options: HubOptions): Promise<Hub> {
    const runner = options.runner ?? join(process.cwd(), 'dist', 'scripts', 'start.js');
    if (!existsSync(runner)) throw new BenchHarnessError('runner_missing', `${runner} is missing: run npm run build first`);
    const dataDir = mkdtempSync(join(tmpdir(), 'xiaozhi-bench-pipeline-'));
    const flowFile = join(dataDir, 'bench-flow.json');
    writeFileSync(flowFile, JSON.stringify(options.flow, null, 2));
    const [editorPort, devicePort, mqttPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, [runner, '--data', dataDir, '--flow', flowFile], {
      env: {
        ...process.env,
        NODE_RED_PORT: String(editorPort),
        XIAOZHI_PORT: String(devicePort),
        XIAOZHI_MQTT_PORT: String(mqttPort),
        XIAOZHI_PUBLIC_URL: '',
        XIAOZHI_LLM_BASE_URL: '',
        OPENAI_BASE_URL: '',
        XIAOZHI_LOG_LEVEL: 'warn',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    // Keep only the tail: a long run must not grow the benchmark's memory.
    const append = (d: Buffer): void => {
      out = (out + d.toString()).slice(-20_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const hub = new Hub(child, child.pid ?? -1, devicePort, editorPort, dataDir, () => out);
    const deadline = Date.now() + (options.startTimeoutMs ?? 40_000);
    // The runner prints its banner after RED.start(); the device server then listens. Poll the OTA path.
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        await hub.stop();
        throw new BenchHarnessError('hub_exit', `the hub exited during start (${child.exitCode ?? child.signalCode}):\n${out.slice(-3000)}`);
      }
      if (/xiaozhi voice hub is running/.test(out) && (await hub.reachable())) break;
      if (Date.now() > deadline) {
        await hub.stop();
        throw new BenchHarnessError('hub_start', `the hub did not start within ${options.startTimeoutMs ?? 40_000} ms:\n${out.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    return hub;
  }

  /** The hub's console output so far (tail). */
  log(): string {
    return this.output();
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.devicePort}/xiaozhi/v1/`;
  }

  get otaUrl(): string {
    return `http://127.0.0.1:${this.devicePort}/xiaozhi/ota/`;
  }

  private async reachable(): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.devicePort}/metrics`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return true;
    } catch {
      return false;
    }
  }

  /** CPU seconds the hub process has used so far. */
  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
  }

  rssMiB(): number {
    return processRssMiB(this.pid);
  }

  /** Prometheus text from the gateway port ('' when the endpoint is off or fails). */
  async metrics(): Promise<string> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.devicePort}/metrics`, { signal: AbortSignal.timeout(10_000) });
      return res.ok ? await res.text() : '';
    } catch {
      return '';
    }
  }

  /** Records of the probe; `reset` clears them in the hub. */
  async probeRows(reset = false): Promise<ProbeRow[]> {
    const url = `http://127.0.0.1:${this.editorPort}/api${PROBE_PATH}${reset ? '?reset=1' : ''}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    if (!res.ok) throw new BenchHarnessError('http', `GET ${url}: HTTP ${res.status}`);
    return (await res.json()) as ProbeRow[];
  }

  /** End the hub (SIGTERM, SIGKILL after `graceMs`) and remove its data dir. Safe to call twice. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Immediate SIGKILL (watchdog, signals); no await. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Value of a Prometheus sample `name{labels}` from text exposition; undefined if absent. */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const key = line.slice(0, space);
    if (key === `${name}${labels}`) return Number(line.slice(space + 1));
  }
  return undefined;
}
