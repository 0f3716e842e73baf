/** Options of {@link ManualBuffer}. */
export interface ManualBufferOptions {
  /** Most audio kept; older audio is dropped first. Default 60000 ms. */
  maxMs?: number;
  /** Rate of the pushed PCM. Default 16000. */
  sampleRateHz?: number;
}

/**
 * Audio buffer for manual listening mode (protocol.md §6.1: no VAD, everything between
 * `listen start` and `listen stop` is the utterance). Bounded: a device that never sends
 * `listen stop` cannot grow memory past maxMs; the oldest audio goes first.
 */
export class ManualBuffer {
  /** Bound in ms. */
  readonly maxMs: number;
  readonly sampleRateHz: number;
  private readonly maxSamples: number;
  private chunks: Int16Array[] = [];
  private length = 0;
  private dropped = 0;

  constructor(options: ManualBufferOptions = {}) {
    this.maxMs = options.maxMs ?? 60000;
    this.sampleRateHz = options.sampleRateHz ?? 16000;
    this.maxSamples = Math.max(0, Math.round((this.maxMs * this.sampleRateHz) / 1000));
  }

  /** Buffered audio in ms. */
  get durationMs(): number {
    return (this.length * 1000) / this.sampleRateHz;
  }

  /** Samples dropped because the bound was reached, since the last take() or clear(). */
  get droppedSamples(): number {
    return this.dropped;
  }

  /** Append PCM (copied: callers may reuse their buffer). */
  push(pcm: Int16Array): void {
    if (pcm.length === 0) return;
    this.chunks.push(pcm.slice());
    this.length += pcm.length;
    let excess = this.length - this.maxSamples;
    while (excess > 0) {
      const head = this.chunks[0]!;
      if (head.length <= excess) {
        this.chunks.shift();
        this.length -= head.length;
        this.dropped += head.length;
        excess -= head.length;
      } else {
        this.chunks[0] = head.subarray(excess);
        this.length -= excess;
        this.dropped += excess;
        excess = 0;
      }
    }
  }

  /** Return all buffered audio as one array and empty the buffer. */
  take(): Int16Array {
    const out = new Int16Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    this.clear();
    return out;
  }

  /** Drop everything. */
  clear(): void {
    this.chunks = [];
    this.length = 0;
    this.dropped = 0;
  }
}
