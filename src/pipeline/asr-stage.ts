/**
 * The ASR stage of the voice pipeline (docs/pipeline-messages.md), free of Node-RED: `utterance`
 * msgs in, `stt` msgs out (or `tts.stop` when nothing was said, or `say` with a short spoken
 * error), every other msg passed through. The `xiaozhi asr` node maps its config onto
 * {@link createStageAsrProvider} and its msgs onto {@link AsrStage.handle}.
 */
import { existsSync } from 'node:fs';
import { bufferToInt16 } from '../audio/pcm';
import { OpenAiTranscriptionAsr } from '../providers/asr/openai-transcription';
import { PocketsphinxAsr } from '../providers/asr/pocketsphinx';
import { SherpaOnnxAsr, type SherpaAsrKind } from '../providers/asr/sherpa-onnx-asr';
import { ProviderError, type AsrProvider, type AsrResult } from '../providers/types';
import { TurnGuard } from './turn-guard';
import type { PipelineMsg } from './vad-stage';
import { phraseBus as globalPhraseBus, type PhraseBus } from '../intents/phrase-bus';

/** Spoken when recognition failed or timed out. */
export const ASR_FAILED_TEXT = 'Sorry, I could not understand that.';
/** Spoken (with the reason after it) when the recogniser cannot run at all. */
export const ASR_UNAVAILABLE_PREFIX = 'Speech recognition is not available: ';

/**
 * Default phrase list for the offline grammar recogniser: everyday assistant commands. Numbers are
 * written as digits; the grammar builder spells them out, so "set the volume to 50" is heard (and
 * reported) as "set the volume to fifty".
 */
export const DEFAULT_ASR_PHRASES: readonly string[] = [
  'what time is it',
  'what is the date',
  'what day is it',
  'tell me a joke',
  'hello',
  'who are you',
  'what can you do',
  ...Array.from({ length: 11 }, (_, i) => `set the volume to ${i * 10}`),
  'turn the volume up',
  'turn the volume down',
  'thank you',
  'goodbye',
  'stop',
];

/** Which recogniser the stage drives, with its settings. */
export type AsrProviderSpec =
  | {
      provider: 'pocketsphinx';
      /** Phrases the recogniser may answer with. Default {@link DEFAULT_ASR_PHRASES}. */
      phrases?: readonly string[];
    }
  | {
      provider: 'openai';
      /** API root with the version (`https://api.openai.com/v1`); empty = not configured. */
      baseUrl: string;
      apiKey?: string;
      /** Default 'whisper-1'. */
      model?: string;
      language?: string;
      timeoutMs?: number;
    }
  | {
      provider: 'sherpa-onnx';
      modelDir: string;
      kind?: SherpaAsrKind;
      language?: string;
    };

/** A built provider, or why none can work. */
export interface StageAsrProvider {
  provider: AsrProvider | undefined;
  /** Set when recognition cannot work as configured (the stage then answers with `say`). */
  unavailableReason?: string;
  /** Short label for status texts. */
  label: string;
}

/**
 * Build the provider a stage config asks for. Never throws for a missing model, decoder or
 * endpoint: that comes back as `unavailableReason`, so a flow deploys and can say what is wrong.
 *
 * @param onWarning told about phrases the pocketsphinx dictionary cannot pronounce
 */
export function createStageAsrProvider(spec: AsrProviderSpec, onWarning?: (message: string) => void): StageAsrProvider {
  switch (spec.provider) {
    case 'pocketsphinx': {
      const reason = PocketsphinxAsr.available() ? undefined : PocketsphinxAsr.unavailableReason() ?? 'pocketsphinx decoder not built';
      const provider = new PocketsphinxAsr({
        phrases: spec.phrases && spec.phrases.length > 0 ? spec.phrases : DEFAULT_ASR_PHRASES,
        ...(onWarning ? { onWarning } : {}),
      });
      return { provider, label: 'pocketsphinx', ...(reason !== undefined ? { unavailableReason: reason } : {}) };
    }
    case 'openai': {
      if (!spec.baseUrl) {
        return { provider: undefined, label: 'openai', unavailableReason: 'no OpenAI-compatible endpoint configured (set its Base URL)' };
      }
      const provider = new OpenAiTranscriptionAsr({
        baseUrl: spec.baseUrl,
        apiKey: spec.apiKey ?? '',
        model: spec.model || 'whisper-1',
        ...(spec.language ? { language: spec.language } : {}),
        ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
      });
      return { provider, label: spec.model || 'whisper-1' };
    }
    case 'sherpa-onnx': {
      const kind = spec.kind ?? 'sense-voice';
      if (!spec.modelDir) return { provider: undefined, label: `sherpa-onnx ${kind}`, unavailableReason: 'no sherpa-onnx model folder configured' };
      if (!existsSync(spec.modelDir)) {
        return {
          provider: undefined,
          label: `sherpa-onnx ${kind}`,
          unavailableReason: `model folder ${spec.modelDir} not found (download one with npm run models)`,
        };
      }
      const provider = new SherpaOnnxAsr({ modelDir: spec.modelDir, kind, ...(spec.language ? { language: spec.language } : {}) });
      return { provider, label: `sherpa-onnx ${kind}` };
    }
    default:
      return { provider: undefined, label: 'asr', unavailableReason: `unknown ASR provider "${String((spec as { provider: unknown }).provider)}"` };
  }
}

