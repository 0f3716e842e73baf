import { sessionRegistry } from '../gateway/session-registry';

/**
 * Per-stage turn bookkeeping for pipeline nodes (VAD, ASR, LLM, TTS).
 *
 * A stage starts work for (session, turn) with `begin()`, which hands out an AbortSignal. The
 * signal fires when a newer turn of the same session begins in this stage, when `abort()` is
 * called (device abort, barge-in), when the session's own turn moves past it, or when the session
 * closes. A stage checks `isCurrent()` before emitting, so a late result of an older turn is
 * dropped instead of reaching the device.
 */
export class TurnGuard {
  private readonly active = new Map<string, { turn: number; controller: AbortController }>();

  /** Start work for a turn; aborts the stage's older work for that session. */
  begin(sessionId: string, turn: number | undefined): AbortSignal {
    const t = turn ?? sessionRegistry.get(sessionId)?.turn ?? 0;
    const previous = this.active.get(sessionId);
    if (previous && previous.turn !== t) previous.controller.abort(new TurnSupersededError(previous.turn, t));
    if (previous && previous.turn === t && !previous.controller.signal.aborted) return previous.controller.signal;
    const controller = new AbortController();
    this.active.set(sessionId, { turn: t, controller });
    return controller.signal;
  }

  /** The stage finished this turn (frees the entry if it is still the active one). */
  end(sessionId: string, turn: number | undefined): void {
    const entry = this.active.get(sessionId);
    if (entry && (turn === undefined || entry.turn === turn)) this.active.delete(sessionId);
  }

  /** Abort whatever the stage is doing for the session (abort, barge-in, session end). */
  abort(sessionId: string, reason = 'aborted'): void {
    const entry = this.active.get(sessionId);
    if (!entry) return;
    entry.controller.abort(new Error(reason));
    this.active.delete(sessionId);
  }

  /**
   * True if (session, turn) is still worth emitting: the session is connected, its turn has not
   * moved on, and this stage has not aborted it.
   */
  isCurrent(sessionId: string | undefined, turn: number | undefined): boolean {
    const session = sessionRegistry.get(sessionId);
    if (!session || !session.isCurrentTurn(turn)) return false;
    const entry = this.active.get(sessionId!);
    return !entry || turn === undefined || entry.turn === turn;
  }

  /** Abort everything (node closing). */
  clear(): void {
    for (const entry of this.active.values()) entry.controller.abort(new Error('stage closed'));
    this.active.clear();
  }

  get size(): number {
    return this.active.size;
  }
}

/** Reason of a signal aborted because a newer turn began. */
export class TurnSupersededError extends Error {
  constructor(
    readonly oldTurn: number,
    readonly newTurn: number,
  ) {
    super(`turn ${oldTurn} superseded by turn ${newTurn}`);
    this.name = 'TurnSupersededError';
  }
}
