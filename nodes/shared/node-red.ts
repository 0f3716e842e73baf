/**
 * The small slice of the Node-RED runtime API our nodes use, typed loosely on purpose: the glue
 * stays thin and the core in src/ carries the logic.
 */
export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface NodeMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  session?: string;
  turn?: number;
  device?: { id: string; clientId: string };
  [key: string]: unknown;
}

export type SendFn = (msg: NodeMessage | Array<NodeMessage | null> | null) => void;
export type DoneFn = (err?: Error) => void;

export interface RedNode {
  id: string;
  name?: string;
  credentials: Record<string, string | undefined>;
  on(event: 'input', handler: (msg: NodeMessage, send: SendFn, done: DoneFn) => void): void;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void;
  send(msg: NodeMessage | Array<NodeMessage | null> | null): void;
  status(status: NodeStatus): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string | Error, msg?: NodeMessage): void;
  debug(message: string): void;
}

export interface RedApi {
  nodes: {
    createNode(node: unknown, config: unknown): void;
    registerType(type: string, ctor: unknown, options?: { credentials?: Record<string, { type: 'text' | 'password' }>; settings?: Record<string, unknown> }): void;
    getNode(id: string): unknown;
  };
  httpNode?: { post(path: string, ...handlers: unknown[]): void; options(path: string, ...handlers: unknown[]): void; get(path: string, ...handlers: unknown[]): void; _router?: { stack: Array<{ route?: { path: string } }> } };
  server?: import('node:http').Server;
  settings: Record<string, unknown>;
  util: { evaluateNodeProperty?(value: string, type: string, node: unknown, msg: unknown): unknown };
}

/** Coerce an editor field (string or number) to a number, falling back to a default. */
export function num(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  return Number.isFinite(n) ? n : fallback;
}

/** Coerce an editor checkbox/string to a boolean. */
export function bool(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'boolean') return value;
  return String(value).toLowerCase() === 'true';
}

/** Wrap an Error-ish thing. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
