import { performance } from 'node:perf_hooks';

/** Where a pacer delivers what it releases (the session's socket). */
export interface PacerSink {
  sendAudio(frame: Buffer): void;
  sendJson(message: object): void;
  /** Called right after the stop message of `finish()` went out. */
  onStopped?(): void;
  /** Gap since the previous frame of the same run, for frames after the pre-roll (metrics). */
  onFrameGap?(gapMs: number): void;
  /** Bracket a release burst (pre-roll, refill): lets the socket gather the frames into one write. */
  cork?(): void;
  uncork?(): void;
}

export interface PacerOptions {
  frameMs: number;
  /** Frames released at once at the start of a run, so the device has a jitter buffer. */
  prerollFrames: number;
  /** Extra wait after the last frame has played before the stop message. */
  stopMarginMs: number;
  /** Frames queued at most; pushAudio refuses more. */
  maxQueuedFrames: number;
  /**
   * A frame may leave this much before its due time (default 0). The device holds ~prerollFrames
   * frames anyway; releasing a few ms early absorbs the timer's own wake-up jitter, so a busy event
   * loop does not turn into gaps on the device.
   */
  earlyMs?: number;
}

export interface PacerStats {
  framesSent: number;
  /** Runs restarted because the queue ran dry and the device had played everything. */
  underruns: number;
  /** Worst lateness of a release versus its due time. */
  maxLateMs: number;
}

type Timed = { dueMs: number; message: object };

/** Timer functions (injectable so tests can drive a virtual clock). */
export interface PacerTimers {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: PacerTimers = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Releases downlink Opus frames on the device's play-out clock.
 *
 * A "run" is a stretch of continuous playback. Frame k of a run plays at `epoch + k * frameMs` and
 * is released `prerollFrames - 1` frames earlier, so the device holds about prerollFrames x frameMs of
 * audio: enough to ride out jitter, little enough that an abort is heard at once. Due times are
 * computed from the run's epoch, never from the previous send, so timer lateness does not
 * accumulate (drift-corrected). When the queue runs dry mid-run (next sentence still being
 * synthesised) and refills before the device has played out, the clock simply continues: the
 * refill tops the device buffer back up to the pre-roll, with no gap in the timeline. Only when
 * the device has played everything does a new run start with a fresh pre-roll.
 *
 * JSON messages pushed between frames (tts sentence_start) are released when the audio after them
 * starts to play, so subtitles change with the voice. The stop message waits for the play-out.
 */
export class DownlinkPacer {
  private readonly frames: Buffer[] = [];
  private frameHead = 0;
  /** JSON waiting for the audio position it was pushed at: [frame index in queue order, message]. */
  private readonly pendingJson: Array<{ afterQueued: number; message: object }> = [];
  private readonly timedJson: Timed[] = [];
  private pendingStop: object | undefined;
  /** When the pending stop goes out; fixed once everything before it is released. */
  private stopDueMs: number | undefined;
  private epochMs = 0;
  private sentInRun = 0;
  private runActive = false;
  private lastReleaseMs = 0;
  /** Total frames ever pushed (queue order index). */
  private pushedTotal = 0;
  private sentTotal = 0;
  private timer: unknown;
  private timerDueMs = Infinity;
  private closed = false;
  readonly stats: PacerStats = { framesSent: 0, underruns: 0, maxLateMs: 0 };

  constructor(
    private readonly sink: PacerSink,
    private readonly options: PacerOptions,
    private readonly now: () => number = () => performance.now(),
    private readonly timers: PacerTimers = realTimers,
  ) {}

  /** Frames waiting to be released. */
  get queuedFrames(): number {
    return this.frames.length - this.frameHead;
  }

  /** True while anything (audio, subtitle, stop) is still to be released. */
  get busy(): boolean {
    return this.queuedFrames > 0 || this.timedJson.length > 0 || this.pendingJson.length > 0 || this.pendingStop !== undefined;
  }

  /** When the device will have played everything released so far (performance.now() time base). */
  get playoutEndMs(): number {
    return this.runActive ? this.epochMs + this.sentInRun * this.options.frameMs : this.now();
  }

  /** Queue frames. Returns false (and queues nothing) if that would pass maxQueuedFrames. */
  pushAudio(frames: readonly Buffer[]): boolean {
    if (this.closed) return false;
    if (this.queuedFrames + frames.length > this.options.maxQueuedFrames) return false;
    for (const frame of frames) this.frames.push(frame);
    this.pushedTotal += frames.length;
    this.stopDueMs = undefined;
    this.pump();
    return true;
  }

  /** Queue a message to go out when the audio pushed after it starts playing. */
  pushJson(message: object): void {
    if (this.closed) return;
    this.stopDueMs = undefined;
    if (this.queuedFrames === 0 && this.pendingJson.length === 0) {
      // Nothing queued before it: it belongs to the next frame, which plays at the current play-out end.
      this.timedJson.push({ dueMs: this.playoutEndMs, message });
    } else {
      this.pendingJson.push({ afterQueued: this.pushedTotal, message });
    }
    this.pump();
  }

