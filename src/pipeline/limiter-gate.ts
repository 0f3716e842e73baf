import type { ProviderLimiter, Slot } from './limiter';
import { isLimiterError, type LimiterError } from './limiter-error';

/** The msg fields the gate reads (a Node-RED msg, or any object of that shape). */
export interface GateMsg {
  topic?: string;
  session?: unknown;
  turn?: unknown;
  limiter?: unknown;
  [key: string]: unknown;
}

/** Which topics take, follow and free a slot for one stage. */
export interface StageTopics {
  /** A msg of these topics needs a slot before it may enter the stage (it starts the stage's work). */
  acquire: readonly string[];
  /** Further input of the same turn: dropped with the turn when it is refused (e.g. TTS `reply.end`). */
  follow: readonly string[];
  /** Topics after the stage that mean its work for the turn is over (seen by a release-mode node). */
  release: readonly string[];
}

/** Stage kinds with topics from docs/pipeline-messages.md. */
export type GateStage = 'asr' | 'llm' | 'tts';

/** Topics per pipeline stage (docs/pipeline-messages.md). */
export const STAGE_TOPICS: Readonly<Record<GateStage, StageTopics>> = Object.freeze({
  // ASR works on one utterance; its result (or an empty result's tts.stop) ends the work.
  asr: { acquire: ['utterance'], follow: [], release: ['stt', 'tts.stop'] },
  // The LLM starts on stt; reply.end closes a streamed answer, say (an error/canned reply) or tts.stop end it too.
  llm: { acquire: ['stt'], follow: [], release: ['reply.end', 'say', 'tts.stop'] },
  // TTS synthesises sentences (and say) until it sends tts.stop.
  tts: { acquire: ['sentence', 'say'], follow: ['reply.end'], release: ['tts.stop'] },
});

/** Topics that end a session's work in every stage; both gate sides free the session on them. */
export const END_TOPICS: readonly string[] = ['abort', 'session.end'];

/** What the gate puts on `msg.limiter`. */
export interface LimiterStamp {
  name: string;
  waitedMs: number;
  queuePosition: number;
  /** Set on the `say` msg that replaced a refused one. */
  busy?: true;
  code?: string;
}

/** How the gate hands one msg on. */
export interface Delivery {
  send(msg: GateMsg): void;
  /** The msg is finished with (sent or dropped); `done` of Node-RED's input handler. */
  done(): void;
}

/** Per-call options of `enter()`. */
export interface EnterOptions {
  topics: StageTopics;
  /** Spoken instead of a refused msg. */
  busyText: string;
  /** A msg was refused (queue full, wait timeout, backend down). */
  onBusy?(error: LimiterError, msg: GateMsg): void;
  /** A held slot was taken back by the run timeout. */
  onExpired?(session: string, turn: number | undefined): void;
}

interface Waiting {
  turn: number | undefined;
  controller: AbortController;
  buffered: Array<{ msg: GateMsg; delivery: Delivery }>;
}

interface Hold {
  turn: number | undefined;
  slot: Slot;
}

const MAX_REMEMBERED_REFUSALS = 10_000;

/**
 * Maps the pipeline's msgs onto limiter slots, one slot per (session, turn) per limiter:
 * - `enter()` (acquire side, before the stage): a msg of an acquire topic waits for a slot, then
 *   goes on stamped with `msg.limiter = {name, waitedMs, queuePosition}`; later msgs of the same
 *   turn that arrive meanwhile wait behind it in order; a refusal replaces the msg with a `say`
 *   busy reply (the TTS speaks it and ends the turn) and drops the rest of that turn's stage input.
 * - `leave()` (release side, after the stage): a release topic of the held turn frees the slot.
 * - `abort` / `session.end` on either side frees the session's slot and its waiter; a new turn's
 *   acquire msg frees the old turn's slot (the old turn is over); the run timeout frees a slot
 *   whose end never came back.
 * Every other msg passes through untouched.
 */
export class LimiterGate {
  private readonly waiting = new Map<string, Waiting>();
  private readonly holds = new Map<string, Hold>();
  private readonly refused = new Map<string, number | undefined>();

  constructor(public limiter: ProviderLimiter) {}

  /** Acquire side. Calls `delivery.send` zero or one time (maybe later), then `delivery.done`. */
  enter(msg: GateMsg, delivery: Delivery, options: EnterOptions): void {
    const session = typeof msg.session === 'string' ? msg.session : undefined;
    const topic = typeof msg.topic === 'string' ? msg.topic : '';
    const stamp = msg.limiter as Partial<LimiterStamp> | undefined;
    if (!session || stamp?.busy === true) return this.pass(msg, delivery);
    if (END_TOPICS.includes(topic)) {
      this.freeSession(session);
      return this.pass(msg, delivery);
    }
    const turn = typeof msg.turn === 'number' ? msg.turn : undefined;
    const acquires = options.topics.acquire.includes(topic);
    const waiter = this.waiting.get(session);
    if (waiter) {
      if (waiter.turn === turn) {
        waiter.buffered.push({ msg, delivery });
        return;
      }
      if (!acquires || !isNewer(turn, waiter.turn)) return this.pass(msg, delivery);
      this.cancelWaiter(session, waiter);
    }
    if (this.refused.has(session) && this.refused.get(session) === turn && (acquires || options.topics.follow.includes(topic))) {
      // The rest of a refused turn's stage input: the busy reply already ends that turn.
      delivery.done();
      return;
    }
    const hold = this.holds.get(session);
    if (hold) {
      if (hold.turn === turn) return this.pass(msg, delivery);
      if (!acquires || !isNewer(turn, hold.turn)) return this.pass(msg, delivery);
      this.freeHold(session);
    }
    if (!acquires) return this.pass(msg, delivery);
    this.refused.delete(session);
    this.acquire(session, turn, msg, delivery, options);
  }

