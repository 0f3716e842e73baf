import type { VadModelStream } from '../types';
import { ProviderError } from '../types';

/** Options of {@link SpeechSegmenter}. Defaults follow xiaozhi-server's SileroVAD config (protocol.md §6.1, §6.2). */
export interface SpeechSegmenterOptions {
  /** Probability at or above which a window is voice. Default 0.5. */
  threshold?: number;
  /** Probability at or below which a window is silence; in between, the previous decision holds. Default 0.3. */
  thresholdLow?: number;
  /** Number of most recent window decisions that vote. Default 5. */
  windowsVoted?: number;
  /** Voiced windows among the voted ones that make "voice present". Default 3. */
  votesNeeded?: number;
  /** Silence after the last voiced window that ends an utterance. Default 500 ms. */
  silenceMs?: number;
  /** Audio kept before the speech onset and put in front of the utterance. Default 600 ms. */
  preRollMs?: number;
  /** Audio kept after the last voiced window (ASR likes a short tail). Default 200 ms, capped by silenceMs. */
  postRollMs?: number;
  /** Utterances with less speech than this are dropped as clicks/coughs. Default 250 ms. */
  minSpeechMs?: number;
  /** An utterance is ended by force after this much speech. Default 30000 ms. */
  maxUtteranceMs?: number;
  /** Rate of the pushed PCM; only used to convert samples to ms (the model fixes the real rate). Default 16000. */
  sampleRateHz?: number;
}

/** Speech began. Times are positions in the pushed audio (ms since the first sample or the last reset). */
export interface SpeechStartEvent {
  type: 'speech_start';
  /** Start of the first voiced window of the vote that triggered it: the onset. */
  atMs: number;
  /** Position at which the segmenter could tell (end of the deciding window). */
  detectedAtMs: number;
}

/** An utterance ended. */
export interface SpeechEndEvent {
  type: 'speech_end';
  /** End of the last voiced window (or the forced end position). */
  atMs: number;
  /** Same as the matching speech_start's atMs. */
  startMs: number;
  /** Speech length: atMs - startMs (pre-roll and tail not counted). */
  durationMs: number;
  /** The utterance: pre-roll + speech + tail, mono PCM at sampleRateHz. */
  audio: Int16Array;
  /** Why it ended: silenceMs of silence, maxUtteranceMs reached, or flush() called. */
  reason: 'silence' | 'max_length' | 'flush';
  /** Position at which the end was decided. */
  detectedAtMs: number;
}

/** A started utterance was dropped. */
export interface SpeechDiscardedEvent {
  type: 'discarded';
  reason: 'too_short';
  /** Speech length that was too short. */
  durationMs: number;
  /** Onset of the dropped speech. */
  atMs: number;
}

export type SegmenterEvent = SpeechStartEvent | SpeechEndEvent | SpeechDiscardedEvent;

/** A window of audio with its position. */
interface PositionedWindow {
  startSample: number;
  pcm: Int16Array;
}

/**
 * Per-session endpointing over a {@link VadModelStream}: cuts pushed PCM into model windows,
 * applies hysteresis and a vote over recent windows, and emits speech_start / speech_end (with the
 * utterance audio) / discarded events.
 *
 * It counts samples, never reads a clock: the same audio gives the same events whatever the chunk
 * sizes and however fast it arrives, which keeps tests deterministic and lets it run faster than
 * real time (xiaozhi-server uses the wall clock, which only works in real time).
 */
export class SpeechSegmenter {
  private readonly threshold: number;
  private readonly thresholdLow: number;
  private readonly windowsVoted: number;
  private readonly votesNeeded: number;
  private readonly silenceSamples: number;
  private readonly preRollSamples: number;
  private readonly postRollSamples: number;
  private readonly minSpeechSamples: number;
  private readonly maxUtteranceSamples: number;
  private readonly sampleRateHz: number;
  private readonly windowSamples: number;

  /** Samples not yet making a full window. */
  private readonly partial: Int16Array;
  private partialLength = 0;
  /** Sample position of the next window to be cut. */
  private nextWindowStart = 0;

  private previousVoice = false;
  /** Most recent decisions, oldest first, at most windowsVoted. */
  private votes: boolean[] = [];
  private lastVoiceEnd = -1;
  private speaking = false;
  /** Idle: recent windows for the pre-roll. */
  private history: PositionedWindow[] = [];
  /** Speaking: windows of the utterance, from the pre-roll start. */
  private utterance: PositionedWindow[] = [];
  private utteranceStartSample = 0;
  private speechStartSample = 0;

