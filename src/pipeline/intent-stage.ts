/**
 * The intent step of the voice pipeline, framework-free: `stt` msgs are matched against local
 * sentence templates (built-in home intents in English and Chinese, plus custom YAML) over the
 * live device catalogue of the hub broker. A hit is carried out (MQTT command with state echo,
 * or the voice device's own volume through its MCP tool) and answered with a `say` on output 1;
 * a miss goes on unchanged on output 2, to the LLM. Every other msg goes on on output 2 too, so
 * the chain continues (docs/pipeline-messages.md).
 *
 * The matcher's English sentences, filled with the catalogue's names and areas, are published on
 * the phrase bus so a grammar recogniser (pocketsphinx) can hear exactly what the matcher knows.
 */
import { randomUUID } from 'node:crypto';
import { executeAction, type ActionResult, type HomeActionName, type HomeIntent } from '../broker/actions';
import { DeviceCatalogue } from '../broker/catalogue';
import { intentCatalogueView } from '../broker/catalogue-intents';
import type { BrokerLike } from '../broker/catalogue-types';
import { sessionRegistry } from '../gateway/session-registry';
import { SET_VOLUME_TOOL } from '../intents/builtin-en';
import { phrasesForGrammar } from '../intents/grammar';
import { IntentMatcher } from '../intents/matcher';
import { phraseBus as globalPhraseBus, type PhraseBus } from '../intents/phrase-bus';
import { renderResponse } from '../intents/response';
import type { IntentCatalogue, IntentLanguage, IntentMatch } from '../intents/types';
import { idsOf, isStaleInput, type StageMessage } from './llm-stage';
import { DEVICE_STATUS_TOOL } from './offline-responder';
import { TurnGuard } from './turn-guard';

/** Which output a msg leaves on: 0 = intent handled (stt + say), 1 = everything else (to the LLM). */
export type IntentOutput = 0 | 1;

/** What `msg.intent` of the answering `say` msg holds. */
export interface IntentOutcome {
  intent: string;
  slots: Record<string, string | number>;
  /** The targets by catalogue id and name. */
  entities: Array<{ id: string; name: string }>;
  language: IntentLanguage;
  /** Every command was sent (and, when an echo was awaited, confirmed); false on any failure. */
  ok: boolean;
  /** Every target confirmed by a state echo (or, for the volume, by the device's tool answer). */
  confirmed: boolean;
  /** The sentence spoken. */
  spoken: string;
}

/** What the node shows. */
export interface IntentStageStatus {
  /** The catalogue is live (or there is no broker and never will be). */
  ready: boolean;
  /** Broker configured. */
  hasBroker: boolean;
  devices: number;
  areas: number;
  /** The configuration cannot work (bad custom YAML, broker failed). */
  error?: string;
  last?: { text: string; intent?: string; ok?: boolean; ms: number };
}

/** Options of {@link IntentStage}. */
export interface IntentStageOptions {
  /** Languages to match. Default ['en', 'zh']. */
  languages?: IntentLanguage[];
  /** Custom sentences, lists and responses as YAML (src/intents/custom.ts). */
  customSentences?: string;
  /** The hub broker; without it only device intents (volume) and custom sentences work. */
  broker?: BrokerLike | Promise<BrokerLike>;
  /** zigbee2mqtt base topic. Default `zigbee2mqtt`. */
  zigbee2mqttBaseTopic?: string;
  /** Home Assistant discovery prefix, false to ignore discovery. Default `homeassistant`. */
  discoveryPrefix?: string | false;
  /** How long to wait for a device's state echo; 0 does not wait. Default 2000 ms. */
  waitForEchoMs?: number;
  /** Publish grammar phrases on the phrase bus (for pocketsphinx). Default true. */
  feedGrammar?: boolean;
  /** Key of this stage's phrases on the bus (the node id). Default a random id. */
  phraseSourceId?: string;
  /** Bus to publish on; default the process-wide one. */
  phraseBus?: PhraseBus;
  /**
   * Upper bound of grammar phrases. Default 500: pocketsphinx decode time grows with the grammar
   * (measured on a loaded 2-core machine: ~0.4 s at 300 phrases, ~0.7-1.3 s at 1000, ~1.5-2.8 s
   * at 2000 for one command); on/off of every device name comes first within half the budget.
   */
  maxGrammarPhrases?: number;
  /** Catalogue changes are applied to the matcher this long after the last one. Default 300 ms. */
  rebuildDebounceMs?: number;
  /** Limit on the device's MCP tool calls (volume). Default 5000 ms. */
  toolTimeoutMs?: number;
  /** Emit one msg on an output. */
  send(output: IntentOutput, msg: StageMessage): void;
  warn?(message: string): void;
  onStatus?(status: IntentStageStatus): void;
}

