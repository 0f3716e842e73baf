/**
 * A deliberately small subset of Home Assistant's Jinja templates, enough for the command and
 * value templates discovery configs use in practice: `{{ value }}`, `{{ value_json.state }}`,
 * `{{ value_json['brightness'] }}`, literals, and the filters int, float, round, upper, lower,
 * string, tojson, default. Anything else (statements, arithmetic, tests) raises a
 * TemplateUnsupportedError so callers can say so instead of publishing something wrong.
 */

/** Error raised for template syntax this subset does not cover. */
export class TemplateUnsupportedError extends Error {
  readonly code = 'template_unsupported';
  constructor(readonly template: string, detail: string) {
    super(`unsupported template ${JSON.stringify(template)}: ${detail}`);
    this.name = 'TemplateUnsupportedError';
  }
}

type Vars = Record<string, unknown>;

const EXPRESSION = /\{\{([\s\S]*?)\}\}/g;

function splitFilters(expression: string): string[] {
  // Split on | outside quotes and parentheses.
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let current = '';
  for (const ch of expression) {
    if (quote) {
      if (ch === quote) quote = null;
      current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      current += ch;
    } else if (ch === '(' || ch === '[') {
      depth++;
      current += ch;
    } else if (ch === ')' || ch === ']') {
      depth--;
      current += ch;
    } else if (ch === '|' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current.trim());
  return parts;
}

function parseLiteral(text: string): { ok: true; value: unknown } | { ok: false } {
  if (/^-?\d+(\.\d+)?$/.test(text)) return { ok: true, value: Number(text) };
  const str = /^(["'])(.*)\1$/s.exec(text);
  if (str) return { ok: true, value: str[2] };
  if (text === 'true' || text === 'True') return { ok: true, value: true };
  if (text === 'false' || text === 'False') return { ok: true, value: false };
  if (text === 'none' || text === 'None') return { ok: true, value: null };
  return { ok: false };
}

function evaluatePrimary(template: string, text: string, vars: Vars): unknown {
  const literal = parseLiteral(text);
  if (literal.ok) return literal.value;
  const head = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text);
  if (!head) throw new TemplateUnsupportedError(template, `expression "${text}"`);
  let value: unknown = vars[head[0]];
  let rest = text.slice(head[0].length);
  while (rest.length > 0) {
    const dot = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
    const index = /^\[\s*(?:(["'])(.*?)\1|(\d+))\s*\]/.exec(rest);
    let key: string | number;
    if (dot?.[1] !== undefined) {
      key = dot[1];
      rest = rest.slice(dot[0].length);
    } else if (index) {
      key = index[3] !== undefined ? Number(index[3]) : (index[2] ?? '');
      rest = rest.slice(index[0].length);
    } else {
      throw new TemplateUnsupportedError(template, `expression "${text}"`);
    }
    value = value !== null && typeof value === 'object' ? (value as Record<string | number, unknown>)[key] : undefined;
  }
  return value;
}

function applyFilter(template: string, filter: string, value: unknown): unknown {
  const call = /^([A-Za-z_]+)\s*(?:\((.*)\))?$/s.exec(filter);
  if (!call?.[1]) throw new TemplateUnsupportedError(template, `filter "${filter}"`);
  const name = call[1];
  const args = (call[2] ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a.length > 0)
    .map((a) => {
      const lit = parseLiteral(a);
      if (!lit.ok) throw new TemplateUnsupportedError(template, `filter argument "${a}"`);
      return lit.value;
    });
  switch (name) {
    case 'int': {
      const n = Number(value);
      return Number.isFinite(n) ? Math.trunc(n) : (args[0] ?? 0);
    }
    case 'float': {
      const n = Number(value);
      return Number.isFinite(n) ? n : (args[0] ?? 0);
    }
    case 'round': {
      const digits = typeof args[0] === 'number' ? args[0] : 0;
      const factor = 10 ** digits;
      return Math.round(Number(value) * factor) / factor;
    }
    case 'upper':
      return String(value ?? '').toUpperCase();
    case 'lower':
      return String(value ?? '').toLowerCase();
    case 'string':
      return stringify(value);
    case 'tojson':
    case 'to_json':
      return JSON.stringify(value);
    case 'default':
    case 'd':
      return value === undefined ? args[0] : value;
    default:
      throw new TemplateUnsupportedError(template, `filter "${name}"`);
  }
}

function evaluateExpression(template: string, expression: string, vars: Vars): unknown {
  const [primary, ...filters] = splitFilters(expression);
  if (!primary) throw new TemplateUnsupportedError(template, 'empty expression');
  let value = evaluatePrimary(template, primary, vars);
  for (const filter of filters) value = applyFilter(template, filter, value);
  return value;
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Render a template to a string with the given variables. */
export function renderTemplate(template: string, vars: Vars): string {
  if (/\{%|\{#/.test(template)) throw new TemplateUnsupportedError(template, 'statements');
  return template.replace(EXPRESSION, (_match, expression: string) =>
    stringify(evaluateExpression(template, expression.trim(), vars)),
  );
}

/**
 * Evaluate a value template. A template that is exactly one `{{ ... }}` returns the value
 * itself (a number stays a number); otherwise the rendered string.
 */
export function evaluateTemplate(template: string, vars: Vars): unknown {
  const single = /^\s*\{\{([\s\S]*?)\}\}\s*$/.exec(template);
  if (single?.[1] !== undefined && !single[1].includes('}}')) {
    return evaluateExpression(template, single[1].trim(), vars);
  }
  return renderTemplate(template, vars);
}
