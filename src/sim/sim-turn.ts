/**
 * What the simulated device saw during one conversation turn: from the listen start / detect it
 * sent (or the first server message of a server-initiated turn) to the `tts stop` it received.
 */
import { concatInt16 } from '../audio/pcm';

/** How a turn began. */
export type SimTurnTrigger = 'listen' | 'detect' | 'server';

/** Gaps between consecutive downlink audio frames of a turn, in ms. */
export interface FrameGapStats {
  /** Number of gaps (frames - 1). */
  count: number;
  meanMs: number;
  maxMs: number;
  /** 95th percentile (nearest rank). */
  p95Ms: number;
}

/** Record of one turn. Times are ms since the simulator was created (monotonic clock). */
export class SimTurn {
  readonly index: number;
  readonly trigger: SimTurnTrigger;
  readonly startedAtMs: number;
  /** Listen mode the turn ran in (undefined for detect/server turns). */
  listenMode?: 'auto' | 'manual' | 'realtime';
  /** When the last speech frame left (or listen stop / detect was sent): the start of the reply wait. */
  speechEndAtMs?: number;
  /** Text of the last `stt` message. */
  sttText?: string;
  /** Texts of every `tts sentence_start`, in order. */
  readonly sentences: string[] = [];
  /** Last `llm` emotion. */
  emotion?: string;
  ttsStartAtMs?: number;
  ttsStopAtMs?: number;
  /** When the first accepted downlink audio frame arrived. */
  firstAudioAtMs?: number;
  /** When the simulator sent `abort` in this turn. */
  abortedAtMs?: number;
  /** Downlink frames accepted (device speaking) and decoded. */
  audioFrames = 0;
  /** Payload bytes of the accepted frames. */
  audioBytes = 0;
  /** Frames accepted after this turn's abort was sent (a server should stop sending quickly). */
  framesAfterAbort = 0;
  /** Frames discarded because the device was not speaking (FW drops them; protocol §2.5). */
  droppedAudioFrames = 0;
  /** Accepted frames that failed to decode. */
  decodeErrors = 0;
  /** Arrival time of every accepted frame. */
  readonly frameArrivalMs: number[] = [];
  /** Uplink Opus frames sent in this turn. */
  uplinkFrames = 0;
  /** Sample rate of the decoded downlink PCM. */
  downlinkSampleRateHz: number;
  private readonly pcmChunks: Int16Array[] = [];

  constructor(index: number, trigger: SimTurnTrigger, startedAtMs: number, downlinkSampleRateHz: number) {
    this.index = index;
    this.trigger = trigger;
    this.startedAtMs = startedAtMs;
    this.downlinkSampleRateHz = downlinkSampleRateHz;
  }

  /** True once a `tts stop` arrived for this turn. */
  get completed(): boolean {
    return this.ttsStopAtMs !== undefined;
  }

  /** Append decoded downlink samples. */
  addPcm(pcm: Int16Array): void {
    this.pcmChunks.push(pcm);
  }

  /** All decoded downlink audio of the turn, at `downlinkSampleRateHz`. */
  get downlinkPcm(): Int16Array {
    return concatInt16(this.pcmChunks);
  }

  /** Duration of the decoded downlink audio. */
  get audioDurationMs(): number {
    let samples = 0;
    for (const c of this.pcmChunks) samples += c.length;
    return (samples * 1000) / this.downlinkSampleRateHz;
  }

  /** End of speech to first audio frame: what a user perceives as the answer delay. */
  get replyLatencyMs(): number | undefined {
    if (this.speechEndAtMs === undefined || this.firstAudioAtMs === undefined) return undefined;
    return this.firstAudioAtMs - this.speechEndAtMs;
  }

  /** Statistics of the gaps between accepted downlink frames (undefined with fewer than 2 frames). */
  frameGapStats(): FrameGapStats | undefined {
    const gaps: number[] = [];
    for (let i = 1; i < this.frameArrivalMs.length; i++) gaps.push((this.frameArrivalMs[i] ?? 0) - (this.frameArrivalMs[i - 1] ?? 0));
    if (gaps.length === 0) return undefined;
    const sorted = [...gaps].sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)] ?? 0;
    return {
      count: gaps.length,
      meanMs: gaps.reduce((a, b) => a + b, 0) / gaps.length,
      maxMs: sorted[sorted.length - 1] ?? 0,
      p95Ms: p95,
    };
  }
}
