import { LimiterError } from './limiter-error';

/**
 * Capacity presets from the user's brief (a study of the reference xiaozhi server, restated in
 * shared/capacity-model.md). These are the reference server's estimates, not our measurements:
 * they are starting points for the limiter, and the README's measured table says what this
 * package actually holds.
 */

/** Provider kinds the brief sets limits for. */
export type ProviderKind = 'llm' | 'tts' | 'asr';

/** Hardware presets of the brief. */
export type HardwarePresetName = 'low' | 'mid' | 'high' | 'cloud';

/** Vendors the brief reports concurrency for. */
export type VendorName = 'openai' | 'zhipu' | 'doubao' | 'aliyun' | 'tencent';

/** Limits of one provider kind, in the limiter's terms. */
export interface ProviderLimits {
  maxConcurrent: number;
  /** Waiters allowed (the brief's `queue_size`). */
  queueSize: number;
  /** The brief's `timeout`: how long one provider call (slot) may run. */
  runTimeoutMs: number;
  /**
   * Longest wait for a slot. Not in the brief (its timeout covers the call); ours, chosen so a
   * device hears "busy" within seconds rather than after a silent half minute.
   */
  waitTimeoutMs: number;
  /** The brief's `enable_queue`. */
  queueEnabled: boolean;
}

/**
 * The brief's "performance" settings for providers: llm max_concurrent 10, timeout 30 s, queue 50;
 * tts 5, 15 s, 20; asr 8, 20 s, 30 (queueing on).
 */
export const DEFAULT_PROVIDER_LIMITS: Readonly<Record<ProviderKind, Readonly<ProviderLimits>>> = Object.freeze({
  llm: Object.freeze({ maxConcurrent: 10, runTimeoutMs: 30_000, queueSize: 50, waitTimeoutMs: 10_000, queueEnabled: true }),
  tts: Object.freeze({ maxConcurrent: 5, runTimeoutMs: 15_000, queueSize: 20, waitTimeoutMs: 5_000, queueEnabled: true }),
  asr: Object.freeze({ maxConcurrent: 8, runTimeoutMs: 20_000, queueSize: 30, waitTimeoutMs: 5_000, queueEnabled: true }),
});

/** The brief's server settings: max_connections 500, connection_timeout 30 s, thread pool 20 / queue 100. */
export const SERVER_DEFAULTS = Object.freeze({ maxConnections: 500, connectionTimeoutMs: 30_000, workers: 20, workerQueueSize: 100 });

/** One row of the brief's hardware table. */
export interface HardwarePreset {
  name: HardwarePresetName;
  /** The machine it was sized for (undefined for cloud). */
  cores?: number;
  memoryGb?: number;
  maxConnections: number;
  workers: number;
  maxConcurrent: Readonly<Record<ProviderKind, number>>;
  /** The brief's claims (not measured by us). */
  claimed?: { memory: string; cpuPercent: string; response: string };
}

/** The brief's hardware presets. */
export const HARDWARE_PRESETS: Readonly<Record<HardwarePresetName, Readonly<HardwarePreset>>> = Object.freeze({
  low: { name: 'low', cores: 2, memoryGb: 4, maxConnections: 50, workers: 10, maxConcurrent: { llm: 3, tts: 2, asr: 3 }, claimed: { memory: '~400 MB', cpuPercent: '60-80 %', response: '< 2 s' } },
  mid: { name: 'mid', cores: 4, memoryGb: 8, maxConnections: 150, workers: 15, maxConcurrent: { llm: 6, tts: 3, asr: 5 }, claimed: { memory: '~1.2 GB', cpuPercent: '50-70 %', response: '< 1.5 s' } },
  high: { name: 'high', cores: 8, memoryGb: 16, maxConnections: 300, workers: 20, maxConcurrent: { llm: 10, tts: 5, asr: 8 }, claimed: { memory: '~2.4 GB', cpuPercent: '40-60 %', response: '< 1 s' } },
  cloud: { name: 'cloud', maxConnections: 500, workers: 30, maxConcurrent: { llm: 15, tts: 8, asr: 12 } },
});

/** One row of the brief's vendor table. */
export interface VendorRecommendation {
  name: VendorName;
  label: string;
  /** Concurrency the brief saw the vendor accept ("50+" = at least 50); absent = not offered. */
  reportedAtLeast: Readonly<Partial<Record<ProviderKind, number>>>;
  /** The brief's recommended `max_concurrent`; absent = the vendor has no such service. */
  recommended: Readonly<Partial<Record<ProviderKind, number>>>;
}

