/**
 * The VAD stage of the voice pipeline (docs/pipeline-messages.md), free of Node-RED: it takes the
 * msgs of `xiaozhi in` as plain objects and emits `utterance` msgs (output 0, the chain) and
 * `speech.start` msgs (output 1). The `xiaozhi vad` node only maps its config and msgs onto it.
 *
 * Per session it keeps a SpeechSegmenter (auto / realtime listening) and a ManualBuffer (manual
 * listening, or any mode when the model could not load), created on the first msg of the session
 * and freed on `session.end` or when the session has left the registry.
 */
import { bufferToInt16, int16ToBuffer } from '../audio/pcm';
import { sessionRegistry } from '../gateway/session-registry';
import { ManualBuffer } from '../providers/vad/manual-buffer';
import { SpeechSegmenter, type SegmenterEvent } from '../providers/vad/segmenter';
import type { VadModel } from '../providers/types';

/** Sample rate of the PCM the stage takes and emits. */
export const VAD_SAMPLE_RATE_HZ = 16000;

/** A pipeline msg as the stages see it (Node-RED msgs, typed loosely: flows may add anything). */
export interface PipelineMsg {
  topic?: string;
  payload?: unknown;
  /** Session id (from `xiaozhi in`). */
  session?: string;
  /** Turn number of the session the msg belongs to. */
  turn?: number;
  device?: { id: string; clientId: string };
  /** Listen mode on `listen.start` and audio msgs. */
  mode?: string;
  audio?: { encoding?: string; sampleRateHz?: number; channels?: number; frameMs?: number };
  /** Epoch ms per stage of this turn. */
  timings?: Record<string, number>;
  [key: string]: unknown;
}

/** The part of a gateway Session the VAD needs (barge-in, idle timer). */
export interface VadSessionHandle {
  readonly speaking: boolean;
  /** Listen mode the device last announced (used until a msg says otherwise). */
  readonly mode?: string;
  markVoiceActivity(): void;
  abortSpeaking(reason?: string): number;
}

/** Where the stage sends its results. */
export interface VadStageOutputs {
  /** Output 0: the chain (utterance, stt, tts.stop, passed-through msgs); output 1: speech events. */
  send(output: 0 | 1, msg: PipelineMsg): void;
  /** A problem worth a log line (reported once per session, not once per frame). */
  warn(message: string): void;
  /** Listening / speaking counts or the model state changed (status display). */
  onChange?(): void;
}

/** Options of {@link VadStage}. Defaults follow xiaozhi-server's VAD settings. */
export interface VadStageOptions {
  /** Probability at or above which a window is voice. Default 0.5. */
  threshold?: number;
  /** Probability at or below which a window is silence (hysteresis). Default 0.3. */
  thresholdLow?: number;
  /** Silence that ends an utterance. Default 500 ms. */
  silenceMs?: number;
  /** Audio kept before the speech onset. Default 600 ms. */
  preRollMs?: number;
  /** Shorter speech is dropped as a click or cough (auto / realtime only). Default 250 ms. */
  minSpeechMs?: number;
  /** An utterance is cut after this much speech. Default 30000 ms. */
  maxUtteranceMs?: number;
  /** Realtime mode: speech while the device speaks aborts its speech. Default true. */
  bargeIn?: boolean;
  /** Audio kept per session while the model is still loading (newest kept). Default 3000 ms. */
  maxPendingMs?: number;
  /** Most audio of one manual-mode utterance (oldest dropped first). Default 60000 ms. */
  maxManualMs?: number;
  /**
   * How often state of sessions that left the registry (and sent nothing since) is freed.
   * Default 10000 ms; 0 turns the sweep off.
   */
  sweepIntervalMs?: number;
  /** Session lookup; default the process-wide sessionRegistry. */
  sessions?: { get(id: string): VadSessionHandle | undefined };
}

/** Load state of the VAD model. */
export type VadModelState = 'loading' | 'ready' | 'failed';

