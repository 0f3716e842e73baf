/**
 * Scheduling priority for a benchmark on a shared machine: a negative nice for this process (the
 * hubs it spawns afterwards inherit it) and for its scheduler autogroup, so the figures measure
 * the hub rather than whatever else runs. Same approach as scripts/bench/gateway.ts's --nice.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/** What could be applied. */
export interface PriorityOutcome {
  /** The nice value set on this process, or undefined when refused (negative needs root). */
  nice: number | undefined;
  /** The autogroup's previous nice when it was changed (restored on exit). */
  autogroupPrevious: number | undefined;
}

/**
 * Run this process (and children spawned later) at `nice`. With autogroup scheduling a process's
 * nice only ranks it within its session; the session's weight is the autogroup's nice, so that is
 * set too and restored when the process exits.
 */
export function applyNice(nice: number): PriorityOutcome {
  let applied: number | undefined;
  try {
    setPriority(0, nice);
    applied = nice;
  } catch {
    applied = undefined;
  }
  let autogroupPrevious: number | undefined;
  try {
    const match = /nice\s+(-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'));
    if (match) {
      writeFileSync('/proc/self/autogroup', String(nice));
      autogroupPrevious = Number(match[1]);
      const previous = autogroupPrevious;
      process.once('exit', () => {
        try {
          writeFileSync('/proc/self/autogroup', String(previous));
        } catch {
          /* the autogroup may be gone with the session */
        }
      });
    }
  } catch {
    autogroupPrevious = undefined;
  }
  return { nice: applied, autogroupPrevious };
}