/** The brief's per-vendor concurrency recommendations. */
export const VENDOR_RECOMMENDATIONS: Readonly<Record<VendorName, Readonly<VendorRecommendation>>> = Object.freeze({
  openai: { name: 'openai', label: 'OpenAI', reportedAtLeast: { llm: 50, tts: 25, asr: 25 }, recommended: { llm: 15, tts: 8, asr: 10 } },
  zhipu: { name: 'zhipu', label: 'Zhipu', reportedAtLeast: { llm: 30, tts: 20 }, recommended: { llm: 10, tts: 5 } },
  doubao: { name: 'doubao', label: 'Doubao', reportedAtLeast: { llm: 40, tts: 30, asr: 30 }, recommended: { llm: 12, tts: 6, asr: 8 } },
  aliyun: { name: 'aliyun', label: 'Aliyun', reportedAtLeast: { llm: 100, tts: 100, asr: 100 }, recommended: { llm: 20, tts: 10, asr: 15 } },
  tencent: { name: 'tencent', label: 'Tencent Cloud', reportedAtLeast: { llm: 50, tts: 50, asr: 50 }, recommended: { llm: 15, tts: 8, asr: 10 } },
});

/** Look up a hardware preset by name (case-insensitive); undefined if unknown. */
export function hardwarePreset(name: string | undefined): HardwarePreset | undefined {
  const key = (name ?? '').trim().toLowerCase();
  return Object.prototype.hasOwnProperty.call(HARDWARE_PRESETS, key) ? HARDWARE_PRESETS[key as HardwarePresetName] : undefined;
}

/** Look up a vendor by name or label (case-insensitive; "tencent cloud" works); undefined if unknown. */
export function vendorRecommendation(name: string | undefined): VendorRecommendation | undefined {
  const key = (name ?? '').trim().toLowerCase();
  return Object.values(VENDOR_RECOMMENDATIONS).find((v) => v.name === key || v.label.toLowerCase() === key);
}

/** The brief's preset for a machine: up to 2 cores low, up to 4 mid, more high. */
export function presetForMachine(cores: number): HardwarePresetName {
  if (cores <= 2) return 'low';
  if (cores <= 4) return 'mid';
  return 'high';
}

/** How to pick limits: the brief's defaults, a hardware preset, or a vendor's recommendation, plus overrides. */
export interface LimitsChoice {
  /** 'default' (or absent) = the brief's performance settings. */
  preset?: HardwarePresetName | 'default';
  /** Takes precedence over `preset` for maxConcurrent. */
  vendor?: VendorName;
  /** Explicit numbers win over everything. */
  overrides?: Partial<ProviderLimits>;
}

/**
 * Limits for a provider kind: `maxConcurrent` from the vendor's recommendation, else the hardware
 * preset, else the brief's defaults; queue size and timeouts from the brief's defaults for that
 * kind (the presets only size concurrency); then `overrides`. Throws LimiterError
 * `invalid_config` for an unknown preset/vendor or a vendor without that service (Zhipu ASR).
 */
export function resolveProviderLimits(kind: ProviderKind, choice: LimitsChoice = {}): ProviderLimits {
  const base = DEFAULT_PROVIDER_LIMITS[kind];
  if (!base) throw new LimiterError('invalid_config', `unknown provider kind "${String(kind)}"; use llm, tts or asr`);
  let maxConcurrent = base.maxConcurrent;
  if (choice.preset && choice.preset !== 'default') {
    const preset = hardwarePreset(choice.preset);
    if (!preset) throw new LimiterError('invalid_config', `unknown preset "${choice.preset}"; use default, ${Object.keys(HARDWARE_PRESETS).join(', ')}`);
    maxConcurrent = preset.maxConcurrent[kind];
  }
  if (choice.vendor) {
    const vendor = vendorRecommendation(choice.vendor);
    if (!vendor) throw new LimiterError('invalid_config', `unknown vendor "${choice.vendor}"; use ${Object.keys(VENDOR_RECOMMENDATIONS).join(', ')}`);
    const recommended = vendor.recommended[kind];
    if (recommended === undefined) throw new LimiterError('invalid_config', `${vendor.label} has no ${kind.toUpperCase()} service in the brief's table`);
    maxConcurrent = recommended;
  }
  const defined = Object.fromEntries(Object.entries(choice.overrides ?? {}).filter(([, v]) => v !== undefined)) as Partial<ProviderLimits>;
  return { ...base, maxConcurrent, ...defined };
}