/** Counts for the node status. */
export interface VadStageStats {
  model: VadModelState;
  /** Why the model failed to load. */
  modelError?: string;
  /** Sessions with state. */
  sessions: number;
  /** Sessions between listen start and listen stop (or sending audio). */
  listening: number;
  /** Sessions inside an utterance right now. */
  speaking: number;
  /** Utterances emitted since start. */
  utterances: number;
}

type ListenMode = 'auto' | 'manual' | 'realtime';

interface SessionVad {
  readonly id: string;
  mode: ListenMode;
  /** Turn of the last msg of the session (audio frames carry it). */
  turn: number | undefined;
  device: PipelineMsg['device'];
  listening: boolean;
  segmenter: SpeechSegmenter | undefined;
  manual: ManualBuffer;
  /** Frames held while the model loads. */
  pending: Int16Array[];
  pendingSamples: number;
  /** Emissions of this session in msg order. */
  tail: Promise<void>;
  lastSeenMs: number;
  warned: Set<string>;
}

const LISTEN_MODES: readonly string[] = ['auto', 'manual', 'realtime'];

/**
 * Turns a device's audio into utterances. Call {@link handle} for every msg; outputs go through
 * the callbacks in the order of the msgs of each session.
 */
export class VadStage {
  private readonly options: Required<Omit<VadStageOptions, 'sessions'>>;
  private readonly sessions: { get(id: string): VadSessionHandle | undefined };
  private readonly states = new Map<string, SessionVad>();
  private model: VadModel | undefined;
  private modelState: VadModelState = 'loading';
  private modelError: string | undefined;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private utteranceCount = 0;
  private closed = false;

