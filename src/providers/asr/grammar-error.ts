/**
 * Why building a speech grammar failed, as a stable code callers can branch on.
 * - `syntax`: a template has unbalanced brackets or an empty slot name.
 * - `unknown_slot`: a template names a `{slot}` the slots map lacks.
 * - `too_many_phrases`: expansion would exceed the phrase limit (combinatorial blow-up).
 * - `dictionary_missing`: the pronunciation dictionary file cannot be read.
 */
export type GrammarErrorCode = 'syntax' | 'unknown_slot' | 'too_many_phrases' | 'dictionary_missing';

/** Typed error of the grammar builder; `code` says what went wrong, `message` says it for people. */
export class GrammarError extends Error {
  readonly code: GrammarErrorCode;

  constructor(code: GrammarErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GrammarError';
    this.code = code;
  }
}
