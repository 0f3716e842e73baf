/**
 * Messages between the gateway benchmark (parent, load generator) and the gateway server it forks
 * (child), so the server's memory and CPU are measured apart from the clients.
 */

/** Commands the parent sends; each carries an id that the reply echoes. */
export type BenchCommand =
  | { id: number; cmd: 'mem' }
  | { id: number; cmd: 'stats'; resetLoopDelay?: boolean }
  | { id: number; cmd: 'prepare-speech'; frameCount: number }
  | { id: number; cmd: 'speak'; staggerMs: number }
  | { id: number; cmd: 'send-gaps'; skipFrames: number }
  | { id: number; cmd: 'pacer-stats' }
  | { id: number; cmd: 'shutdown' };

/** Server memory after gc() (twice). */
export interface MemorySnapshot {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
}

/** Server counters and CPU time so far. */
export interface ServerStats {
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Sessions held (including those still waiting for hello). */
  sessions: number;
  /** Sessions that completed hello and are still open. */
  helloSessions: number;
  /** Uplink frames decoded and emitted as 'audio'. */
  framesIn: number;
  badFrames: number;
  droppedMessages: number;
  warnings: number;
  /** Event loop delay since the last reset (ms). */
  loopDelayMs: { p50: number; p99: number; max: number };
}

export interface SpeechPrepared {
  frames: number;
  source: string;
  meanBytes: number;
}

export interface SpeakStarted {
  sessions: number;
  /** Event-loop time the gateway spent starting every (unstaggered) session, microtasks included. */
  startMs: number;
}

/** Per-session pacer figures over the speaking sessions. */
export interface PacerSummary {
  sessions: number;
  framesSent: number;
  underruns: number;
  /** Distribution over sessions of each session's worst release lateness. */
  maxLateMs: { p50: number; p99: number; max: number };
  speakingDone: number;
}

/** Server-side gaps between consecutive binary sends of each speaking session (ms). */
export interface SendGaps {
  /** False when the session's socket could not be reached (internals changed): no figures. */
  available: boolean;
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  over65: number;
}

export type BenchReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string };

/** First message of the child once it listens. */
export interface ServerReady {
  type: 'ready';
  port: number;
  pid: number;
}
