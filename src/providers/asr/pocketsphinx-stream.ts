/**
 * One streamed utterance through a pooled pocketsphinx decoder: chunks are decoded as they arrive
 * (on the libuv thread pool), partial hypotheses come out as the best path changes, and end()
 * yields exactly one final result. Chunks that arrive while the decoder is busy are merged into
 * one call, so small frames cost no more than large ones.
 */
import { concatInt16 } from '../../audio/pcm';
import { Resampler } from '../../audio/resample';
import { ProviderError, type AsrResult, type StreamingAsrSession } from '../types';
import type { DecoderPool, PooledDecoder } from './pocketsphinx-pool';

/** The decoder's sample rate (Debian's en-us model). */
export const POCKETSPHINX_RATE_HZ = 16000;

type StreamResult = AsrResult & { partial: boolean };

/** Options of {@link PocketsphinxStream}. */
export interface PocketsphinxStreamOptions {
  pool: DecoderPool;
  provider: string;
  /** Rate of the PCM given to write(); resampled to 16 kHz when different. */
  sampleRateHz: number;
  /** False when the grammar has no phrase: every utterance ends with text ''. */
  hasGrammar: boolean;
  /** Audio beyond this is ignored (extra.truncated = true). */
  maxUtteranceMs: number;
  /** Emit a partial at most once per this much audio. 0 disables partials. */
  partialIntervalMs: number;
  /** Final hypotheses scoring below this per frame become '' (extra.rejected = true). */
  rejectBelowScorePerFrame?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Single-consumer async queue of results with one terminal error. */
class ResultQueue {
  private readonly items: StreamResult[] = [];
  private error: unknown;
  private finished = false;
  private wake: (() => void) | undefined;

  push(item: StreamResult): void {
    if (this.finished) return;
    this.items.push(item);
    if (!item.partial) this.finished = true;
    this.notify();
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.error = err;
    this.notify();
  }

  get done(): boolean {
    return this.finished;
  }

