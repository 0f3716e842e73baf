import assert from 'node:assert/strict';
import {
  DEFAULT_PROVIDER_LIMITS,
  HARDWARE_PRESETS,
  SERVER_DEFAULTS,
  VENDOR_RECOMMENDATIONS,
  hardwarePreset,
  presetForMachine,
  resolveProviderLimits,
  vendorRecommendation,
} from '../../src/pipeline/presets';
import { isLimiterError } from '../../src/pipeline/limiter-error';

// The brief's tables (shared/capacity-model.md), restated here independently of presets.ts.
const BRIEF_HARDWARE = [
  ['low', 2, 4, 50, 10, 3, 2, 3],
  ['mid', 4, 8, 150, 15, 6, 3, 5],
  ['high', 8, 16, 300, 20, 10, 5, 8],
  ['cloud', undefined, undefined, 500, 30, 15, 8, 12],
] as const;
const BRIEF_VENDORS = [
  ['OpenAI', { llm: 15, tts: 8, asr: 10 }, { llm: 50, tts: 25, asr: 25 }],
  ['Zhipu', { llm: 10, tts: 5 }, { llm: 30, tts: 20 }],
  ['Doubao', { llm: 12, tts: 6, asr: 8 }, { llm: 40, tts: 30, asr: 30 }],
  ['Aliyun', { llm: 20, tts: 10, asr: 15 }, { llm: 100, tts: 100, asr: 100 }],
  ['Tencent Cloud', { llm: 15, tts: 8, asr: 10 }, { llm: 50, tts: 50, asr: 50 }],
] as const;

describe('limiter presets (the brief\'s capacity tables)', function () {
  it('provider defaults: llm 10 / 30 s / 50, tts 5 / 15 s / 20, asr 8 / 20 s / 30, queueing on', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(DEFAULT_PROVIDER_LIMITS).map(([k, v]) => [k, [v.maxConcurrent, v.runTimeoutMs, v.queueSize, v.queueEnabled]])),
      { llm: [10, 30_000, 50, true], tts: [5, 15_000, 20, true], asr: [8, 20_000, 30, true] },
    );
    for (const v of Object.values(DEFAULT_PROVIDER_LIMITS)) assert.ok(v.waitTimeoutMs > 0 && v.waitTimeoutMs <= v.runTimeoutMs);
    assert.deepEqual(SERVER_DEFAULTS, { maxConnections: 500, connectionTimeoutMs: 30_000, workers: 20, workerQueueSize: 100 });
  });

  it('hardware presets match the brief', () => {
    assert.equal(Object.keys(HARDWARE_PRESETS).length, BRIEF_HARDWARE.length);
    for (const [name, cores, memoryGb, maxConnections, workers, llm, tts, asr] of BRIEF_HARDWARE) {
      const p = hardwarePreset(name.toUpperCase());
      assert.ok(p, name);
      assert.deepEqual([p.cores, p.memoryGb, p.maxConnections, p.workers, p.maxConcurrent.llm, p.maxConcurrent.tts, p.maxConcurrent.asr], [cores, memoryGb, maxConnections, workers, llm, tts, asr], name);
    }
    assert.equal(hardwarePreset('huge'), undefined);
    assert.equal(hardwarePreset('toString'), undefined);
    assert.deepEqual([1, 2, 3, 4, 8, 64].map(presetForMachine), ['low', 'low', 'mid', 'mid', 'high', 'high']);
  });

  it('vendor recommendations match the brief, looked up by name or label', () => {
    assert.equal(Object.keys(VENDOR_RECOMMENDATIONS).length, BRIEF_VENDORS.length);
    for (const [label, recommended, reported] of BRIEF_VENDORS) {
      const v = vendorRecommendation(label);
      assert.ok(v, label);
      assert.deepEqual(v.recommended, recommended, label);
      assert.deepEqual(v.reportedAtLeast, reported, label);
      assert.equal(vendorRecommendation(v.name), v);
      // A recommendation stays below what the vendor was seen to accept.
      for (const [kind, n] of Object.entries(v.recommended)) assert.ok(n < v.reportedAtLeast[kind as 'llm']!, `${label} ${kind}`);
    }
  });

  it('resolveProviderLimits: vendor > preset > defaults, queue and timeouts from the stage defaults, overrides last', () => {
    assert.deepEqual(resolveProviderLimits('llm'), DEFAULT_PROVIDER_LIMITS.llm);
    assert.equal(resolveProviderLimits('tts', { preset: 'low' }).maxConcurrent, 2);
    assert.equal(resolveProviderLimits('tts', { preset: 'low' }).queueSize, 20);
    assert.equal(resolveProviderLimits('asr', { preset: 'cloud' }).maxConcurrent, 12);
    assert.equal(resolveProviderLimits('asr', { preset: 'cloud' }).runTimeoutMs, 20_000);
    assert.equal(resolveProviderLimits('llm', { preset: 'low', vendor: 'aliyun' }).maxConcurrent, 20);
    assert.deepEqual(resolveProviderLimits('llm', { preset: 'mid', overrides: { queueSize: 3, runTimeoutMs: undefined } }), { ...DEFAULT_PROVIDER_LIMITS.llm, maxConcurrent: 6, queueSize: 3 });
    assert.throws(() => resolveProviderLimits('asr', { vendor: 'zhipu' }), (e: unknown) => isLimiterError(e, 'invalid_config') && /Zhipu has no ASR/.test(e.message));
    assert.throws(() => resolveProviderLimits('llm', { vendor: 'acme' as 'openai' }), (e: unknown) => isLimiterError(e, 'invalid_config'));
    assert.throws(() => resolveProviderLimits('llm', { preset: 'huge' as 'low' }), (e: unknown) => isLimiterError(e, 'invalid_config'));
  });
});
