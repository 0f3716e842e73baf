/**
 * Turns a batch TTS provider into sentence-streamed speech: while sentence N plays, sentences
 * N+1.. are already being synthesized, yet audio comes out strictly in sentence order.
 */
import { ProviderError, type PcmAudio, type TtsOptions, type TtsProvider } from '../types';
import { cleanTextForSpeech } from './text-cleanup';

/** Options of SentenceSynthesizer. */
export interface SentenceSynthesizerOptions {
  /**
   * Sentences synthesized ahead of the consumer, the one it waits for included. Default 2:
   * enough to hide synthesis time behind playback without flooding a paid API.
   */
  concurrency?: number;
  /** Deadline per sentence; a late sentence becomes an error item. Default 10,000 ms. */
  timeoutMs?: number;
  /**
   * Applied to each sentence before synthesis; a sentence it empties is skipped (no item).
   * Default cleanTextForSpeech. Pass `(t) => t` to synthesize text as is.
   */
  cleanText?: (text: string) => string;
  /** Voice, language and speed passed to every synthesize call. */
  ttsOptions?: Omit<TtsOptions, 'signal'>;
}

/** One sentence's result. `index` counts input sentences from 0, skipped ones included. */
export type SynthesizedSentence =
  | { index: number; text: string; audio: PcmAudio; error?: undefined }
  | { index: number; text: string; error: ProviderError; audio?: undefined };

interface Job {
  readonly result: Promise<SynthesizedSentence>;
}

/**
 * Sentence-streaming adapter over any TtsProvider (after livekit agents' StreamAdapter).
 *
 * At most `concurrency` sentences are in flight or finished-but-not-consumed at any time, so a
 * slow consumer (the audio pacer) also holds synthesis back. A failed or timed-out sentence
 * yields an error item and the stream goes on. Aborting the signal, or leaving the for-await
 * loop early, aborts every running synthesis; the iterator then ends without throwing. An
 * error thrown by the input iterable is rethrown after the sentences before it are yielded.
 */
export class SentenceSynthesizer {
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly cleanText: (text: string) => string;
  private readonly ttsOptions: Omit<TtsOptions, 'signal'>;

  constructor(
    private readonly provider: TtsProvider,
    opts: SentenceSynthesizerOptions = {},
  ) {
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 2));
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.cleanText = opts.cleanText ?? cleanTextForSpeech;
    this.ttsOptions = opts.ttsOptions ?? {};
  }

  /** Synthesize each sentence of `sentences`, yielding results in input order. */
  async *synthesizeAll(sentences: AsyncIterable<string> | Iterable<string>, signal?: AbortSignal): AsyncGenerator<SynthesizedSentence, void, undefined> {
    if (signal?.aborted) return;
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });

    const jobs: Array<Job | undefined> = [];
    let consumed = 0; // jobs handed to the consumer so far
    let inputDone = false;
    let inputError: unknown;
    let hasInputError = false;
    // One pending wake-up for each side: the consumer waits for jobs, the pump for room.
    let wakeConsumer: (() => void) | undefined;
    let wakePump: (() => void) | undefined;
    const notifyConsumer = (): void => {
      wakeConsumer?.();
      wakeConsumer = undefined;
    };
    const notifyPump = (): void => {
      wakePump?.();
      wakePump = undefined;
    };
    const stopped = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    stop.signal.addEventListener('abort', () => {
      notifyConsumer();
      notifyPump();
    }, { once: true });

    const iterator = toAsyncIterator(sentences);
    const pump = async (): Promise<void> => {
      let index = 0;
      try {
        while (!stop.signal.aborted) {
          // The input (typically an LLM stream) may block for long: stop waiting on abort.
          const next = await Promise.race([iterator.next(), stopped.then(() => undefined)]);
          if (next === undefined || next.done) break;
          const sentenceIndex = index++;
          const text = this.cleanText(next.value);
          if (text === '') continue;
          while (jobs.length - consumed >= this.concurrency && !stop.signal.aborted) {
            await new Promise<void>((resolve) => (wakePump = resolve));
          }
          if (stop.signal.aborted) break;
          jobs.push({ result: this.synthesizeOne(sentenceIndex, text, stop.signal) });
          notifyConsumer();
        }
      } catch (err) {
        inputError = err;
        hasInputError = true;
      } finally {
        inputDone = true;
        notifyConsumer();
      }
    };
    const pumping = pump();

    try {
      for (;;) {
        while (jobs.length <= consumed && !inputDone && !stop.signal.aborted) {
          await new Promise<void>((resolve) => (wakeConsumer = resolve));
        }
        if (stop.signal.aborted) return;
        const job = jobs[consumed];
        if (!job) {
          if (hasInputError) throw inputError;
          return;
        }
        const item = await Promise.race([job.result, stopped.then(() => undefined)]);
        if (item === undefined || stop.signal.aborted) return;
        jobs[consumed] = undefined; // let the audio be collected once consumed
        consumed++;
        notifyPump();
        yield item;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Ends running syntheses (their providers see the abort) and the pump.
      stop.abort();
      // Tell the input we are done with it; not awaited, it may be blocked mid-next().
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
      void pumping;
    }
  }

  /** Synthesize one sentence under its own deadline; never rejects. */
  private async synthesizeOne(index: number, text: string, stopSignal: AbortSignal): Promise<SynthesizedSentence> {
    const sentence = new AbortController();
    const onStop = (): void => sentence.abort();
    stopSignal.addEventListener('abort', onStop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        sentence.abort();
        reject(new ProviderError('timeout', `sentence ${index} was not synthesized within ${this.timeoutMs} ms`, this.provider.name));
      }, this.timeoutMs);
    });
    try {
      // The race also covers providers that ignore the signal.
      const audio = await Promise.race([this.provider.synthesize(text, { ...this.ttsOptions, signal: sentence.signal }), deadline]);
      return { index, text, audio };
    } catch (err) {
      return { index, text, error: toProviderError(err, this.provider.name) };
    } finally {
      clearTimeout(timer);
      stopSignal.removeEventListener('abort', onStop);
    }
  }
}

function toProviderError(err: unknown, provider: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError('failed', message, provider, { cause: err });
}

function toAsyncIterator(source: AsyncIterable<string> | Iterable<string>): AsyncIterator<string> {
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
  const sync = source[Symbol.iterator]();
  return {
    next: async () => sync.next(),
    return: async () => sync.return?.() ?? { done: true, value: undefined },
  };
}
