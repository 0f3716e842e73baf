/**
 * Whole-machine CPU use from /proc/stat, so a report can tell how much of the machine the hub,
 * the load generator and everything else (other work on a shared machine) took in a window.
 */
import { readFileSync } from 'node:fs';

/** Jiffies of the aggregate `cpu` line: all and idle (idle + iowait). */
export interface MachineCpuSample {
  totalTicks: number;
  idleTicks: number;
}

/** Current aggregate CPU counters; undefined where /proc/stat is unreadable (not Linux). */
export function sampleMachineCpu(): MachineCpuSample | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    if (fields.length < 5 || fields.some((n) => !Number.isFinite(n))) return undefined;
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { totalTicks: total, idleTicks: idle };
  } catch {
    return undefined;
  }
}

/**
 * Busy CPU between two samples in "% of one core" (200 % = both cores of a 2-core machine busy),
 * the unit the per-process figures use. NaN when a sample is missing.
 */
export function machineBusyPercent(before: MachineCpuSample | undefined, after: MachineCpuSample | undefined, cores: number): number {
  if (!before || !after) return Number.NaN;
  const total = after.totalTicks - before.totalTicks;
  if (!(total > 0)) return Number.NaN;
  const busy = total - (after.idleTicks - before.idleTicks);
  return (busy / total) * cores * 100;
}

/** Scheduler counters of one thread: time on a CPU and time runnable but waiting for one (s). */
export interface ThreadSchedSample {
  runSec: number;
  waitSec: number;
}

/**
 * /proc/<pid>/task/<tid>/schedstat of a process's main thread (tid = pid: the JavaScript event
 * loop). Its run-queue wait is the time the event loop was ready to run but another process held
 * the CPU: on a shared machine this separates "the hub is slow" from "the hub was not scheduled".
 */
export function sampleMainThreadSched(pid: number): ThreadSchedSample | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    if (run === undefined || wait === undefined || !Number.isFinite(run) || !Number.isFinite(wait)) return undefined;
    return { runSec: run / 1e9, waitSec: wait / 1e9 };
  } catch {
    return undefined;
  }
}