/** Where the stage sends its results. */
export interface AsrStageOutputs {
  send(msg: PipelineMsg): void;
  /** A failure worth a log line (recognition errors, dropped phrases). */
  warn(message: string): void;
  /** Busy count, last result or availability changed (status display). */
  onChange?(): void;
}

/** Options of {@link AsrStage}. */
export interface AsrStageOptions {
  /** Whole recognition deadline per utterance. Default 20000 ms. */
  timeoutMs?: number;
  /** Language hint passed to the provider (openai). */
  language?: string;
  /** Known up front: recognition cannot work (every utterance gets a `say` with this reason). */
  unavailableReason?: string;
  /**
   * Grammar recognisers (pocketsphinx): add the phrases intent nodes publish on the phrase bus
   * to `basePhrases`, and follow their changes. Ignored for providers without a phrase list.
   * Default false.
   */
  followPhraseBus?: boolean;
  /** The stage's own phrases that bus phrases are added to. Default {@link DEFAULT_ASR_PHRASES}. */
  basePhrases?: readonly string[];
  /** Bus changes are applied this long after the last one (a grammar rebuild costs). Default 500 ms. */
  phraseDebounceMs?: number;
  /** Bus to follow; default the process-wide one (tests pass their own). */
  phraseBus?: PhraseBus;
  /** Told after bus phrases were applied: phrases kept in the grammar, how many came from the bus. */
  onPhrasesApplied?(kept: number, fromBus: number): void;
}

/** Counts and last outcome, for status displays. */
export interface AsrStageStats {
  /** Utterances being recognised now. */
  busy: number;
  recognised: number;
  empty: number;
  failed: number;
  /** Results dropped because their turn was over. */
  stale: number;
  /** Why recognition cannot work as configured (known at start). */
  unavailableReason?: string;
  /** The last recognition failed in a way that says the recogniser cannot work (cleared by a success). */
  brokenReason?: string;
  lastText?: string;
  /** asrEnd - asrStart of the last result. */
  lastMs?: number;
  lastError?: string;
}

interface InFlight {
  controller: AbortController;
  turn: number | undefined;
}

/** A thing the provider may have: a run-time phrase list (pocketsphinx). */
interface PhraseProvider {
  setPhrases(phrases: readonly string[]): { phrases: readonly string[]; dropped: readonly string[] };
}

/** Runs one recognition per utterance with turn-aware aborts and a deadline. */
export class AsrStage {
  private readonly guard = new TurnGuard();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly timeoutMs: number;
  private readonly language: string | undefined;
  private readonly unavailableReason: string | undefined;
  private readonly counts = { recognised: 0, empty: 0, failed: 0, stale: 0 };
  private last: { text?: string; ms?: number; error?: string } = {};
  /** Set by a failure that says the recogniser cannot work (model, decoder, endpoint); cleared by a success. */
  private brokenByFailure: string | undefined;
  private closed = false;
  private basePhrases: readonly string[];
  private readonly bus: PhraseBus | undefined;
  private busTimer: NodeJS.Timeout | undefined;
  private readonly onBusChange = (): void => this.scheduleBusPhrases();

  constructor(
    private readonly provider: AsrProvider | undefined,
    private readonly outputs: AsrStageOutputs,
    private readonly options: AsrStageOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 20_000;
    this.language = options.language || undefined;
    this.unavailableReason = options.unavailableReason ?? (provider ? undefined : 'no speech recogniser configured');
    this.basePhrases = options.basePhrases ?? DEFAULT_ASR_PHRASES;
    const takesPhrases = typeof (provider as Partial<PhraseProvider> | undefined)?.setPhrases === 'function';
    if (options.followPhraseBus && takesPhrases) {
      this.bus = options.phraseBus ?? globalPhraseBus;
      this.bus.on('change', this.onBusChange);
      // Intent nodes created before this one have published already.
      if (this.bus.all().length > 0) this.scheduleBusPhrases();
    }
  }

