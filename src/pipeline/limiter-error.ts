/**
 * Why a limiter refused or ended a request.
 * - `queue_full`: no free slot and the queue is full (or queueing is off).
 * - `wait_timeout`: waited `waitTimeoutMs` in the queue without getting a slot.
 * - `run_timeout`: held a slot longer than `runTimeoutMs`; the slot was taken back.
 * - `aborted`: the caller's AbortSignal fired while waiting or running.
 * - `closed`: the limiter was closed (node redeploy) while the request waited.
 * - `unavailable`: the shared (Redis) backend could not be reached and queueing is off.
 * - `invalid_config`: bad limits, or a vendor has no recommendation for that provider kind.
 */
export type LimiterErrorCode = 'queue_full' | 'wait_timeout' | 'run_timeout' | 'aborted' | 'closed' | 'unavailable' | 'invalid_config';

/** Typed error of the limiter; `code` says which limit was hit. */
export class LimiterError extends Error {
  constructor(
    readonly code: LimiterErrorCode,
    message: string,
    /** The limiter's name, for logs that mix several limiters. */
    readonly limiterName?: string,
  ) {
    super(message);
    this.name = 'LimiterError';
  }
}

/** True if the error is a LimiterError (optionally with the given code). */
export function isLimiterError(error: unknown, code?: LimiterErrorCode): error is LimiterError {
  return error instanceof LimiterError && (code === undefined || error.code === code);
}