  /** Serialises push/flush so windows reach the model in order. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Bumped by reset(): results of pushes in flight are dropped. */
  private epoch = 0;
  private closed = false;

  /**
   * @param stream per-session model stream (the segmenter owns it: reset and close pass through)
   * @param windowSamples window size the model wants (VadModel.windowSamples)
   */
  constructor(
    private readonly stream: VadModelStream,
    windowSamples: number,
    options: SpeechSegmenterOptions = {},
  ) {
    this.threshold = options.threshold ?? 0.5;
    this.thresholdLow = Math.min(options.thresholdLow ?? 0.3, this.threshold);
    this.windowsVoted = Math.max(1, Math.round(options.windowsVoted ?? 5));
    this.votesNeeded = Math.min(this.windowsVoted, Math.max(1, Math.round(options.votesNeeded ?? 3)));
    this.sampleRateHz = options.sampleRateHz ?? 16000;
    const samples = (ms: number): number => Math.round((ms * this.sampleRateHz) / 1000);
    this.silenceSamples = samples(options.silenceMs ?? 500);
    this.preRollSamples = samples(options.preRollMs ?? 600);
    this.postRollSamples = Math.min(samples(options.postRollMs ?? 200), this.silenceSamples);
    this.minSpeechSamples = samples(options.minSpeechMs ?? 250);
    this.maxUtteranceSamples = samples(options.maxUtteranceMs ?? 30000);
    if (!Number.isInteger(windowSamples) || windowSamples < 1) {
      throw new ProviderError('failed', `windowSamples must be a positive integer, got ${windowSamples}`, 'segmenter');
    }
    this.windowSamples = windowSamples;
    this.partial = new Int16Array(windowSamples);
  }

  /** True between speech_start and speech_end/discarded. */
  get inSpeech(): boolean {
    return this.speaking;
  }

  /** Audio pushed so far (since construction or reset), in ms. */
  get positionMs(): number {
    return this.toMs(this.nextWindowStart + this.partialLength);
  }

