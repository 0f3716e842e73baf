/**
 * Why a simulator operation failed, as a stable code callers (and the CLI's exit status) branch on.
 * - `no_server_url`: neither a WebSocket URL nor an OTA answer that names one.
 * - `ota_unreachable`: the OTA endpoint could not be reached at all (refused, DNS, reset).
 * - `ota_http_status`: the OTA endpoint answered with a status other than 200.
 * - `ota_bad_response`: the OTA answer is not JSON, or not an object.
 * - `ota_no_websocket`: the OTA answer has no `websocket` section (e.g. only `mqtt`, which the simulator does not speak).
 * - `connect_failed`: the WebSocket could not be opened (refused, HTTP error on upgrade).
 * - `hello_timeout`: no server hello with transport "websocket" within the hello timeout (FW: 10 s).
 * - `closed`: the channel closed while an operation was waiting on it.
 * - `not_connected`: an operation needs an open channel and there is none.
 * - `wait_timeout`: `waitFor` saw no matching message in time.
 * - `espeak_missing`: espeak-ng is not installed.
 * - `espeak_failed`: espeak-ng ran but produced no usable audio.
 * - `bad_audio`: input audio the simulator cannot send (empty, unreadable WAV).
 */
export type SimErrorCode =
  | 'no_server_url'
  | 'ota_unreachable'
  | 'ota_http_status'
  | 'ota_bad_response'
  | 'ota_no_websocket'
  | 'connect_failed'
  | 'hello_timeout'
  | 'closed'
  | 'not_connected'
  | 'wait_timeout'
  | 'espeak_missing'
  | 'espeak_failed'
  | 'bad_audio';

/** Typed error of the device simulator; `code` says what went wrong, `message` says it for people. */
export class SimError extends Error {
  readonly code: SimErrorCode;

  constructor(code: SimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SimError';
    this.code = code;
  }
}