  async *drain(): AsyncGenerator<StreamResult> {
    for (;;) {
      const item = this.items.shift();
      if (item) {
        yield item;
        if (!item.partial) return;
        continue;
      }
      if (this.finished) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** See the file comment. Created by PocketsphinxAsr.createStream(). */
export class PocketsphinxStream implements StreamingAsrSession {
  private readonly pending: Int16Array[] = [];
  private readonly queue = new ResultQueue();
  private readonly maxInputSamples: number;
  private inputSamples = 0;
  private truncated = false;
  private ended = false;
  private endedAtMs = 0;
  private pumping = false;
  private aborted = false;
  private consumed = false;
  private resampler: Resampler | undefined;
  private decoder: PooledDecoder | undefined;
  private samplesSincePartial = 0;
  private lastPartial = '';
  private readonly onAbort = (): void => {
    this.aborted = true;
    this.queue.fail(new ProviderError('aborted', 'recognition aborted', this.options.provider, { cause: this.options.signal?.reason }));
    this.pending.length = 0;
    this.kick();
  };

  constructor(private readonly options: PocketsphinxStreamOptions) {
    if (!Number.isInteger(options.sampleRateHz) || options.sampleRateHz <= 0) {
      throw new RangeError(`sampleRateHz must be a positive integer, got ${options.sampleRateHz}`);
    }
    this.maxInputSamples = Math.round((options.maxUtteranceMs / 1000) * options.sampleRateHz);
    if (options.signal?.aborted) this.onAbort();
    else options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Add audio (mono Int16 at the stream's rate). Copied, so the caller may reuse its buffer. */
  write(pcm: Int16Array): void {
    if (this.ended || this.aborted || this.queue.done) return;
    const room = this.maxInputSamples - this.inputSamples;
    if (pcm.length > room) this.truncated = true;
    const take = Math.max(0, Math.min(pcm.length, room));
    if (take === 0) return;
    this.pending.push(pcm.slice(0, take));
    this.inputSamples += take;
    this.kick();
  }

  /** No more audio: the final result follows. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.endedAtMs = performance.now();
    this.kick();
  }

  /** Partial results then exactly one final one; rejects with ProviderError on abort or failure. */
  results(): AsyncIterable<StreamResult> {
    if (this.consumed) throw new Error('results() can be iterated only once');
    this.consumed = true;
    return this.queue.drain();
  }

  private kick(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.pump()
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.pumping = false;
        // Work may have arrived during the last await of the pump.
        if (!this.queue.done && (this.pending.length > 0 || this.ended)) this.kick();
        else if (this.queue.done) this.cleanUp();
      });
  }

  private async pump(): Promise<void> {
    const { options } = this;
    if (this.aborted || this.queue.done) return this.cleanUp();
    if (!options.hasGrammar) {
      // Nothing can be recognised: swallow the audio and answer '' without touching a decoder.
      this.pending.length = 0;
      if (this.ended) this.finish({ text: '', partial: false, language: 'en', extra: this.extra(0, 0) });
      return;
    }
    if (!this.resampler && options.sampleRateHz !== POCKETSPHINX_RATE_HZ) {
      this.resampler = await Resampler.create(options.sampleRateHz, POCKETSPHINX_RATE_HZ);
    }
    if (!this.decoder) {
      const pooled = await options.pool.acquire(options.signal);
      if (this.aborted) {
        options.pool.release(pooled);
        return;
      }
      this.decoder = pooled;
      pooled.decoder.startUtterance();
    }
    const decoder = this.decoder.decoder;
    while (this.pending.length > 0 && !this.aborted) {
      let pcm = concatInt16(this.pending.splice(0));
      if (this.resampler) pcm = this.resampler.process(pcm);
      if (pcm.length > 0) await decoder.processRawAsync(pcm);
      this.samplesSincePartial += pcm.length;
      this.maybeEmitPartial();
    }
    if (this.aborted || !this.ended) return;
    if (this.resampler) {
      const tail = this.resampler.flush();
      if (tail.length > 0) await decoder.processRawAsync(tail);
    }
    const result = await decoder.endUtteranceAsync();
    if (this.aborted) return;
    const extra = this.extra(result.score, result.frames);
    const threshold = options.rejectBelowScorePerFrame;
    const rejected = threshold !== undefined && result.text !== '' && (extra.scorePerFrame as number) < threshold;
    this.finish({
      text: rejected ? '' : result.text,
      partial: false,
      language: 'en',
      extra: rejected ? { ...extra, rejected: true, rejectedText: result.text } : extra,
    });
  }

  private maybeEmitPartial(): void {
    const intervalSamples = (this.options.partialIntervalMs / 1000) * POCKETSPHINX_RATE_HZ;
    if (intervalSamples <= 0 || this.samplesSincePartial < intervalSamples || !this.decoder || this.aborted) return;
    this.samplesSincePartial = 0;
    const { text } = this.decoder.decoder.partial();
    if (text && text !== this.lastPartial) {
      this.lastPartial = text;
      this.queue.push({ text, partial: true, language: 'en' });
    }
  }

  private extra(score: number, frames: number): Record<string, unknown> {
    return {
      score,
      frames,
      scorePerFrame: frames > 0 ? Math.round((score / frames) * 10) / 10 : 0,
      decodeMs: this.endedAtMs ? Math.round((performance.now() - this.endedAtMs) * 100) / 100 : undefined,
      truncated: this.truncated,
    };
  }

  private finish(result: StreamResult): void {
    this.queue.push(result);
    this.cleanUp();
  }

  private fail(err: unknown): void {
    const error =
      err instanceof ProviderError
        ? err
        : new ProviderError('failed', `pocketsphinx decoding failed: ${(err as Error).message}`, this.options.provider, { cause: err });
    this.queue.fail(error);
    // A native failure leaves the decoder in an unknown state: free it rather than reuse it.
    if (this.decoder && !(err instanceof ProviderError)) {
      this.options.pool.release(this.decoder, true);
      this.decoder = undefined;
    }
    this.cleanUp();
  }

  /** Return the decoder (never while a native call runs: only called when the pump is idle or done). */
  private cleanUp(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (this.decoder && !this.decoder.decoder.busy) {
      this.options.pool.release(this.decoder);
      this.decoder = undefined;
    }
    if (this.resampler && !this.pumping) {
      this.resampler.close();
      this.resampler = undefined;
    }
  }
}