  /** Release side: frees the session's slot on a release (or end) topic; the msg passes on unchanged. */
  leave(msg: GateMsg, delivery: Delivery, topics: StageTopics): void {
    const session = typeof msg.session === 'string' ? msg.session : undefined;
    const topic = typeof msg.topic === 'string' ? msg.topic : '';
    if (session) {
      if (END_TOPICS.includes(topic)) this.freeSession(session);
      else if (topics.release.includes(topic)) {
        const hold = this.holds.get(session);
        const turn = typeof msg.turn === 'number' ? msg.turn : undefined;
        // A turn-less msg, or one of the held turn or later, ends the held work.
        if (hold && (turn === undefined || hold.turn === undefined || turn >= hold.turn)) this.freeHold(session);
      }
    }
    this.pass(msg, delivery);
  }

  /** Free the session's slot and drop its waiter (abort, session end). */
  freeSession(session: string): void {
    const waiter = this.waiting.get(session);
    if (waiter) this.cancelWaiter(session, waiter);
    this.freeHold(session);
    this.refused.delete(session);
  }

  /** Sessions holding a slot, waiting, and remembered as refused. */
  get size(): { holding: number; waiting: number; refused: number } {
    return { holding: this.holds.size, waiting: this.waiting.size, refused: this.refused.size };
  }

  /** Drop everything (the limiter is closing). */
  clear(): void {
    for (const session of Array.from(new Set([...this.waiting.keys(), ...this.holds.keys()]))) this.freeSession(session);
    this.refused.clear();
  }

  private acquire(session: string, turn: number | undefined, msg: GateMsg, delivery: Delivery, options: EnterOptions): void {
    const waiter: Waiting = { turn, controller: new AbortController(), buffered: [] };
    this.waiting.set(session, waiter);
    const limiter = this.limiter;
    const startedAt = Date.now();
    limiter.acquire({ signal: waiter.controller.signal }).then(
      (slot) => {
        if (this.waiting.get(session) !== waiter) {
          // Cancelled between grant and here: the slot is not ours to keep.
          slot.release();
          delivery.done();
          return;
        }
        this.waiting.delete(session);
        this.holds.set(session, { turn, slot });
        slot.signal.addEventListener(
          'abort',
          () => {
            if (this.holds.get(session)?.slot !== slot) return;
            this.holds.delete(session);
            if (isLimiterError(slot.signal.reason, 'run_timeout')) options.onExpired?.(session, turn);
          },
          { once: true },
        );
        const info: LimiterStamp = { name: limiter.name, waitedMs: slot.waitedMs, queuePosition: slot.queuePosition };
        msg.limiter = info;
        delivery.send(msg);
        delivery.done();
        for (const b of waiter.buffered) {
          if (options.topics.acquire.includes(String(b.msg.topic))) b.msg.limiter = { ...info };
          b.delivery.send(b.msg);
          b.delivery.done();
        }
      },
      (error: unknown) => {
        const mine = this.waiting.get(session) === waiter;
        if (mine) this.waiting.delete(session);
        const code = isLimiterError(error) ? error.code : 'unknown';
        if (!mine || code === 'aborted' || code === 'closed' || !isLimiterError(error)) {
          // Aborted, superseded or shutting down: nothing to say, the turn is gone.
          delivery.done();
          for (const b of waiter.buffered) b.delivery.done();
          return;
        }
        this.rememberRefusal(session, turn);
        options.onBusy?.(error, msg);
        delivery.send(busyReply(msg, options.busyText, limiter.name, error, Date.now() - startedAt));
        delivery.done();
        for (const b of waiter.buffered) {
          const topic = String(b.msg.topic);
          if (options.topics.acquire.includes(topic) || options.topics.follow.includes(topic)) b.delivery.done();
          else {
            b.delivery.send(b.msg);
            b.delivery.done();
          }
        }
      },
    );
  }

  private cancelWaiter(session: string, waiter: Waiting): void {
    this.waiting.delete(session);
    waiter.controller.abort();
    // The acquire() rejection settles the waiter's own msg; buffered ones are dropped here.
    for (const b of waiter.buffered.splice(0)) b.delivery.done();
  }

  private freeHold(session: string): void {
    const hold = this.holds.get(session);
    if (!hold) return;
    this.holds.delete(session);
    hold.slot.release();
  }

  private rememberRefusal(session: string, turn: number | undefined): void {
    this.refused.delete(session);
    this.refused.set(session, turn);
    // Sessions normally end with session.end; this bound covers flows that never send it.
    if (this.refused.size > MAX_REMEMBERED_REFUSALS) {
      const oldest = this.refused.keys().next().value;
      if (oldest !== undefined) this.refused.delete(oldest);
    }
  }

  private pass(msg: GateMsg, delivery: Delivery): void {
    delivery.send(msg);
    delivery.done();
  }
}

/** true if turn a is newer than b (an unnumbered turn counts as new: flows without turn numbers). */
function isNewer(a: number | undefined, b: number | undefined): boolean {
  return a === undefined || b === undefined || a > b;
}

/** The `say` msg that replaces a refused one: ids kept, stage payload dropped. */
export function busyReply(msg: GateMsg, text: string, name: string, error: LimiterError, waitedMs = 0): GateMsg {
  const reply: GateMsg = { topic: 'say', payload: text };
  for (const key of ['_msgid', 'session', 'turn', 'device', 'timings'] as const) if (msg[key] !== undefined) reply[key] = msg[key];
  const stamp: LimiterStamp = { name, waitedMs, queuePosition: 0, busy: true, code: error.code };
  reply.limiter = stamp;
  return reply;
}