const EMPTY_CATALOGUE: IntentCatalogue = { entities: () => [], areas: () => [] };

/** Intents of the built-in packs that act on catalogue entities, and the action each means. */
const ACTION_OF: Readonly<Record<string, HomeActionName>> = {
  HassTurnOn: 'turn_on',
  HassTurnOff: 'turn_off',
  HassToggle: 'toggle',
  HassOpenCover: 'open',
  HassCloseCover: 'close',
  HassSetPosition: 'set_position',
  HassClimateSetTemperature: 'set_temperature',
  HassGetState: 'query_state',
};

/** Relative brightness changes start from this when the light's brightness is not known yet. */
const UNKNOWN_BRIGHTNESS_PERCENT = 50;

const TEXT = {
  en: {
    noBroker: 'Sorry, I cannot reach the home devices right now.',
    noVolumeTool: 'Sorry, this device cannot change its volume.',
    volumeUnknown: 'Sorry, I do not know the current volume.',
    volumeFailed: 'Sorry, the volume could not be changed.',
    noTarget: 'Sorry, I could not find that device.',
    more: (n: number) => `and ${n} more`,
  },
  zh: {
    noBroker: '抱歉，现在连不上家里的设备。',
    noVolumeTool: '抱歉，这个设备不能调节音量。',
    volumeUnknown: '抱歉，我不知道现在的音量。',
    volumeFailed: '抱歉，音量没能调整。',
    noTarget: '抱歉，我没有找到这个设备。',
    more: (n: number) => `还有${n}个`,
  },
} as const;

/**
 * Matches `stt` text against local intents and carries hits out. One run per session at a time:
 * a newer `stt` or an `abort` of the session drops the answer of the older one (the command it
 * already sent stays sent).
 */
export class IntentStage {
  /** Resolves when the catalogue is live (immediately without a broker). Never rejects. */
  readonly ready: Promise<void>;
  private readonly options: IntentStageOptions;
  private readonly languages: IntentLanguage[];
  private readonly guard = new TurnGuard();
  private readonly bus: PhraseBus;
  private readonly sourceId: string;
  private readonly catalogueSwitch = { current: EMPTY_CATALOGUE };
  private matcher: IntentMatcher | undefined;
  private catalogue: DeviceCatalogue | undefined;
  private broker: BrokerLike | undefined;
  private disposeView: (() => void) | undefined;
  private rebuildTimer: NodeJS.Timeout | undefined;
  private statusValue: IntentStageStatus;
  private closed = false;

  constructor(options: IntentStageOptions) {
    this.options = options;
    this.languages = options.languages && options.languages.length > 0 ? [...options.languages] : ['en', 'zh'];
    this.bus = options.phraseBus ?? globalPhraseBus;
    this.sourceId = options.phraseSourceId ?? `intent-${randomUUID()}`;
    this.statusValue = { ready: options.broker === undefined, hasBroker: options.broker !== undefined, devices: 0, areas: 0 };
    const switchable: IntentCatalogue = {
      entities: () => this.catalogueSwitch.current.entities(),
      areas: () => this.catalogueSwitch.current.areas(),
    };
    try {
      // Built at once over an empty catalogue, so device intents work while the broker starts.
      this.matcher = new IntentMatcher({ languages: this.languages, catalogue: switchable, custom: options.customSentences });
      // With a broker the catalogue's first rebuild publishes: generating phrases costs up to a
      // second of CPU (most for an empty catalogue), not worth doing twice.
      if (options.broker === undefined) this.publishGrammar();
    } catch (error) {
      this.statusValue.error = `custom sentences: ${messageOf(error)}`;
      this.options.warn?.(`intents disabled: ${messageOf(error)}`);
    }
    this.ready = options.broker === undefined || !this.matcher ? Promise.resolve() : this.startCatalogue(options.broker);
    this.emitStatus();
  }

