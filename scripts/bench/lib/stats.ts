import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';

/** Percentiles of a sample, nearest-rank. */
export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function rankIn(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** One nearest-rank percentile (p in 0-100); NaN for an empty sample. */
export function percentileOf(values: ArrayLike<number>, p: number): number {
  return rankIn(Float64Array.from(values).sort(), p);
}

/** Nearest-rank percentiles; NaN everywhere for an empty sample. */
export function percentiles(values: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number): number => rankIn(sorted, p);
  return { count: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN };
}

/** Fixed-precision number for tables; '–' for NaN. */
export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** Machine facts printed at the top of every benchmark report. */
export interface MachineFacts {
  cpuModel: string;
  cores: number;
  nodeVersion: string;
  platform: string;
  loadAverage: string;
}

export function machineFacts(): MachineFacts {
  const list = cpus();
  let load = '';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    load = 'n/a';
  }
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    nodeVersion: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage: load,
  };
}

/** Soft and hard "Max open files" of a process, from /proc/<pid>/limits (Linux). */
export function openFileLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/limits`, 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('Max open files'));
    const parts = line?.trim().split(/\s+/);
    if (!parts || parts.length < 5) return undefined;
    const parse = (s: string | undefined) => (s === 'unlimited' ? Infinity : Number(s));
    return { soft: parse(parts[3]), hard: parse(parts[4]) };
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS). */
export function rssBytesOf(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
