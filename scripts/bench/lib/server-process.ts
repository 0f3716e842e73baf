import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { BenchCommand, BenchReply, MemorySnapshot, PacerSummary, SendGaps, ServerReady, ServerStats, SpeakStarted, SpeechPrepared } from './gateway-ipc';

type CommandWithoutId = BenchCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

/** Error of the benchmark harness itself (server did not start, command timed out...). */
export class BenchError extends Error {
  constructor(
    readonly code: 'server_start' | 'server_exit' | 'timeout' | 'command_failed',
    message: string,
  ) {
    super(message);
    this.name = 'BenchError';
  }
}

/**
 * The forked gateway server (lib/gateway-server.js) seen from the load generator: typed commands
 * with timeouts over IPC, and a stop that always ends the child (SIGKILL after a grace period).
 */
export class ServerProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly pid: number,
  ) {
    child.on('message', (raw: unknown) => {
      const reply = raw as BenchReply;
      const entry = this.pending.get(reply.id);
      if (!entry) return;
      this.pending.delete(reply.id);
      clearTimeout(entry.timer);
      if (reply.ok) entry.resolve(reply.result);
      else entry.reject(new BenchError('command_failed', reply.error));
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const [id, entry] of this.pending) {
        clearTimeout(entry.timer);
        entry.reject(new BenchError('server_exit', `gateway server exited (code ${code}, signal ${signal}) during command ${id}`));
      }
      this.pending.clear();
    });
  }

  /** Fork the server and wait until it listens. */
  static start(opts: { timeoutMs?: number; cpuProfileDir?: string } = {}): Promise<ServerProcess> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const script = join(__dirname, 'gateway-server.js');
    const execArgv = ['--expose-gc'];
    // V8 writes the profile when the child exits normally (our shutdown command), one file per server.
    if (opts.cpuProfileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfileDir}`);
    const child = fork(script, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new BenchError('server_start', `gateway server did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('message', (raw: unknown) => {
        const ready = raw as ServerReady;
        clearTimeout(timer);
        if (ready.type !== 'ready') {
          child.kill('SIGKILL');
          reject(new BenchError('server_start', 'gateway server sent something else than ready'));
          return;
        }
        resolve(new ServerProcess(child, ready.port, ready.pid));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new BenchError('server_start', `gateway server exited with code ${code} before listening`));
      });
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/xiaozhi/v1/`;
  }

  private command<T>(command: CommandWithoutId, timeoutMs = 10_000): Promise<T> {
    if (this.exited) return Promise.reject(new BenchError('server_exit', 'gateway server is not running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BenchError('timeout', `gateway server did not answer "${command.cmd}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.child.send({ ...command, id } as BenchCommand);
    });
  }

  memory(): Promise<MemorySnapshot> {
    return this.command({ cmd: 'mem' }, 20_000);
  }

  stats(resetLoopDelay = false): Promise<ServerStats> {
    return this.command({ cmd: 'stats', resetLoopDelay });
  }

  prepareSpeech(frameCount: number): Promise<SpeechPrepared> {
    return this.command({ cmd: 'prepare-speech', frameCount }, 30_000);
  }

  /** Every session starts speaking; with staggerMs > 0 the starts are spread evenly over it. */
  speak(staggerMs = 0): Promise<SpeakStarted> {
    return this.command({ cmd: 'speak', staggerMs });
  }

  sendGaps(skipFrames: number): Promise<SendGaps> {
    return this.command({ cmd: 'send-gaps', skipFrames }, 20_000);
  }

  pacerStats(): Promise<PacerSummary> {
    return this.command({ cmd: 'pacer-stats' });
  }

  /** Poll until the server holds `predicate`-satisfying stats, or time out (returns the last stats). */
  async waitFor(predicate: (stats: ServerStats) => boolean, timeoutMs: number): Promise<{ ok: boolean; stats: ServerStats }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = await this.stats();
      if (predicate(stats)) return { ok: true, stats };
      if (Date.now() >= deadline) return { ok: false, stats };
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Close the gateway and end the process; SIGKILL if it does not go within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.command({ cmd: 'shutdown' }, graceMs).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Immediate kill (watchdog, signals). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