  /**
   * Feed PCM of any length. Resolves with the events this audio caused, in order. Calls are
   * serialised, so they may be issued without awaiting the previous one.
   */
  push(pcm: Int16Array): Promise<SegmenterEvent[]> {
    if (this.closed) return Promise.reject(new ProviderError('failed', 'segmenter is closed', 'segmenter'));
    const windows = this.cut(pcm);
    const epoch = this.epoch;
    // Enqueue all windows now (the model keeps per-stream order), so a batching model sees them
    // in this very loop turn; decisions are applied in order once the probabilities are back.
    const probabilities = Promise.all(windows.map((w) => this.stream.process(w.pcm)));
    // Awaited below, possibly after it settles: mark it handled so a model error cannot surface
    // as an unhandled rejection in between. The error still rejects this push.
    probabilities.catch(() => undefined);
    const run = this.chain.then(async () => {
      const probs = await probabilities;
      if (epoch !== this.epoch) return [];
      const events: SegmenterEvent[] = [];
      for (let i = 0; i < windows.length; i++) this.decide(windows[i]!, probs[i]!, events);
      return events;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * End the utterance in progress (e.g. on `listen stop`), including samples that do not fill a
   * window yet. Resolves with its speech_end or discarded event, or nothing when idle.
   */
  flush(): Promise<SegmenterEvent[]> {
    if (this.closed) return Promise.reject(new ProviderError('failed', 'segmenter is closed', 'segmenter'));
    const epoch = this.epoch;
    const run = this.chain.then(() => {
      if (epoch !== this.epoch || !this.speaking) return [];
      const events: SegmenterEvent[] = [];
      const end = this.nextWindowStart + this.partialLength;
      if (this.partialLength > 0) {
        this.utterance.push({ startSample: this.nextWindowStart, pcm: this.partial.slice(0, this.partialLength) });
      }
      this.finish('flush', end, end, events);
      return events;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Forget all audio and state (positions restart at 0). Pushes in flight resolve with no events. */
  reset(): void {
    this.epoch++;
    this.partialLength = 0;
    this.nextWindowStart = 0;
    this.previousVoice = false;
    this.votes = [];
    this.lastVoiceEnd = -1;
    this.speaking = false;
    this.history = [];
    this.utterance = [];
    if (!this.closed) this.stream.reset();
  }

  /** Release the model stream. Later pushes reject. */
  close(): void {
    if (this.closed) return;
    this.reset();
    this.closed = true;
    this.stream.close();
  }

  /** Append to the partial window and return the full windows cut, with their positions. */
  private cut(pcm: Int16Array): PositionedWindow[] {
    const windows: PositionedWindow[] = [];
    let offset = 0;
    while (offset < pcm.length) {
      const take = Math.min(this.windowSamples - this.partialLength, pcm.length - offset);
      this.partial.set(pcm.subarray(offset, offset + take), this.partialLength);
      this.partialLength += take;
      offset += take;
      if (this.partialLength === this.windowSamples) {
        windows.push({ startSample: this.nextWindowStart, pcm: this.partial.slice() });
        this.nextWindowStart += this.windowSamples;
        this.partialLength = 0;
      }
    }
    return windows;
  }

  /** Apply one window's probability to the state machine. */
  private decide(window: PositionedWindow, probability: number, events: SegmenterEvent[]): void {
    // Hysteresis (§6.1): a clear call either way sets the decision; the grey zone keeps it.
    let voice = this.previousVoice;
    if (probability >= this.threshold) voice = true;
    else if (probability <= this.thresholdLow) voice = false;
    this.previousVoice = voice;

    const end = window.startSample + this.windowSamples;
    if (voice) this.lastVoiceEnd = end;
    this.votes.push(voice);
    if (this.votes.length > this.windowsVoted) this.votes.shift();
    const haveVoice = this.votes.filter(Boolean).length >= this.votesNeeded;

    if (!this.speaking) {
      this.history.push(window);
      // Keep enough for the pre-roll before the earliest onset the vote can report.
      const keep = Math.ceil(this.preRollSamples / this.windowSamples) + this.windowsVoted;
      if (this.history.length > keep) this.history.shift();
      if (haveVoice) this.start(end, events);
      return;
    }

    this.utterance.push(window);
    if (!haveVoice && end - this.lastVoiceEnd >= this.silenceSamples) {
      this.finish('silence', this.lastVoiceEnd, end, events);
    } else if (end - this.speechStartSample >= this.maxUtteranceSamples) {
      this.finish('max_length', end, end, events);
    }
  }

  private start(detectedAt: number, events: SegmenterEvent[]): void {
    const firstVoiced = this.votes.indexOf(true);
    const onset = detectedAt - (this.votes.length - firstVoiced) * this.windowSamples;
    const first = this.history[0];
    const from = Math.max(onset - this.preRollSamples, first === undefined ? onset : first.startSample);
    this.utterance = [];
    for (const w of this.history) {
      const wEnd = w.startSample + w.pcm.length;
      if (wEnd <= from) continue;
      if (w.startSample >= from) this.utterance.push(w);
      else this.utterance.push({ startSample: from, pcm: w.pcm.subarray(from - w.startSample) });
    }
    this.history = [];
    this.utteranceStartSample = from;
    this.speechStartSample = onset;
    this.speaking = true;
    events.push({ type: 'speech_start', atMs: this.toMs(onset), detectedAtMs: this.toMs(detectedAt) });
  }

  private finish(reason: SpeechEndEvent['reason'], speechEnd: number, detectedAt: number, events: SegmenterEvent[]): void {
    const speechSamples = Math.max(0, speechEnd - this.speechStartSample);
    if (speechSamples < this.minSpeechSamples) {
      events.push({
        type: 'discarded',
        reason: 'too_short',
        durationMs: this.toMs(speechSamples),
        atMs: this.toMs(this.speechStartSample),
      });
    } else {
      const audioEnd = Math.min(detectedAt, speechEnd + this.postRollSamples);
      events.push({
        type: 'speech_end',
        atMs: this.toMs(speechEnd),
        startMs: this.toMs(this.speechStartSample),
        durationMs: this.toMs(speechSamples),
        audio: this.collect(this.utteranceStartSample, audioEnd),
        reason,
        detectedAtMs: this.toMs(detectedAt),
      });
    }
    this.speaking = false;
    this.utterance = [];
    // A new utterance needs a fresh vote; the hysteresis decision carries on.
    this.votes = [];
  }

  /** Concatenate utterance audio in [from, to). */
  private collect(from: number, to: number): Int16Array {
    const out = new Int16Array(Math.max(0, to - from));
    for (const w of this.utterance) {
      const lo = Math.max(from, w.startSample);
      const hi = Math.min(to, w.startSample + w.pcm.length);
      if (hi > lo) out.set(w.pcm.subarray(lo - w.startSample, hi - w.startSample), lo - from);
    }
    return out;
  }

  private toMs(samples: number): number {
    return (samples * 1000) / this.sampleRateHz;
  }
}
