/**
 * Why an audio operation failed, as a stable code callers can branch on.
 * - `bad_frame_size`: PCM handed to the encoder is not exactly one frame long.
 * - `bad_packet`: an Opus packet could not be decoded (empty, corrupt, too long).
 * - `bad_wav`: a WAV file is malformed (missing chunks, truncated header, bad fields).
 * - `unsupported`: valid input this layer deliberately does not handle (rate, frame length, sample format).
 */
export type AudioErrorCode = 'bad_frame_size' | 'bad_packet' | 'bad_wav' | 'unsupported';

/** Typed error of the audio layer; `code` says what went wrong, `message` says it for people. */
export class AudioError extends Error {
  readonly code: AudioErrorCode;

  constructor(code: AudioErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AudioError';
    this.code = code;
  }
}