  /** Send `stopMessage` once everything queued has played on the device. */
  finish(stopMessage: object): void {
    if (this.closed) return;
    this.pendingStop = stopMessage;
    this.pump();
  }

  /** Drop everything queued (abort). Nothing more is sent until new audio arrives. */
  flush(): void {
    this.frames.length = 0;
    this.frameHead = 0;
    this.pendingJson.length = 0;
    this.timedJson.length = 0;
    this.pendingStop = undefined;
    this.stopDueMs = undefined;
    this.runActive = false;
    this.sentInRun = 0;
    this.pushedTotal = 0;
    this.sentTotal = 0;
    this.clearTimer();
  }

  close(): void {
    this.flush();
    this.closed = true;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDueMs = Infinity;
  }

  private schedule(dueMs: number): void {
    if (this.timer !== undefined && dueMs >= this.timerDueMs) return;
    this.clearTimer();
    this.timerDueMs = dueMs;
    const delay = Math.max(0, dueMs - this.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.timerDueMs = Infinity;
      this.pump();
    }, delay);
  }

  /** Release whatever is due now and arm the timer for the next due item. */
  private pump(): void {
    if (this.closed) return;
    this.sink.cork?.();
    try {
      this.release();
    } finally {
      this.sink.uncork?.();
    }
  }

  private release(): void {
    const frameMs = this.options.frameMs;
    for (;;) {
      const now = this.now();
      let nextDue = Infinity;

      // Subtitles whose audio position has been reached get their play time now.
      while (this.pendingJson.length > 0 && this.pendingJson[0]!.afterQueued <= this.sentTotal) {
        const { message } = this.pendingJson.shift()!;
        this.timedJson.push({ dueMs: this.playoutEndMs, message });
      }
      // Timed JSON (in order).
      while (this.timedJson.length > 0 && this.timedJson[0]!.dueMs <= now + 0.5) {
        this.sink.sendJson(this.timedJson.shift()!.message);
        if (this.closed) return;
      }
      if (this.timedJson.length > 0) nextDue = Math.min(nextDue, this.timedJson[0]!.dueMs);

      // Audio.
      let released = false;
      if (this.queuedFrames > 0) {
        if (!this.runActive || now >= this.epochMs + this.sentInRun * frameMs) {
          if (this.runActive) this.stats.underruns++;
          this.runActive = true;
          this.epochMs = now;
          this.sentInRun = 0;
        }
        // Frames 0..preroll-1 go at once; frame k after that when frame k-preroll+1 starts playing,
        // so the device always holds about `prerollFrames` frames.
        const dueMs = this.epochMs + (this.sentInRun - this.options.prerollFrames + 1) * frameMs;
        // (Subtitles pushed before this frame were timed by the loop above.)
        if (dueMs <= now + Math.max(0.5, this.options.earlyMs ?? 0)) {
          const frame = this.frames[this.frameHead]!;
          this.frames[this.frameHead] = undefined as unknown as Buffer;
          this.frameHead++;
          if (this.frameHead > 1024 && this.frameHead * 2 > this.frames.length) {
            this.frames.splice(0, this.frameHead);
            this.frameHead = 0;
          }
          const late = now - Math.max(dueMs, this.epochMs);
          if (late > this.stats.maxLateMs) this.stats.maxLateMs = late;
          if (this.sentInRun >= this.options.prerollFrames && this.sink.onFrameGap) this.sink.onFrameGap(now - this.lastReleaseMs);
          this.lastReleaseMs = now;
          this.sentInRun++;
          this.sentTotal++;
          this.stats.framesSent++;
          this.sink.sendAudio(frame);
          if (this.closed) return;
          released = true;
        } else {
          nextDue = Math.min(nextDue, dueMs - (this.options.earlyMs ?? 0));
        }
      }
      if (released) continue;

      // Stop after play-out of everything else.
      if (this.pendingStop && this.queuedFrames === 0 && this.pendingJson.length === 0 && this.timedJson.length === 0) {
        this.stopDueMs ??= (this.runActive ? this.epochMs + this.sentInRun * frameMs : now) + this.options.stopMarginMs;
        const stopDue = this.stopDueMs;
        if (stopDue <= now + 0.5) {
          const stop = this.pendingStop;
          this.pendingStop = undefined;
          this.stopDueMs = undefined;
          this.runActive = false;
          this.sentInRun = 0;
          this.sink.sendJson(stop);
          this.sink.onStopped?.();
          continue;
        }
        nextDue = Math.min(nextDue, stopDue);
      }
      if (nextDue !== Infinity) this.schedule(nextDue);
      return;
    }
  }
}
