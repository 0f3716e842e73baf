/**
 * The TTS step of the voice pipeline, framework-free: `sentence` / `say` / `reply.end` msgs in,
 * `tts.sentence` (subtitle), `audio` (24 kHz 60 ms Opus packets) and `tts.stop` out, following
 * docs/pipeline-messages.md. The `xiaozhi tts` node only maps its config and msgs onto this class.
 */
import { PcmToOpusEncoder } from '../audio/downlink-encoder';
import { SentenceSynthesizer } from '../providers/tts/sentence-stream';
import { cleanTextForSpeech } from '../providers/tts/text-cleanup';
import type { TtsOptions, TtsProvider } from '../providers/types';
import { idsOf, isStaleInput, type StageMessage } from './llm-stage';
import { SentenceSplitter } from './sentence-splitter';
import { TurnGuard } from './turn-guard';

/** msg.audio of the `audio` msgs this stage emits (what `xiaozhi out` and the device expect). */
export const TTS_AUDIO_FORMAT = { encoding: 'opus', sampleRateHz: 24000, channels: 1, frameMs: 60 } as const;

/** What the stage reports for a status display. */
export interface TtsStageStatus {
  /** Turns being spoken right now. */
  speaking: number;
  /** Short text of the last failed sentence, cleared by the next one that succeeds. */
  lastError?: string;
}

/** Options of {@link TtsStage}. */
export interface TtsStageOptions {
  /** The speech engine; undefined sends subtitles only (each turn still ends with `tts.stop`). */
  provider?: TtsProvider;
  /** Sentences synthesized ahead, the current one included. Default 2. */
  concurrency?: number;
  /** Deadline per sentence. Default 10000. */
  timeoutMs?: number;
  /**
   * A reply whose next sentence or end does not come within this time is ended as it stands
   * (`tts.stop`), so a device is never left speaking when an upstream node died mid-reply.
   * Default 60000.
   */
  inputIdleTimeoutMs?: number;
  /** Voice, language and speed for every sentence. */
  ttsOptions?: Omit<TtsOptions, 'signal'>;
  /** Emits one msg (the node's send). */
  send: (msg: StageMessage) => void;
  /** Reports a failed sentence (the node's warn). */
  warn?: (message: string) => void;
  /** Called whenever {@link TtsStageStatus} changes. */
  onStatus?: (status: TtsStageStatus) => void;
}

/**
 * An unbounded single-consumer queue of sentences, ended by `end()`. The LLM stream fills it
 * while the synthesizer drains it, so synthesis overlaps with generation.
 */
class SentenceQueue implements AsyncIterable<string> {
  private readonly items: string[] = [];
  private wake: (() => void) | undefined;
  /** Sentences pushed so far (the synthesizer's item indexes count the same way). */
  pushed = 0;
  ended = false;

  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly idleTimeoutMs: number,
    private readonly onIdle: () => void,
  ) {
    this.armIdleTimer();
  }

  push(text: string): void {
    if (this.ended) return;
    this.items.push(text);
    this.pushed++;
    this.armIdleTimer();
    this.notify();
  }

  end(): void {
    this.ended = true;
    clearTimeout(this.idleTimer);
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    for (;;) {
      const next = this.items.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.ended) return;
      this.end();
      this.onIdle();
    }, this.idleTimeoutMs);
    // A waiting reply must not keep the process alive on its own.
    this.idleTimer.unref();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** One spoken reply: the sentences of one turn of one session, up to its end. */
interface SpeechJob {
  readonly key: string;
  readonly turn: number | undefined;
  readonly queue: SentenceQueue;
  /** Ids and timings of the first msg, copied into every msg the job emits. */
  readonly base: StageMessage;
  done: Promise<void>;
}

/**
 * Speaks replies sentence by sentence. For each synthesized sentence, in order, it emits
 * `tts.sentence` then one `audio` msg with that sentence's Opus packets (one encoder per turn,
 * so audio is continuous across sentences); after the last sentence, `tts.stop`. A sentence
 * that fails still gets its subtitle. An `abort`, a newer turn or the session ending stops the
 * turn's synthesis and nothing more of it is emitted (the gateway has already stopped the device).
 */
export class TtsStage {
  private readonly guard = new TurnGuard();
  /** The latest job of each session. */
  private readonly jobs = new Map<string, SpeechJob>();
  private readonly running = new Set<Promise<void>>();
  private readonly synthesizer: SentenceSynthesizer | undefined;
  private readonly options: TtsStageOptions;
  private lastError: string | undefined;
  private closed = false;

  constructor(options: TtsStageOptions) {
    this.options = options;
    if (options.provider) {
      this.synthesizer = new SentenceSynthesizer(options.provider, {
        concurrency: options.concurrency ?? 2,
        timeoutMs: options.timeoutMs ?? 10000,
        ttsOptions: options.ttsOptions,
      });
    }
  }

  /** Turns being spoken right now. */
  get speaking(): number {
    return this.running.size;
  }

