/**
 * Parser of the sentence template language (Home Assistant hassil-like):
 *
 * - `(a|b c)` alternatives, nested freely; a bare `a|b` at top level splits whole sentences.
 * - `[the]` optional words; `[a|b]` one of them or nothing.
 * - `{list}` a slot filled from the list of that name (slot named like the list);
 *   `{list:slot}` fills `slot` from `list`; `{slot:0-100}` a number in that range.
 * - `<rule>` an expansion rule (a named template).
 * - A group glued to the end of a Latin word extends that word: `light[s]` is `(light|lights)`.
 *
 * Errors carry the column of the problem so a template can be fixed from the message.
 */
import { IntentError } from './errors';

/** Syntax tree of one template. */
export type TemplateNode =
  | { kind: 'text'; text: string }
  | { kind: 'group'; options: TemplateNode[][]; optional: boolean }
  | { kind: 'slot'; list: string; slot: string; range?: { from: number; to: number } }
  | { kind: 'rule'; name: string };

const NAME_RE = /^[\p{L}\p{N}_.-]+$/u;
const RANGE_RE = /^(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)$/;

/**
 * Parse a template into a sequence of nodes.
 * @throws IntentError('template_syntax') with the column (1-based) of the problem.
 */
export function parseTemplate(source: string): TemplateNode[] {
  return new Parser(source).parse();
}

class Parser {
  private at = 0;

  constructor(private readonly source: string) {}

  parse(): TemplateNode[] {
    const options = this.alternatives('');
    if (this.at < this.source.length) this.fail(`unexpected "${this.source[this.at] ?? ''}"`);
    if (options.length === 1) return options[0] as TemplateNode[];
    return [{ kind: 'group', options, optional: false }];
  }

  private alternatives(close: string): TemplateNode[][] {
    const options: TemplateNode[][] = [this.sequence(close)];
    while (this.source[this.at] === '|') {
      this.at++;
      options.push(this.sequence(close));
    }
    return options;
  }

  private sequence(close: string): TemplateNode[] {
    const nodes: TemplateNode[] = [];
    while (this.at < this.source.length) {
      const ch = this.source[this.at] as string;
      if (ch === '|') break;
      if (ch === ')' || ch === ']') {
        if (ch !== close) this.fail(`unexpected "${ch}"`);
        break;
      }
      if (ch === '(' || ch === '[') {
        const start = this.at;
        this.at++;
        const closing = ch === '(' ? ')' : ']';
        const options = this.alternatives(closing);
        if (this.source[this.at] !== closing) this.fail(`"${ch}" at column ${start + 1} is never closed`, start);
        this.at++;
        const group: TemplateNode & { kind: 'group' } = { kind: 'group', options, optional: ch === '[' };
        this.gluedAfter(group, start);
        this.pushGlued(nodes, group, start);
      } else if (ch === '{') {
        nodes.push(this.slot());
      } else if (ch === '<') {
        nodes.push(this.rule());
      } else if (ch === '}' || ch === '>') {
        this.fail(`unexpected "${ch}"`);
      } else {
        const start = this.at;
        while (this.at < this.source.length && !'|()[]{}<>'.includes(this.source[this.at] as string)) this.at++;
        nodes.push({ kind: 'text', text: this.source.slice(start, this.at) });
      }
    }
    return nodes;
  }

  /** `colo[u]r`: fold the word right after the group into every option (and make it required). */
  private gluedAfter(group: TemplateNode & { kind: 'group' }, start: number): void {
    const glued = /^[\p{Script=Latin}\p{N}']+/u.exec(this.source.slice(this.at));
    if (!glued) return;
    const word = glued[0];
    this.at += word.length;
    group.options = group.options.map((option) => {
      const last = option[option.length - 1];
      if (last === undefined) return [{ kind: 'text', text: word } as TemplateNode];
      if (last.kind !== 'text') this.fail(`a group glued to "${word}" must end with words`, start);
      return [...option.slice(0, -1), { kind: 'text', text: (last as { text: string }).text + word } as TemplateNode];
    });
    if (group.optional) {
      group.options.push([{ kind: 'text', text: word }]);
      group.optional = false;
    }
  }

  /** `light[s]`: fold the last word of the preceding text into every option of the group. */
  private pushGlued(nodes: TemplateNode[], group: TemplateNode & { kind: 'group' }, start: number): void {
    const previous = nodes[nodes.length - 1];
    const glued = previous?.kind === 'text' ? /([\p{Script=Latin}\p{N}']+)$/u.exec(previous.text) : null;
    if (!previous || previous.kind !== 'text' || !glued) {
      nodes.push(group);
      return;
    }
    const word = glued[1] as string;
    const options = group.options.map((option) => {
      const first = option[0];
      if (first === undefined) return [{ kind: 'text', text: word } as TemplateNode];
      if (first.kind !== 'text') this.fail(`a group glued to "${word}" must start with words`, start);
      return [{ kind: 'text', text: word + (first as { text: string }).text } as TemplateNode, ...option.slice(1)];
    });
    if (group.optional) options.push([{ kind: 'text', text: word }]);
    previous.text = previous.text.slice(0, previous.text.length - word.length);
    if (previous.text === '') nodes.pop();
    nodes.push({ kind: 'group', options, optional: false });
  }

  private slot(): TemplateNode {
    const start = this.at;
    const end = this.source.indexOf('}', start);
    if (end < 0) this.fail(`"{" at column ${start + 1} is never closed`, start);
    const body = this.source.slice(start + 1, end).trim();
    this.at = end + 1;
    const colon = body.indexOf(':');
    const head = (colon < 0 ? body : body.slice(0, colon)).trim();
    const tail = colon < 0 ? '' : body.slice(colon + 1).trim();
    if (!NAME_RE.test(head)) this.fail(`bad slot "{${body}}"`, start);
    if (colon < 0) return { kind: 'slot', list: head, slot: head };
    const range = RANGE_RE.exec(tail);
    if (range) {
      const from = Number(range[1]);
      const to = Number(range[2]);
      if (from > to) this.fail(`empty range in "{${body}}"`, start);
      return { kind: 'slot', list: head, slot: head, range: { from, to } };
    }
    if (!NAME_RE.test(tail)) this.fail(`bad slot "{${body}}"`, start);
    return { kind: 'slot', list: head, slot: tail };
  }

  private rule(): TemplateNode {
    const start = this.at;
    const end = this.source.indexOf('>', start);
    if (end < 0) this.fail(`"<" at column ${start + 1} is never closed`, start);
    const name = this.source.slice(start + 1, end).trim();
    if (!NAME_RE.test(name)) this.fail(`bad rule "<${name}>"`, start);
    this.at = end + 1;
    return { kind: 'rule', name };
  }

  private fail(message: string, at = this.at): never {
    throw new IntentError('template_syntax', `template "${this.source}": ${message} (column ${at + 1})`);
  }
}
