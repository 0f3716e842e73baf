import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the loopback server received it. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON from the client under test
  /** Resolves when the client closed or finished the connection. */
  closed: Promise<void>;
}

/** What the server answers to one request. */
export type ScriptedReply =
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | {
      kind: 'stream';
      /** Objects are sent as `data: <json>`, strings as raw bytes. */
      chunks: Array<object | string>;
      /** After the chunks: send `[DONE]` and end (default), end without `[DONE]`, stall, or destroy the socket. */
      after?: 'done' | 'end' | 'stall' | 'destroy';
      /** Write every event in two halves, so SSE events and JSON are split across TCP writes. */
      splitWrites?: boolean;
    }
  /** Send headers, then nothing. */
  | { kind: 'headers-only' }
  /** Accept the request and never answer. */
  | { kind: 'silent' };

/**
 * A loopback HTTP server that speaks the OpenAI chat-completions streaming format (SSE `data:`
 * chunks and `data: [DONE]`), records each request and answers from a script.
 */
export class FakeOpenAiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;

  constructor(private readonly script: (request: RecordedRequest, index: number) => ScriptedReply) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** Listen on 127.0.0.1 and return the base URL (`http://127.0.0.1:PORT/v1`). */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/v1`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const text = Buffer.concat(parts).toString('utf8');
    const closed = new Promise<void>((resolve) => res.on('close', () => resolve()));
    const request: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: text ? JSON.parse(text) : undefined,
      closed,
    };
    this.requests.push(request);
    const reply = this.script(request, this.requests.length - 1);
    switch (reply.kind) {
      case 'json':
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify(reply.body));
        return;
      case 'silent':
        return;
      case 'headers-only':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        return;
      case 'stream':
        break;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const events = reply.chunks.map((chunk) => (typeof chunk === 'string' ? chunk : `data: ${JSON.stringify(chunk)}\n\n`));
    if ((reply.after ?? 'done') === 'done') events.push('data: [DONE]\n\n');
    for (const event of events) {
      if (res.destroyed) return;
      if (reply.splitWrites && event.length > 1) {
        const half = Math.floor(event.length / 2);
        res.write(event.slice(0, half));
        await tick();
        res.write(event.slice(half));
      } else {
        res.write(event);
      }
      await tick();
    }
    switch (reply.after ?? 'done') {
      case 'done':
      case 'end':
        res.end();
        return;
      case 'destroy':
        res.socket?.destroy();
        return;
      case 'stall':
        return; // left open: close() ends it
    }
  }
}

/** Let the socket flush, so chunks go out as separate writes. */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 2));
}

let chunkCounter = 0;
function chunk(delta: object, finishReason: string | null = null): object {
  return {
    id: `chatcmpl-test-${++chunkCounter}`,
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'test-model',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

/** A chunk carrying text. */
export function textChunk(text: string): object {
  return chunk({ role: 'assistant', content: text });
}

/** A chunk carrying one tool-call delta. */
export function toolCallChunk(index: number, part: { id?: string; name?: string; args?: string }): object {
  const call: Record<string, unknown> = { index };
  if (part.id) {
    call.id = part.id;
    call.type = 'function';
  }
  const fn: Record<string, string> = {};
  if (part.name !== undefined) fn.name = part.name;
  if (part.args !== undefined) fn.arguments = part.args;
  call.function = fn;
  return chunk({ tool_calls: [call] });
}

/** The closing chunk with a finish reason. */
export function finishChunk(reason: 'stop' | 'tool_calls' | 'length' = 'stop'): object {
  return chunk({}, reason);
}

/** A whole streamed text answer, one chunk per piece, ending with `stop`. */
export function textReply(...pieces: string[]): ScriptedReply {
  return { kind: 'stream', chunks: [...pieces.map(textChunk), finishChunk('stop')] };
}

/** A streamed single tool call whose arguments arrive in several pieces. */
export function toolCallReply(id: string, name: string, argPieces: string[]): ScriptedReply {
  return {
    kind: 'stream',
    chunks: [
      toolCallChunk(0, { id, name, args: '' }),
      ...argPieces.map((args) => toolCallChunk(0, { args })),
      finishChunk('tool_calls'),
    ],
  };
}