  /**
   * Handle one msg. Returns at once for `sentence`; for `say` and `reply.end` the promise
   * settles when that reply has been spoken out (or dropped). Never rejects.
   */
  async handle(msg: StageMessage): Promise<void> {
    if (this.closed) return;
    const key = typeof msg.session === 'string' ? msg.session : '';
    const turn = typeof msg.turn === 'number' ? msg.turn : undefined;
    switch (msg.topic) {
      case 'sentence': {
        if (this.isStale(msg, turn)) return;
        const text = textOf(msg.payload);
        if (cleanTextForSpeech(text) === '') return; // nothing to say or show (an emoji alone)
        this.openJob(msg, key, turn).queue.push(text);
        return;
      }
      case 'say': {
        if (this.isStale(msg, turn)) return;
        const job = this.openJob(msg, key, turn);
        for (const sentence of splitSentences(textOf(msg.payload))) job.queue.push(sentence);
        job.queue.end();
        return job.done;
      }
      case 'reply.end': {
        if (this.isStale(msg, turn)) return;
        // No open job (an empty reply): an empty one still ends the device's turn.
        const job = this.openJob(msg, key, turn);
        job.queue.end();
        return job.done;
      }
      case 'abort':
      case 'session.end':
        this.guard.abort(key, msg.topic);
        this.jobs.delete(key);
        this.options.send(msg);
        return;
      default:
        this.options.send(msg);
    }
  }

  /** Abort every turn (node closing) and wait for the runners to let go of their encoders. */
  async close(): Promise<void> {
    this.closed = true;
    this.guard.clear();
    this.jobs.clear();
    await Promise.all([...this.running]);
  }

  private isStale(msg: StageMessage, turn: number | undefined): boolean {
    return isStaleInput(msg, turn);
  }

  /** The session's job still taking sentences for this turn, or a new one. */
  private openJob(msg: StageMessage, key: string, turn: number | undefined): SpeechJob {
    const current = this.jobs.get(key);
    if (current && current.turn === turn && !current.queue.ended) return current;
    // A newer turn aborts the older one's synthesis (TurnGuard.begin); the same turn keeps its signal.
    const signal = this.guard.begin(key, turn);
    const previous = current && current.turn === turn ? current.done : undefined;
    const idleMs = this.options.inputIdleTimeoutMs ?? 60000;
    const queue = new SentenceQueue(idleMs, () =>
      this.options.warn?.(`tts: no sentence and no reply.end for ${idleMs} ms, ending the reply of turn ${String(turn)}`),
    );
    // Aborted, the reply takes no more input, so the runner cannot wait on it forever.
    signal.addEventListener('abort', () => queue.end(), { once: true });
    const job: SpeechJob = {
      key,
      turn,
      queue,
      base: { ...idsOf(msg), timings: { ...(msg.timings ?? {}) } },
      done: Promise.resolve(),
    };
    this.jobs.set(key, job);
    const run = this.run(job, signal, previous).finally(() => {
      this.running.delete(run);
      // Free the turn only if no later reply of the session took over meanwhile.
      if (this.jobs.get(key) === job) {
        this.jobs.delete(key);
        this.guard.end(key, turn);
      }
      this.report();
    });
    job.done = run;
    this.running.add(run);
    this.report();
    return job;
  }

  private async run(job: SpeechJob, signal: AbortSignal, previous: Promise<void> | undefined): Promise<void> {
    // A second reply of the same turn waits for the first, so their audio does not interleave.
    if (previous) await previous;
    const live = (): boolean =>
      !signal.aborted && !this.closed && (job.base.session === undefined || this.guard.isCurrent(job.base.session, job.turn));
    const emit = (topic: string, payload?: unknown, extra?: Partial<StageMessage>): void => {
      if (!live()) return;
      this.options.send({ ...job.base, timings: { ...job.base.timings }, topic, payload, ...extra });
    };

    if (!this.synthesizer) {
      for await (const text of job.queue) {
        if (!live()) return;
        emit('tts.sentence', cleanTextForSpeech(text));
      }
      emit('tts.stop');
      return;
    }

    const encoder = await PcmToOpusEncoder.create({ outputRateHz: TTS_AUDIO_FORMAT.sampleRateHz, frameMs: TTS_AUDIO_FORMAT.frameMs });
    let flushed = false;
    const emitAudio = (packets: Buffer[]): void => {
      if (packets.length === 0 || !live()) return;
      const timings = job.base.timings!;
      if (timings.ttsFirstAudio === undefined) timings.ttsFirstAudio = Date.now();
      emit('audio', packets, { audio: { ...TTS_AUDIO_FORMAT } });
    };
    try {
      for await (const item of this.synthesizer.synthesizeAll(job.queue, signal)) {
        if (!live()) return;
        emit('tts.sentence', item.text);
        if (item.error) {
          this.setError(item.error.code);
          this.options.warn?.(`tts: sentence "${clip(item.text)}" failed: ${item.error.message}`);
          continue;
        }
        this.setError(undefined);
        const packets = await encoder.push(item.audio.pcm, item.audio.sampleRateHz);
        // The last sentence carries the encoder's tail, so each sentence stays one audio msg.
        if (job.queue.ended && item.index === job.queue.pushed - 1) {
          packets.push(...encoder.flush());
          flushed = true;
        }
        emitAudio(packets);
      }
      if (!live()) return;
      // The input ended after the last sentence was out: its tail goes alone.
      if (!flushed) emitAudio(encoder.flush());
      emit('tts.stop');
    } finally {
      encoder.close();
    }
  }

  private setError(error: string | undefined): void {
    if (error === this.lastError) return;
    this.lastError = error;
    this.report();
  }

  private report(): void {
    this.options.onStatus?.({ speaking: this.running.size, lastError: this.lastError });
  }
}

function textOf(payload: unknown): string {
  return typeof payload === 'string' ? payload : payload === undefined || payload === null ? '' : String(payload);
}

/** Split a whole text at sentence ends (no early cut: it is all there already). */
function splitSentences(text: string): string[] {
  const splitter = new SentenceSplitter({ minFirstCharsCjk: Number.MAX_SAFE_INTEGER, minFirstCharsLatin: Number.MAX_SAFE_INTEGER });
  return [...splitter.push(text), ...splitter.flush()].filter((sentence) => cleanTextForSpeech(sentence) !== '');
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
