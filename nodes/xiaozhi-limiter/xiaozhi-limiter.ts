import type { LimiterError } from '../../src/pipeline/limiter-error';
import { STAGE_TOPICS, type Delivery, type EnterOptions, type GateMsg, type StageTopics } from '../../src/pipeline/limiter-gate';
import { limiterRegistry, type SharedLimiterConfig } from '../../src/pipeline/limiter-registry';
import { resolveProviderLimits, type HardwarePresetName, type ProviderKind, type VendorName } from '../../src/pipeline/presets';
import { bool, num, type DoneFn, type NodeMessage, type NodeStatus, type RedApi, type RedNode, type SendFn } from '../shared/node-red';

/** Editor config of `xiaozhi limiter` (version 1). */
export interface LimiterNodeConfig {
  name?: string;
  /** Limiter name: nodes with the same name share one limiter (and, with Redis, one cluster-wide count). */
  limiter?: string;
  /** 'acquire' (before the guarded stage) or 'release' (after it). */
  mode?: 'acquire' | 'release';
  /** 'asr' | 'llm' | 'tts' | 'custom'. */
  stage?: string;
  acquireTopics?: string;
  followTopics?: string;
  releaseTopics?: string;
  /** 'default' (the brief's settings) | low | mid | high | cloud | 'vendor' | 'custom'. */
  limits?: string;
  vendor?: string;
  maxConcurrent?: string | number;
  queueSize?: string | number;
  waitTimeoutSec?: string | number;
  runTimeoutSec?: string | number;
  queueEnabled?: boolean | string;
  busyText?: string;
  redisUrl?: string;
  version?: number;
}

/** Spoken when a turn is refused. */
export const DEFAULT_BUSY_TEXT = "Sorry, I'm busy right now, please try again in a moment.";

const topicList = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);

/** The stage topics a config selects. */
export function stageTopicsOf(config: LimiterNodeConfig): StageTopics {
  const stage = config.stage ?? 'llm';
  if (stage === 'asr' || stage === 'llm' || stage === 'tts') return STAGE_TOPICS[stage];
  return { acquire: topicList(config.acquireTopics), follow: topicList(config.followTopics), release: topicList(config.releaseTopics) };
}

/** The limits a config selects (preset, vendor or custom numbers); throws LimiterError invalid_config. */
export function limitsOf(config: LimiterNodeConfig): SharedLimiterConfig {
  const stage = config.stage ?? 'llm';
  // A custom stage is sized like an LLM when a preset is chosen (the brief has no other row).
  const kind: ProviderKind = stage === 'asr' || stage === 'tts' ? stage : 'llm';
  const limits = config.limits || 'default';
  const custom = limits === 'custom';
  const base = resolveProviderLimits(kind, {
    preset: custom || limits === 'vendor' ? 'default' : (limits as HardwarePresetName | 'default'),
    vendor: limits === 'vendor' ? (config.vendor as VendorName) : undefined,
  });
  const name = (config.limiter ?? '').trim();
  return {
    name,
    maxConcurrent: custom ? num(config.maxConcurrent, base.maxConcurrent) : base.maxConcurrent,
    queueSize: custom ? num(config.queueSize, base.queueSize) : base.queueSize,
    waitTimeoutMs: custom ? num(config.waitTimeoutSec, base.waitTimeoutMs / 1000) * 1000 : base.waitTimeoutMs,
    runTimeoutMs: custom ? num(config.runTimeoutSec, base.runTimeoutMs / 1000) * 1000 : base.runTimeoutMs,
    queueEnabled: bool(config.queueEnabled, base.queueEnabled),
    redisUrl: (config.redisUrl ?? '').trim() || undefined,
  };
}

/** "3/4 busy, 2 queued": yellow while queueing, red after a refusal within the last 10 s. */
export function statusOf(s: { running: number; maxConcurrent: number; queued: number }, refusedRecently: number, cluster: boolean): NodeStatus {
  let text = `${s.running}/${s.maxConcurrent} busy`;
  if (s.queued > 0) text += `, ${s.queued} queued`;
  if (refusedRecently > 0) text += `, ${refusedRecently} refused`;
  if (cluster) text += ' (cluster)';
  const fill: NodeStatus['fill'] = refusedRecently > 0 ? 'red' : s.queued > 0 ? 'yellow' : s.running > 0 ? 'green' : 'grey';
  return { fill, shape: s.running > 0 || s.queued > 0 ? 'dot' : 'ring', text };
}

