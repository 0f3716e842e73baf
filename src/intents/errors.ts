/**
 * Why intent templates or custom sentences could not be used.
 * - `template_syntax`: a template is malformed (unclosed bracket, empty slot...).
 * - `unknown_list`: a template uses `{list}` that no list defines.
 * - `unknown_rule`: a template uses `<rule>` that no expansion rule defines.
 * - `rule_cycle`: expansion rules refer to each other in a loop.
 * - `yaml_syntax`: custom sentences are not valid YAML.
 * - `yaml_schema`: custom sentences are valid YAML of the wrong shape.
 * - `bad_option`: an option given to the matcher is invalid.
 */
export type IntentErrorCode =
  | 'template_syntax'
  | 'unknown_list'
  | 'unknown_rule'
  | 'rule_cycle'
  | 'yaml_syntax'
  | 'yaml_schema'
  | 'bad_option';

/** Typed error of the intent layer; `line` is 1-based in the custom YAML when known. */
export class IntentError extends Error {
  readonly code: IntentErrorCode;
  readonly line?: number;

  constructor(code: IntentErrorCode, message: string, options?: { line?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IntentError';
    this.code = code;
    if (options?.line !== undefined) this.line = options.line;
  }
}