  /** Current status (also pushed through `onStatus`). */
  status(): IntentStageStatus {
    return { ...this.statusValue, ...(this.statusValue.last ? { last: { ...this.statusValue.last } } : {}) };
  }

  /** The live catalogue, once started (undefined without a broker). */
  get deviceCatalogue(): DeviceCatalogue | undefined {
    return this.catalogue;
  }

  /** Match a text without acting (tests, flows that only want the intent). */
  match(text: string, area?: string): IntentMatch | undefined {
    return this.matcher?.match(text, undefined, area ? { area } : {});
  }

  /** Handle one msg. Resolves when it is fully handled; never rejects. */
  async handle(msg: StageMessage): Promise<void> {
    if (this.closed) return;
    switch (msg.topic) {
      case 'stt':
        return this.onStt(msg);
      case 'abort':
      case 'session.end':
        if (typeof msg.session === 'string') this.guard.abort(msg.session, msg.topic);
        this.options.send(1, msg);
        return;
      default:
        this.options.send(1, msg);
    }
  }

  /** Stop: no more msgs, phrases withdrawn from the bus, catalogue unsubscribed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.rebuildTimer) clearTimeout(this.rebuildTimer);
    this.guard.clear();
    this.bus.remove(this.sourceId);
    this.disposeView?.();
    await this.catalogue?.close().catch(() => undefined);
  }

  // ------------------------------------------------------------------------------------------

  private async startCatalogue(brokerOrPromise: BrokerLike | Promise<BrokerLike>): Promise<void> {
    try {
      const broker = await brokerOrPromise;
      if (this.closed) return;
      const catalogue = new DeviceCatalogue(broker, {
        zigbee2mqttBaseTopic: this.options.zigbee2mqttBaseTopic?.trim() || 'zigbee2mqtt',
        ...(this.options.discoveryPrefix !== undefined ? { discoveryPrefix: this.options.discoveryPrefix } : {}),
      });
      catalogue.on('warning', (error: unknown) => this.options.warn?.(`device catalogue: ${messageOf(error)}`));
      await catalogue.start();
      if (this.closed) {
        await catalogue.close();
        return;
      }
      this.broker = broker;
      this.catalogue = catalogue;
      const view = intentCatalogueView(catalogue);
      this.disposeView = view.dispose;
      this.catalogueSwitch.current = view;
      catalogue.on('changed', () => this.scheduleRebuild());
      this.rebuild();
      this.statusValue.ready = true;
      this.emitStatus();
    } catch (error) {
      if (this.closed) return;
      this.statusValue.error = `broker: ${messageOf(error)}`;
      this.options.warn?.(`device catalogue not available: ${messageOf(error)}`);
      // Device intents (volume) still work: the recogniser should still hear them.
      this.publishGrammar();
      this.emitStatus();
    }
  }

  private scheduleRebuild(): void {
    if (this.closed) return;
    if (this.rebuildTimer) clearTimeout(this.rebuildTimer);
    // zigbee2mqtt republishes every device at once: rebuild once after the burst.
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = undefined;
      this.rebuild();
    }, this.options.rebuildDebounceMs ?? 300);
  }

  private rebuild(): void {
    if (this.closed || !this.matcher) return;
    this.matcher.rebuild();
    this.statusValue.devices = this.catalogueSwitch.current.entities().length;
    this.statusValue.areas = this.catalogueSwitch.current.areas().length;
    this.publishGrammar();
    this.emitStatus();
  }

  private publishGrammar(): void {
    if (!this.matcher || this.options.feedGrammar === false || !this.languages.includes('en')) return;
    try {
      this.bus.set(this.sourceId, phrasesForGrammar(this.matcher, { maxPhrases: this.options.maxGrammarPhrases ?? 500 }));
    } catch (error) {
      this.options.warn?.(`grammar phrases: ${messageOf(error)}`);
    }
  }

  private async onStt(msg: StageMessage): Promise<void> {
    const turn = typeof msg.turn === 'number' ? msg.turn : undefined;
    // A late recognition of an older turn: nobody waits for it.
    if (isStaleInput(msg, turn)) return;
    const text = typeof msg.payload === 'string' ? msg.payload.trim() : '';
    if (!this.matcher || text === '') {
      this.options.send(1, msg);
      return;
    }
    const intentStart = Date.now();
    const startedAt = performance.now();
    let match: IntentMatch | undefined;
    try {
      const area = typeof msg.area === 'string' && msg.area.trim() ? msg.area.trim() : undefined;
      match = this.matcher.match(text, undefined, area ? { area } : {});
    } catch (error) {
      // A matcher bug must not swallow the user's words: the LLM still gets them.
      this.options.warn?.(`intent matching failed: ${messageOf(error)}`);
    }
    if (!match) {
      this.statusValue.last = { text, ms: Math.round(performance.now() - startedAt) };
      this.emitStatus();
      this.options.send(1, msg);
      return;
    }

    // Show the user what was heard before the action's answer is ready.
    this.options.send(0, msg);
    const key = typeof msg.session === 'string' ? msg.session : '';
    // A newer utterance replaces the run in progress even when the turn number did not change.
    this.guard.abort(key, 'superseded');
    const signal = this.guard.begin(key, turn);
    let outcome: Omit<IntentOutcome, 'intent' | 'slots' | 'entities' | 'language'>;
    try {
      outcome = await this.execute(match, msg, signal);
    } catch (error) {
      this.options.warn?.(`intent ${match.intent} failed: ${messageOf(error)}`);
      outcome = { ok: false, confirmed: false, spoken: TEXT[match.language].noTarget };
    } finally {
      this.guard.end(key, turn);
    }
    const intentMs = Math.round(performance.now() - startedAt);
    this.statusValue.last = { text, intent: match.intent, ok: outcome.ok, ms: intentMs };
    this.emitStatus();
    const live = !this.closed && !signal.aborted && (msg.session === undefined || this.guard.isCurrent(msg.session, turn));
    if (!live) return;
    const intent: IntentOutcome = {
      intent: match.intent,
      slots: { ...match.slots },
      entities: match.entities.map((e) => ({ id: e.id, name: e.name })),
      language: match.language,
      ...outcome,
    };
    this.options.send(0, {
      ...idsOf(msg),
      topic: 'say',
      payload: outcome.spoken,
      language: match.language,
      intent,
      // intentStart/intentEnd are epoch ms like the other stages' marks; intentMs is the duration.
      timings: { ...(msg.timings ?? {}), intentStart, intentEnd: Date.now(), intentMs },
    });
  }

  private async execute(
    match: IntentMatch,
    msg: StageMessage,
    signal: AbortSignal,
  ): Promise<{ ok: boolean; confirmed: boolean; spoken: string }> {
    const text = TEXT[match.language];
    if (match.intent === 'DeviceSetVolume') return this.setVolume(match, msg);
    const action = actionOf(match);
    if (!action) {
      // A custom intent without a device action: its response is the answer; flows can act on msg.intent.
      return { ok: true, confirmed: false, spoken: match.response ?? '' };
    }
    if (!this.catalogue || !this.broker) return { ok: false, confirmed: false, spoken: text.noBroker };
    if (match.entities.length === 0) return { ok: false, confirmed: false, spoken: text.noTarget };
    const catalogue = this.catalogue;
    const broker = this.broker;
    const results = await Promise.all(
      match.entities.map((entity) => {
        const intent: HomeIntent = { action, entityId: entity.id };
        const value = valueFor(match, action, catalogue.state(entity.id)?.brightnessPercent);
        if (value !== undefined) intent.value = value;
        return executeAction(catalogue, broker, intent, {
          waitForEchoMs: this.options.waitForEchoMs ?? 2000,
          language: match.language,
          signal,
        });
      }),
    );
    return combine(match, action, results, text.more);
  }

  private async setVolume(match: IntentMatch, msg: StageMessage): Promise<{ ok: boolean; confirmed: boolean; spoken: string }> {
    const text = TEXT[match.language];
    const session = sessionRegistry.get(typeof msg.session === 'string' ? msg.session : undefined);
    const toolNames = new Set(session?.tools.map((t) => t.name) ?? []);
    const tool = typeof match.slots.tool === 'string' ? match.slots.tool : SET_VOLUME_TOOL;
    if (!session || !toolNames.has(tool)) return { ok: false, confirmed: false, spoken: text.noVolumeTool };
    const timeoutMs = this.options.toolTimeoutMs ?? 5000;
    let target: number;
    if (typeof match.slots.volume === 'number') {
      target = clampVolume(match.slots.volume);
    } else {
      const step = typeof match.slots.volumeStep === 'number' ? match.slots.volumeStep : 0;
      let current: number | undefined;
      if (toolNames.has(DEVICE_STATUS_TOOL)) {
        try {
          const status = await session.callTool(DEVICE_STATUS_TOOL, {}, timeoutMs);
          const volume = status.isError ? undefined : (JSON.parse(status.text) as { audio_speaker?: { volume?: unknown } }).audio_speaker?.volume;
          if (typeof volume === 'number' && Number.isFinite(volume)) current = volume;
        } catch {
          current = undefined;
        }
      }
      if (current === undefined) return { ok: false, confirmed: false, spoken: text.volumeUnknown };
      target = clampVolume(current + step);
    }
    try {
      const result = await session.callTool(tool, { volume: target }, timeoutMs);
      if (result.isError) return { ok: false, confirmed: false, spoken: text.volumeFailed };
    } catch {
      return { ok: false, confirmed: false, spoken: text.volumeFailed };
    }
    const spoken = renderResponse(match.response ?? (match.language === 'zh' ? '音量已调到{volume}' : 'Volume set to {volume}'), { volume: target });
    return { ok: true, confirmed: true, spoken };
  }

  private emitStatus(): void {
    this.options.onStatus?.(this.status());
  }
}

/** The catalogue action a match asks for, or undefined for intents without one (custom). */
function actionOf(match: IntentMatch): HomeActionName | undefined {
  if (match.intent === 'HassTurnOn' && match.slots.domain === 'scene') return 'activate_scene';
  if (match.intent === 'HassLightSet') {
    if (match.slots.color !== undefined) return 'set_color';
    if (match.slots.colorTempK !== undefined) return 'set_color_temp';
    return 'set_brightness';
  }
  return ACTION_OF[match.intent];
}

/** The action's value for one entity (relative brightness needs that entity's current level). */
function valueFor(match: IntentMatch, action: HomeActionName, brightnessPercent: number | undefined): string | number | undefined {
  const s = match.slots;
  switch (action) {
    case 'set_brightness':
      if (typeof s.brightness === 'number') return s.brightness;
      if (typeof s.brightnessStep === 'number') {
        return Math.max(1, Math.min(100, (brightnessPercent ?? UNKNOWN_BRIGHTNESS_PERCENT) + s.brightnessStep));
      }
      return undefined;
    case 'set_color':
      return s.color;
    case 'set_color_temp':
      return s.colorTempK;
    case 'set_position':
      return s.position;
    case 'set_temperature':
      return s.temperature;
    default:
      return undefined;
  }
}

/** One answer for every target: the action's own sentence for one, the intent's response for many. */
function combine(
  match: IntentMatch,
  action: HomeActionName,
  results: ActionResult[],
  more: (n: number) => string,
): { ok: boolean; confirmed: boolean; spoken: string } {
  const ok = results.every((r) => r.ok);
  const confirmed = results.every((r) => r.confirmed);
  if (results.length === 1) return { ok, confirmed, spoken: (results[0] as ActionResult).spoken };
  const zh = match.language === 'zh';
  const joinSpoken = (list: ActionResult[], max: number): string => {
    const parts = list.slice(0, max).map((r) => r.spoken);
    if (list.length > max) parts.push(`${more(list.length - max)}${zh ? '。' : '.'}`);
    return parts.join(zh ? '' : ' ');
  };
  if (action === 'query_state') return { ok, confirmed, spoken: joinSpoken(results, 4) };
  const failures = results.filter((r) => !r.ok);
  const response = match.response && !/\{[\p{L}\p{N}_.-]+\}/u.test(match.response) ? sentence(match.response, zh) : undefined;
  if (failures.length === 0) return { ok, confirmed, spoken: response ?? joinSpoken(results, 4) };
  const succeeded = results.length - failures.length;
  const lead = succeeded > 0 && response ? `${response}${zh ? '' : ' '}` : '';
  return { ok, confirmed, spoken: `${lead}${joinSpoken(failures, 3)}` };
}

function sentence(text: string, zh: boolean): string {
  const trimmed = text.trim();
  return /[.!?。！？]$/.test(trimmed) ? trimmed : `${trimmed}${zh ? '。' : '.'}`;
}

function clampVolume(value: number): number {
  return Math.max(0, Math.min(100, Math.round(value)));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