const STATUS_EVERY_MS = 250;
const REFUSAL_MEMORY_MS = 10_000;
const WARN_EVERY_MS = 1000;

module.exports = function register(RED: RedApi): void {
  function XiaozhiLimiter(this: RedNode, config: LimiterNodeConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const name = (config.limiter ?? '').trim();
    const mode = config.mode === 'release' ? 'release' : 'acquire';
    if (!name) {
      node.status({ fill: 'red', shape: 'ring', text: 'no limiter name' });
      node.on('input', (_msg: NodeMessage, _send: SendFn, done: DoneFn) => done(new Error('xiaozhi limiter: set a limiter name')));
      return;
    }
    const topics = stageTopicsOf(config);
    let limits: SharedLimiterConfig | undefined;
    try {
      // Only acquire-side nodes set the limits; a release node joins the table by name.
      limits = mode === 'acquire' ? limitsOf(config) : undefined;
    } catch (error) {
      node.status({ fill: 'red', shape: 'ring', text: 'bad limits' });
      node.error(error instanceof Error ? error.message : String(error));
      node.on('input', (_msg: NodeMessage, _send: SendFn, done: DoneFn) => done(error instanceof Error ? error : new Error(String(error))));
      return;
    }
    const shared = limiterRegistry.use(node, name, limits);
    if (shared.conflict) node.warn(`limiter "${name}" is configured differently by another node; the last deployed settings apply`);
    const limiter = shared.limiter;

    // Status: coalesced, since a busy limiter changes state many times a second.
    const refusals: number[] = [];
    let statusTimer: NodeJS.Timeout | undefined;
    const showStatus = () => {
      statusTimer = undefined;
      const now = Date.now();
      while (refusals.length > 0 && refusals[0]! < now - REFUSAL_MEMORY_MS) refusals.shift();
      node.status(statusOf({ running: limiter.running, queued: limiter.queued, maxConcurrent: limiter.limits.maxConcurrent }, refusals.length, !!shared.redisUrl));
      // Let the red fade once the refusals are older than the memory.
      if (refusals.length > 0) statusTimer = setTimeout(showStatus, REFUSAL_MEMORY_MS);
    };
    const scheduleStatus = () => {
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = setTimeout(showStatus, STATUS_EVERY_MS);
    };
    const onRefused = (error: LimiterError) => {
      if (error.code === 'queue_full' || error.code === 'wait_timeout' || error.code === 'unavailable') refusals.push(Date.now());
      scheduleStatus();
    };
    let lastWarnAt = 0;
    let unwarned = 0;
    const warnLimited = (text: string) => {
      const now = Date.now();
      if (now - lastWarnAt < WARN_EVERY_MS) {
        unwarned++;
        return;
      }
      node.warn(unwarned > 0 ? `${text} (+${unwarned} more)` : text);
      unwarned = 0;
      lastWarnAt = now;
    };
    const onBackendError = (error: Error) => warnLimited(`limiter "${name}": Redis: ${error.message}`);
    limiter.on('change', scheduleStatus);
    limiter.on('rejected', onRefused);
    limiter.on('timeout', onRefused);
    if (mode === 'acquire') limiter.on('backendError', onBackendError);
    showStatus();

    const enterOptions: EnterOptions = {
      topics,
      busyText: (config.busyText ?? '').trim() || DEFAULT_BUSY_TEXT,
      onBusy: (error, msg) => warnLimited(`busy (${error.code}): ${error.message}; session ${String(msg.session)} turn ${String(msg.turn)} hears the busy reply`),
      onExpired: (session, turn) => warnLimited(`limiter "${name}": slot of session ${session} turn ${String(turn)} taken back after the run timeout (${limiter.limits.runTimeoutMs} ms)`),
    };

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      // The registry may have replaced the limiter (Redis URL changed by another node): use the live gate.
      const gate = limiterRegistry.get(name)?.gate ?? shared.gate;
      const delivery: Delivery = { send: (m: GateMsg) => send(m as NodeMessage), done: () => done() };
      if (mode === 'acquire') gate.enter(msg, delivery, enterOptions);
      else gate.leave(msg, delivery, topics);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (statusTimer) clearTimeout(statusTimer);
      limiter.off('change', scheduleStatus);
      limiter.off('rejected', onRefused);
      limiter.off('timeout', onRefused);
      limiter.off('backendError', onBackendError);
      limiterRegistry.leave(node, name).then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('xiaozhi limiter', XiaozhiLimiter);
};