  stats(): AsrStageStats {
    return {
      busy: this.inFlight.size,
      ...this.counts,
      ...(this.unavailableReason !== undefined ? { unavailableReason: this.unavailableReason } : {}),
      ...(this.brokenByFailure !== undefined ? { brokenReason: this.brokenByFailure } : {}),
      ...(this.last.text !== undefined ? { lastText: this.last.text } : {}),
      ...(this.last.ms !== undefined ? { lastMs: this.last.ms } : {}),
      ...(this.last.error !== undefined ? { lastError: this.last.error } : {}),
    };
  }

  /** Handle one msg; resolves when its outputs (if any) have been sent. Never rejects for recognition failures. */
  async handle(msg: PipelineMsg): Promise<void> {
    if (this.closed) return;
    switch (msg.topic) {
      case 'utterance':
        return this.onUtterance(msg);
      case 'asr.phrases':
        this.onPhrases(msg.payload);
        return;
      case 'abort':
      case 'session.end':
        if (typeof msg.session === 'string') this.abortSession(msg.session, msg.topic);
        this.outputs.send(msg);
        return;
      default:
        this.outputs.send(msg);
    }
  }

  /**
   * Replace the recogniser's phrase list (pocketsphinx). Returns the phrases kept; phrases with
   * words the dictionary lacks are dropped (the provider's onWarning tells).
   * @throws Error when the provider has no phrase list
   */
  setPhrases(phrases: readonly string[]): readonly string[] {
    const provider = this.provider as (AsrProvider & Partial<PhraseProvider>) | undefined;
    if (!provider || typeof provider.setPhrases !== 'function') {
      throw new Error(`the ${provider?.name ?? 'configured'} recogniser takes no phrase list (only pocketsphinx does)`);
    }
    // Dropped phrases are reported by the provider itself (its onWarning), once per phrase.
    const grammar = provider.setPhrases(phrases);
    this.outputs.onChange?.();
    return grammar.phrases;
  }