  /**
   * @param model the loading model (shared Silero or WebRTC); frames wait (bounded) until it is
   *   ready; if it rejects, every mode falls back to buffering until `listen.stop`
   */
  constructor(
    model: Promise<VadModel>,
    private readonly outputs: VadStageOutputs,
    options: VadStageOptions = {},
  ) {
    this.options = {
      threshold: options.threshold ?? 0.5,
      thresholdLow: options.thresholdLow ?? 0.3,
      silenceMs: options.silenceMs ?? 500,
      preRollMs: options.preRollMs ?? 600,
      minSpeechMs: options.minSpeechMs ?? 250,
      maxUtteranceMs: options.maxUtteranceMs ?? 30_000,
      bargeIn: options.bargeIn ?? true,
      maxPendingMs: options.maxPendingMs ?? 3000,
      maxManualMs: options.maxManualMs ?? 60_000,
      sweepIntervalMs: options.sweepIntervalMs ?? 10_000,
    };
    this.sessions = options.sessions ?? { get: (id) => sessionRegistry.get(id) };
    model.then(
      (loaded) => this.onModelReady(loaded),
      (error: unknown) => this.onModelFailed(error),
    );
    if (this.options.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), this.options.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  /** Counts for status displays. */
  stats(): VadStageStats {
    let listening = 0;
    let speaking = 0;
    for (const s of this.states.values()) {
      if (s.listening) listening++;
      if (s.segmenter?.inSpeech || (s.listening && this.usesManualBuffer(s) && s.manual.durationMs > 0)) speaking++;
    }
    return {
      model: this.modelState,
      ...(this.modelError !== undefined ? { modelError: this.modelError } : {}),
      sessions: this.states.size,
      listening,
      speaking,
      utterances: this.utteranceCount,
    };
  }

  /**
   * Handle one msg. Resolves once the msg's own outputs (if any) have been sent; audio resolves
   * when its frame has been through the model.
   */
  handle(msg: PipelineMsg): Promise<void> {
    if (this.closed) return Promise.resolve();
    const id = typeof msg.session === 'string' ? msg.session : undefined;
    if (id === undefined) {
      // Not from a device: nothing to segment. Audio is never passed on (17 msgs/s per device).
      if (msg.topic !== 'audio') this.outputs.send(0, msg);
      return Promise.resolve();
    }
    if (msg.topic === 'session.end') return this.endSession(id, msg);
    const state = this.stateFor(id, msg);
    switch (msg.topic) {
      case 'audio':
        return this.onAudio(state, msg);
      case 'listen.start':
        this.resetSession(state);
        if (typeof msg.mode === 'string' && LISTEN_MODES.includes(msg.mode)) state.mode = msg.mode as ListenMode;
        state.listening = true;
        this.changed();
        return state.tail;
      case 'listen.stop':
        return this.onListenStop(state, msg);
      case 'listen.detect': {
        // Typed text or a wake word: no audio to recognise, so it goes on as what the user said.
        const text = typeof msg.payload === 'string' ? msg.payload.trim() : '';
        const out: PipelineMsg = text ? { ...msg, topic: 'stt', payload: text } : { ...msg, topic: 'tts.stop', payload: undefined };
        return this.enqueue(state, () => this.outputs.send(0, out));
      }
      case 'abort':
        this.resetSession(state);
        this.changed();
        return this.enqueue(state, () => this.outputs.send(0, msg));
      default:
        return this.enqueue(state, () => this.outputs.send(0, msg));
    }
  }

  /** Free every session's state and stop the sweep. The model itself belongs to the caller. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const state of this.states.values()) this.freeState(state);
    this.states.clear();
  }

  // ------------------------------------------------------------------------------------------

  private stateFor(id: string, msg: PipelineMsg): SessionVad {
    let state = this.states.get(id);
    if (!state) {
      const session = this.sessions.get(id);
      const mode = typeof msg.mode === 'string' ? msg.mode : typeof session?.mode === 'string' ? session.mode : 'auto';
      state = {
        id,
        mode: LISTEN_MODES.includes(mode) ? (mode as ListenMode) : 'auto',
        turn: undefined,
        device: undefined,
        listening: false,
        segmenter: undefined,
        manual: new ManualBuffer({ maxMs: this.options.maxManualMs, sampleRateHz: VAD_SAMPLE_RATE_HZ }),
        pending: [],
        pendingSamples: 0,
        tail: Promise.resolve(),
        lastSeenMs: Date.now(),
        warned: new Set(),
      };
      this.states.set(id, state);
    }
    state.lastSeenMs = Date.now();
    if (typeof msg.turn === 'number') state.turn = msg.turn;
    if (msg.device) state.device = msg.device;
    return state;
  }

  private usesManualBuffer(state: SessionVad): boolean {
    return state.mode === 'manual' || this.modelState === 'failed';
  }

  private onAudio(state: SessionVad, msg: PipelineMsg): Promise<void> {
    const pcm = this.pcmOf(state, msg);
    if (!pcm) return Promise.resolve();
    if (typeof msg.mode === 'string' && LISTEN_MODES.includes(msg.mode)) state.mode = msg.mode as ListenMode;
    if (!state.listening) {
      state.listening = true;
      this.changed();
    }
    if (this.usesManualBuffer(state)) {
      const wasEmpty = state.manual.durationMs === 0;
      state.manual.push(pcm);
      if (wasEmpty) this.changed();
      return Promise.resolve();
    }
    if (this.modelState === 'loading') {
      this.holdPending(state, pcm);
      return Promise.resolve();
    }
    return this.pushToSegmenter(state, pcm, state.turn);
  }

  /** The frame as 16 kHz PCM, or undefined (with a one-time warning) when it is something else. */
  private pcmOf(state: SessionVad, msg: PipelineMsg): Int16Array | undefined {
    const encoding = msg.audio?.encoding ?? 'pcm_s16le';
    const rate = msg.audio?.sampleRateHz ?? VAD_SAMPLE_RATE_HZ;
    if (!Buffer.isBuffer(msg.payload) || encoding !== 'pcm_s16le' || rate !== VAD_SAMPLE_RATE_HZ) {
      this.warnOnce(
        state,
        'bad-audio',
        `session ${state.id.slice(0, 8)}: audio msgs must be 16 kHz 16-bit PCM Buffers (got ${Buffer.isBuffer(msg.payload) ? `${encoding} at ${rate} Hz` : typeof msg.payload}); set "Audio" of xiaozhi in to 16 kHz PCM`,
      );
      return undefined;
    }
    // Copied: the frame Buffer may be reused or shared with other wires.
    return bufferToInt16(msg.payload).slice();
  }

  private holdPending(state: SessionVad, pcm: Int16Array): void {
    state.pending.push(pcm);
    state.pendingSamples += pcm.length;
    const maxSamples = Math.round((this.options.maxPendingMs * VAD_SAMPLE_RATE_HZ) / 1000);
    while (state.pendingSamples > maxSamples && state.pending.length > 1) {
      state.pendingSamples -= state.pending.shift()!.length;
    }
  }

  private segmenterOf(state: SessionVad): SpeechSegmenter {
    if (!state.segmenter) {
      const model = this.model!;
      state.segmenter = new SpeechSegmenter(model.createStream(), model.windowSamples, {
        threshold: this.options.threshold,
        thresholdLow: this.options.thresholdLow,
        silenceMs: this.options.silenceMs,
        preRollMs: this.options.preRollMs,
        minSpeechMs: this.options.minSpeechMs,
        maxUtteranceMs: this.options.maxUtteranceMs,
        sampleRateHz: VAD_SAMPLE_RATE_HZ,
      });
    }
    return state.segmenter;
  }

  private pushToSegmenter(state: SessionVad, pcm: Int16Array, turn: number | undefined): Promise<void> {
    let events: Promise<SegmenterEvent[]>;
    try {
      // Called now, not from the tail: the model batches windows enqueued in the same loop turn.
      events = this.segmenterOf(state).push(pcm);
    } catch (error) {
      this.onSegmenterError(state, error);
      return Promise.resolve();
    }
    events.catch(() => undefined);
    return this.enqueue(state, async () => {
      let list: SegmenterEvent[];
      try {
        list = await events;
      } catch (error) {
        this.onSegmenterError(state, error);
        return;
      }
      this.applyEvents(state, list, turn);
    });
  }

  private onSegmenterError(state: SessionVad, error: unknown): void {
    if (this.closed || this.states.get(state.id) !== state) return;
    this.warnOnce(state, 'model', `session ${state.id.slice(0, 8)}: VAD failed: ${error instanceof Error ? error.message : String(error)}`);
    // Start over with fresh model state rather than feed a broken stream.
    state.segmenter?.close();
    state.segmenter = undefined;
  }

  private applyEvents(state: SessionVad, events: SegmenterEvent[], turn: number | undefined): void {
    for (const event of events) {
      if (event.type === 'speech_start') this.onSpeechStart(state, turn, event.atMs);
      else if (event.type === 'speech_end') {
        this.emitUtterance(state, event.audio, turn, event.reason);
      }
    }
    if (events.length > 0) this.changed();
  }

  private onSpeechStart(state: SessionVad, turn: number | undefined, atMs: number): void {
    const session = this.sessions.get(state.id);
    session?.markVoiceActivity();
    let bargeIn = false;
    if (this.options.bargeIn && state.mode === 'realtime' && session?.speaking) {
      // The user talks over the device: stop its speech now; the utterance that follows carries
      // the new turn (the gateway stamps later frames with it).
      session.abortSpeaking('barge-in');
      bargeIn = true;
    }
    this.outputs.send(1, {
      topic: 'speech.start',
      session: state.id,
      turn,
      device: state.device,
      mode: state.mode,
      payload: { atMs },
      bargeIn,
    });
  }

  private emitUtterance(state: SessionVad, pcm: Int16Array, turn: number | undefined, endReason: string): void {
    this.utteranceCount++;
    this.outputs.send(0, {
      topic: 'utterance',
      session: state.id,
      turn,
      device: state.device,
      mode: state.mode,
      payload: int16ToBuffer(pcm),
      audio: { encoding: 'pcm_s16le', sampleRateHz: VAD_SAMPLE_RATE_HZ, channels: 1 },
      durationMs: Math.round((pcm.length * 1000) / VAD_SAMPLE_RATE_HZ),
      endReason,
      timings: { speechEnd: Date.now() },
    });
  }

  private onListenStop(state: SessionVad, msg: PipelineMsg): Promise<void> {
    state.listening = false;
    const turn = state.turn;
    if (this.usesManualBuffer(state) || (this.modelState === 'loading' && state.pendingSamples > 0)) {
      // Manual (push to talk): everything since listen start is the utterance, however short.
      // Also used when the model is still loading or failed: the device has said speech ended.
      for (const pcm of state.pending.splice(0)) state.manual.push(pcm);
      state.pendingSamples = 0;
      const pcm = state.manual.take();
      this.changed();
      return this.enqueue(state, () => {
        if (pcm.length > 0) this.emitUtterance(state, pcm, turn, 'listen_stop');
        // Nothing was said: end the turn so the device does not wait in "listening" for a reply.
        else this.outputs.send(0, { ...msg, topic: 'tts.stop', payload: undefined, turn });
      });
    }
    this.changed();
    if (!state.segmenter) return state.tail;
    const flushed = state.segmenter.flush();
    flushed.catch(() => undefined);
    return this.enqueue(state, async () => {
      try {
        this.applyEvents(state, await flushed, turn);
      } catch (error) {
        this.onSegmenterError(state, error);
      }
    });
  }

  /** listen.start / abort: forget audio of the old turn (pushes in flight then emit nothing). */
  private resetSession(state: SessionVad): void {
    state.segmenter?.reset();
    state.manual.clear();
    state.pending = [];
    state.pendingSamples = 0;
  }

  private endSession(id: string, msg: PipelineMsg): Promise<void> {
    const state = this.states.get(id);
    if (!state) {
      this.outputs.send(0, msg);
      return Promise.resolve();
    }
    this.states.delete(id);
    this.freeState(state);
    this.changed();
    return this.enqueue(state, () => this.outputs.send(0, msg));
  }

  private freeState(state: SessionVad): void {
    state.segmenter?.close();
    state.segmenter = undefined;
    state.manual.clear();
    state.pending = [];
    state.pendingSamples = 0;
  }

  /** Run fn after the session's earlier emissions, so outputs keep the order of the msgs. */
  private enqueue(state: SessionVad, fn: () => void | Promise<void>): Promise<void> {
    const run = state.tail.then(async () => {
      if (this.closed) return;
      await fn();
    });
    state.tail = run.catch(() => undefined);
    return run;
  }

  private onModelReady(model: VadModel): void {
    if (this.closed) return;
    this.model = model;
    this.modelState = 'ready';
    for (const state of this.states.values()) {
      if (state.pending.length === 0 || this.usesManualBuffer(state)) continue;
      const frames = state.pending.splice(0);
      state.pendingSamples = 0;
      for (const pcm of frames) void this.pushToSegmenter(state, pcm, state.turn);
    }
    this.changed();
  }

  private onModelFailed(error: unknown): void {
    if (this.closed) return;
    this.modelState = 'failed';
    this.modelError = error instanceof Error ? error.message : String(error);
    // Keep what was heard: with no model, listen.stop ends the utterance.
    for (const state of this.states.values()) {
      for (const pcm of state.pending.splice(0)) state.manual.push(pcm);
      state.pendingSamples = 0;
    }
    this.outputs.warn(`VAD model failed to load: ${this.modelError}; utterances now end only on listen stop (manual mode)`);
    this.changed();
  }

  private sweep(): void {
    const now = Date.now();
    let removed = false;
    for (const [id, state] of this.states) {
      if (this.sessions.get(id) || now - state.lastSeenMs < this.options.sweepIntervalMs) continue;
      this.states.delete(id);
      this.freeState(state);
      removed = true;
    }
    if (removed) this.changed();
  }

  private warnOnce(state: SessionVad, key: string, message: string): void {
    if (state.warned.has(key)) return;
    state.warned.add(key);
    this.outputs.warn(message);
  }

  private changed(): void {
    this.outputs.onChange?.();
  }
}
