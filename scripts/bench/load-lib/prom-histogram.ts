/**
 * Reading Prometheus histograms from the hub's /metrics text, and the difference between two
 * scrapes (a histogram's counters only grow, so a window's distribution is end minus start).
 */

/** Cumulative bucket counts of one histogram series. */
export interface HistogramSnapshot {
  /** Upper bound (`le`) -> cumulative count; `+Inf` as Infinity. */
  buckets: Map<number, number>;
  sum: number;
  count: number;
}

/** Label matcher: every given label must be present with that value (other labels are allowed). */
function labelsMatch(labelText: string, want: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(want)) {
    if (!labelText.includes(`${key}="${value}"`)) return false;
  }
  return true;
}

/**
 * The histogram `name` (series selected by `labels`) from text exposition; undefined when absent.
 */
export function readHistogram(text: string, name: string, labels: Record<string, string> = {}): HistogramSnapshot | undefined {
  const buckets = new Map<number, number>();
  let sum = Number.NaN;
  let count = Number.NaN;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const key = line.slice(0, space);
    const value = Number(line.slice(space + 1));
    const brace = key.indexOf('{');
    const metric = brace < 0 ? key : key.slice(0, brace);
    const labelText = brace < 0 ? '' : key.slice(brace);
    if (!labelsMatch(labelText, labels)) continue;
    if (metric === `${name}_bucket`) {
      const le = /le="([^"]+)"/.exec(labelText)?.[1];
      if (le === undefined) continue;
      buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), value);
    } else if (metric === `${name}_sum`) {
      sum = value;
    } else if (metric === `${name}_count`) {
      count = value;
    }
  }
  if (buckets.size === 0 && Number.isNaN(count)) return undefined;
  return { buckets, sum, count };
}

/** `after - before` bucket by bucket (a missing `before` counts as empty). */
export function histogramDelta(after: HistogramSnapshot | undefined, before: HistogramSnapshot | undefined): HistogramSnapshot | undefined {
  if (!after) return undefined;
  const buckets = new Map<number, number>();
  for (const [le, n] of after.buckets) buckets.set(le, n - (before?.buckets.get(le) ?? 0));
  return { buckets, sum: after.sum - (before?.sum ?? 0), count: after.count - (before?.count ?? 0) };
}

/** Share (0-1) of observations above `bound`, which must be a bucket bound; NaN when empty or unknown. */
export function shareAbove(h: HistogramSnapshot | undefined, bound: number): number {
  if (!h || !(h.count > 0)) return Number.NaN;
  const atOrBelow = h.buckets.get(bound);
  if (atOrBelow === undefined) return Number.NaN;
  return (h.count - atOrBelow) / h.count;
}

/**
 * Upper bound of the bucket that holds quantile `q` (0-1): "p99 ≤ this". Coarse by nature (bucket
 * bounds), so reports say "≤".
 */
export function quantileBound(h: HistogramSnapshot | undefined, q: number): number {
  if (!h || !(h.count > 0)) return Number.NaN;
  const target = q * h.count;
  for (const [le, n] of [...h.buckets].sort((a, b) => a[0] - b[0])) if (n >= target) return le;
  return Number.POSITIVE_INFINITY;
}