  /** Abort every recognition and stop. The provider is closed too. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.busTimer) clearTimeout(this.busTimer);
    this.bus?.off('change', this.onBusChange);
    for (const entry of this.inFlight.values()) entry.controller.abort(new Error('stage closed'));
    this.inFlight.clear();
    this.guard.clear();
    await this.provider?.close?.().catch(() => undefined);
  }

  // ------------------------------------------------------------------------------------------

  private onPhrases(payload: unknown): void {
    const list = Array.isArray(payload)
      ? payload.filter((p): p is string => typeof p === 'string')
      : typeof payload === 'string'
        ? payload.split(/\r?\n/)
        : [];
    const phrases = list.map((p) => p.trim()).filter((p) => p.length > 0);
    if (phrases.length === 0) {
      this.outputs.warn('asr.phrases needs msg.payload as a non-empty array of phrases');
      return;
    }
    try {
      if (this.bus) {
        // The msg replaces the stage's own list; intent nodes' phrases stay in.
        this.basePhrases = phrases;
        this.applyBusPhrases();
      } else this.setPhrases(phrases);
    } catch (error) {
      this.outputs.warn(error instanceof Error ? error.message : String(error));
    }
  }

  private scheduleBusPhrases(): void {
    if (this.closed) return;
    if (this.busTimer) clearTimeout(this.busTimer);
    // Catalogues change in bursts (zigbee2mqtt republishes every device): rebuild once after them.
    this.busTimer = setTimeout(() => {
      this.busTimer = undefined;
      try {
        this.applyBusPhrases();
      } catch (error) {
        this.outputs.warn(`could not apply intent phrases: ${error instanceof Error ? error.message : String(error)}`);
      }
    }, this.options.phraseDebounceMs ?? 500);
  }

  private applyBusPhrases(): void {
    if (this.closed || !this.bus) return;
    const fromBus = this.bus.all();
    const kept = this.setPhrases([...new Set([...this.basePhrases, ...fromBus])]);
    this.options.onPhrasesApplied?.(kept.length, fromBus.length);
  }

  private abortSession(sessionId: string, reason: string): void {
    const entry = this.inFlight.get(sessionId);
    if (entry) {
      entry.controller.abort(new Error(reason));
      this.inFlight.delete(sessionId);
    }
    this.guard.abort(sessionId, reason);
    this.outputs.onChange?.();
  }

  private async onUtterance(msg: PipelineMsg): Promise<void> {
    const sessionId = typeof msg.session === 'string' ? msg.session : undefined;
    const turn = typeof msg.turn === 'number' ? msg.turn : undefined;
    // Without a session (a flow testing ASR from a file) there is no turn to go stale.
    if (sessionId !== undefined && !this.guard.isCurrent(sessionId, turn)) {
      this.counts.stale++;
      return;
    }
    if (this.unavailableReason !== undefined || !this.provider) {
      this.outputs.send(this.reply(msg, 'say', ASR_UNAVAILABLE_PREFIX + (this.unavailableReason ?? 'no recogniser')));
      return;
    }
    if (!Buffer.isBuffer(msg.payload)) {
      this.fail(msg, `utterance needs msg.payload as a Buffer of 16-bit PCM (got ${typeof msg.payload})`);
      return;
    }
    const sampleRateHz = typeof msg.audio?.sampleRateHz === 'number' ? msg.audio.sampleRateHz : 16000;
    const pcm = bufferToInt16(msg.payload);

    // A new utterance of the session replaces the one still being recognised, even in the same turn.
    const key = sessionId ?? '';
    this.inFlight.get(key)?.controller.abort(new Error('superseded by a newer utterance'));
    const entry: InFlight = { controller: new AbortController(), turn };
    this.inFlight.set(key, entry);
    const turnSignal = sessionId !== undefined ? this.guard.begin(sessionId, turn) : undefined;
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new ProviderError('timeout', `recognition took longer than ${this.timeoutMs} ms`, this.provider?.name)),
      this.timeoutMs,
    );
    const signal = AbortSignal.any([entry.controller.signal, deadline.signal, ...(turnSignal ? [turnSignal] : [])]);
    this.outputs.onChange?.();

    const asrStart = Date.now();
    let result: AsrResult | undefined;
    let failure: unknown;
    try {
      result = await untilAborted(this.provider.transcribe({ pcm, sampleRateHz }, { signal, ...(this.language ? { language: this.language } : {}) }), signal);
    } catch (error) {
      failure = error;
    } finally {
      clearTimeout(timer);
      if (this.inFlight.get(key) === entry) {
        this.inFlight.delete(key);
        if (sessionId !== undefined) this.guard.end(sessionId, turn);
      }
    }
    const asrEnd = Date.now();
    if (this.closed) return;
    const superseded = entry.controller.signal.aborted || turnSignal?.aborted === true;
    if (superseded || (sessionId !== undefined && !this.guard.isCurrent(sessionId, turn))) {
      // The user aborted or spoke again: this result belongs to nobody.
      this.counts.stale++;
      this.outputs.onChange?.();
      return;
    }
    if (failure !== undefined || !result) {
      const error = deadline.signal.aborted ? (deadline.signal.reason as Error) : failure;
      this.fail(msg, error);
      return;
    }
    const text = result.text.trim();
    const timings = { ...(msg.timings ?? {}), asrStart, asrEnd };
    this.last = { text, ms: asrEnd - asrStart };
    // Recovered (e.g. the endpoint is back): the status goes green again.
    this.brokenByFailure = undefined;
    if (!/[\p{L}\p{N}]/u.test(text)) {
      // Noise or silence: end the turn cleanly so the device leaves "listening/thinking".
      this.counts.empty++;
      this.outputs.send({ ...this.reply(msg, 'tts.stop', undefined), timings });
    } else {
      this.counts.recognised++;
      this.outputs.send({
        ...this.reply(msg, 'stt', text),
        timings,
        ...(result.language ? { language: result.language } : this.language ? { language: this.language } : {}),
      });
    }
    this.outputs.onChange?.();
  }

  private fail(msg: PipelineMsg, error: unknown): void {
    this.counts.failed++;
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof ProviderError ? error.code : undefined;
    this.last = { error: message };
    this.outputs.warn(`speech recognition failed: ${message}`);
    const cannotWork = code === 'unavailable' || code === 'model_missing';
    this.brokenByFailure = cannotWork ? message : undefined;
    this.outputs.send(this.reply(msg, 'say', cannotWork ? ASR_UNAVAILABLE_PREFIX + message : ASR_FAILED_TEXT));
    this.outputs.onChange?.();
  }

  /** A msg for the chain built from the utterance msg: same ids and flow properties, new topic and payload. */
  private reply(msg: PipelineMsg, topic: string, payload: unknown): PipelineMsg {
    const { audio: _audio, durationMs: _durationMs, endReason: _endReason, ...rest } = msg;
    return { ...rest, topic, payload };
  }
}

/** Resolve with the work, or reject as soon as the signal aborts (providers may be slow to notice). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
