/**
 * Typed errors of the protocol layer. Every error carries a stable `code` (for programs and
 * close statuses) and a human message that is safe to send back to a device or browser.
 */

/** Stable error codes of the protocol layer. */
export type ProtocolErrorCode =
  | 'invalid_json'
  | 'missing_type'
  | 'unknown_type'
  | 'invalid_field'
  | 'too_large'
  | 'bad_frame'
  | 'bad_request'
  | 'unauthorized';

/**
 * An input that breaks the xiaozhi protocol. The message names the offending field in the
 * device's own terms (e.g. `hello.audio_params.sample_rate must be a number`), because it is
 * sent to the device or browser as an `error` message.
 */
export class ProtocolError extends Error {
  /** Machine-readable reason. */
  readonly code: ProtocolErrorCode;
  /** Dotted path of the offending field, when one field is at fault (e.g. `listen.state`). */
  readonly field?: string;

  constructor(code: ProtocolErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    if (field !== undefined) this.field = field;
  }
}
