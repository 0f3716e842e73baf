/**
 * The two brokers under test, each in a process of its own: the hub's EmbeddedBroker in a forked
 * Node child (broker-child.ts) and Debian's Mosquitto from a temporary config file. Both listen on
 * a loopback port only; CPU time is read the same way for both, from /proc/<pid>/stat.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Percentiles } from '../lib/stats';
import type { FromBrokerChild, ToBrokerChild } from './broker-child';

/** Error of the broker processes, with a code. */
export class BenchBrokerError extends Error {
  constructor(
    readonly code: 'not_found' | 'start_failed' | 'child_error' | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'BenchBrokerError';
  }
}

let clockTicksPerSecond: number | undefined;

/** User + system CPU seconds a process has used so far (Linux /proc); NaN when unreadable. */
export function cpuSecondsOf(pid: number): number {
  clockTicksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may hold spaces): utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return Number.NaN;
  }
}

/** A broker under test. */
export interface BrokerUnderTest {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The hub's embedded broker in a forked child. */
export class EmbeddedBrokerProcess implements BrokerUnderTest {
  readonly name = 'embedded (aedes)';
  private readonly waiters = new Set<(message: FromBrokerChild) => void>();
  private progressListener: ((completed: number) => void) | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (message: FromBrokerChild) => {
      if (message.type === 'progress') this.progressListener?.(message.completed);
      else for (const waiter of [...this.waiters]) waiter(message);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Fork the child and wait for its broker to listen. */
  static async start(childScript: string, timeoutMs = 15_000): Promise<EmbeddedBrokerProcess> {
    const child = fork(childScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise<FromBrokerChild>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BenchBrokerError('timeout', 'embedded broker child did not start')), timeoutMs);
      child.once('message', (message: FromBrokerChild) => {
        clearTimeout(timer);
        resolve(message);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new BenchBrokerError('start_failed', `embedded broker child exited with ${code}`));
      });
    });
    if (ready.type !== 'ready') {
      child.kill();
      throw new BenchBrokerError('start_failed', `embedded broker child: ${ready.type === 'error' ? ready.message : ready.type}`);
    }
    return new EmbeddedBrokerProcess(child, ready.port);
  }

  private request<T extends FromBrokerChild['type']>(message: ToBrokerChild, expect: T, timeoutMs = 60_000): Promise<Extract<FromBrokerChild, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new BenchBrokerError('timeout', `embedded broker child did not answer ${message.type}`));
      }, timeoutMs);
      const waiter = (reply: FromBrokerChild): void => {
        if (reply.type !== expect && reply.type !== 'error') return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (reply.type === 'error') reject(new BenchBrokerError('child_error', reply.message));
        else resolve(reply as Extract<FromBrokerChild, { type: T }>);
      };
      this.waiters.add(waiter);
      this.child.send(message);
    });
  }

  /** Put `subscribers` handlers on the broker's in-process subscribe API; `onProgress` hears completed messages. */
  async subscribeInternal(runId: number, filter: string, subscribers: number, messages: number, onProgress: (completed: number) => void): Promise<void> {
    this.progressListener = onProgress;
    await this.request({ type: 'subscribe', runId, filter, subscribers, messages }, 'subscribed');
  }

  /** Stop the internal subscribers and fetch what they counted. */
  async endInternal(): Promise<{ delivered: number; duplicates: number; latencyMs: Percentiles; lastDeliveryNs: bigint }> {
    const reply = await this.request({ type: 'end' }, 'ended');
    this.progressListener = undefined;
    return { delivered: reply.delivered, duplicates: reply.duplicates, latencyMs: reply.latencyMs, lastDeliveryNs: BigInt(reply.lastDeliveryNs) };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'stop' } satisfies ToBrokerChild);
    else this.child.kill('SIGTERM');
    await waitExit(this.child, 5000);
  }
}

/** A free loopback TCP port (closed again before it is returned; Mosquitto binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Options of {@link MosquittoProcess.start}. */
export interface MosquittoOptions {
  binary?: string;
  /** Mosquitto's `set_tcp_nodelay` (default false, as Mosquitto ships). */
  tcpNoDelay?: boolean;
  /** Mosquitto's `max_queued_messages` per client; unset keeps Mosquitto's default (1000). */
  maxQueuedMessages?: number;
}

/** Debian's Mosquitto with a temporary config: one loopback listener, anonymous, no persistence. */
export class MosquittoProcess implements BrokerUnderTest {
  readonly name = 'mosquitto';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
    readonly config: string,
    private readonly stderr: () => string,
    private readonly counters: { dropped: number },
  ) {}

  /** How many times Mosquitto logged "Outgoing messages are being dropped" so far. */
  get dropNotices(): number {
    return this.counters.dropped;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** `mosquitto version x.y.z`, or undefined when the binary is missing. */
  static version(binary = '/usr/sbin/mosquitto'): string | undefined {
    const out = spawnSync(binary, ['-h'], { encoding: 'utf8' });
    if (out.error) return undefined;
    return /mosquitto version [\w.]+/.exec(`${out.stdout}${out.stderr}`)?.[0];
  }

  static async start(options: MosquittoOptions = {}, timeoutMs = 10_000): Promise<MosquittoProcess> {
    const binary = options.binary ?? '/usr/sbin/mosquitto';
    if (!MosquittoProcess.version(binary)) throw new BenchBrokerError('not_found', `${binary} not found (apt-get install mosquitto)`);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'bench-home-mosquitto-'));
    const config = [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      // Notices include "Outgoing messages are being dropped", which the bench counts.
      'log_type notice',
      ...(options.tcpNoDelay ? ['set_tcp_nodelay true'] : []),
      ...(options.maxQueuedMessages !== undefined ? [`max_queued_messages ${options.maxQueuedMessages}`] : []),
    ].join('\n');
    const file = join(dir, 'mosquitto.conf');
    writeFileSync(file, `${config}\n`);
    const child = spawn(binary, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let partial = '';
    const counters = { dropped: 0 };
    child.stderr?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('Outgoing messages are being dropped')) counters.dropped++;
        else if (!/New connection|New client connected|Client .* (closed its connection|disconnected)/.test(line)) stderr = `${stderr}${line}\n`.slice(-4000);
      }
    });
    const deadline = Date.now() + timeoutMs;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new BenchBrokerError('start_failed', `mosquitto did not start on port ${port}: ${stderr.trim() || `exit ${child.exitCode}`}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return new MosquittoProcess(child, port, dir, config, () => stderr, counters);
  }

  /** What Mosquitto wrote to stderr (last 4000 characters, without connection notices). */
  log(): string {
    return this.stderr();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      await waitExit(this.child, 5000);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
