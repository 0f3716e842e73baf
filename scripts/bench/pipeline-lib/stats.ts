/**
 * Small statistics and Markdown helpers for the pipeline benchmark: nearest-rank percentiles,
 * machine facts for the report header, and table rendering.
 */
import { cpus, loadavg, totalmem } from 'node:os';

/** Nearest-rank percentiles of a sample (NaN everywhere when it is empty). */
export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
}

/** Nearest-rank percentile `p` (0-100) of an ascending sample. */
function rank(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/** p50/p90/p99/max (nearest rank) of `values`. */
export function summarize(values: readonly number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: rank(sorted, 50),
    p90: rank(sorted, 90),
    p99: rank(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
    min: sorted.length > 0 ? (sorted[0] ?? Number.NaN) : Number.NaN,
  };
}

/** Fixed decimals, or an en dash for NaN / undefined. */
export function fmt(value: number | undefined, digits = 1): string {
  return value !== undefined && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** A Markdown table (first column left-aligned, the rest right-aligned). */
export function markdownTable(header: string[], rows: string[][]): string {
  const align = header.map((_, i) => (i === 0 ? ':---' : '---:'));
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(align), ...rows.map(line)].join('\n');
}

/** Facts about the machine and its load, for the top of the report. */
export function machineFactLines(): string[] {
  const list = cpus();
  const [l1, l5, l15] = loadavg();
  return [
    `- CPU: ${list[0]?.model.trim() ?? 'unknown'}, ${list.length} logical cores`,
    `- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}; ${process.platform} ${process.arch}`,
    `- Load average at start (1/5/15 min): ${fmt(l1, 2)} / ${fmt(l5, 2)} / ${fmt(l15, 2)}` +
      ((l1 ?? 0) > list.length * 0.75 ? ' — the machine was busy with other work; absolute figures are pessimistic' : ''),
  ];
}
