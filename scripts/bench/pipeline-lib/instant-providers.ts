/**
 * "Instant" OpenAI-compatible providers on loopback, inside the benchmark process: transcription,
 * streamed chat and speech that answer at once, so what the pipeline benchmark measures is the
 * hub's own added latency and not a model's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the instant providers answer. */
export interface InstantProviderOptions {
  /** Text every transcription returns. */
  transcript: string;
  /** Chat reply, streamed as one SSE chunk per element, all written at once. */
  replyChunks: string[];
  /** Speech answer: raw 16-bit LE mono PCM (the OpenAI 'pcm' format, 24 kHz). */
  speechPcm: Buffer;
}

/** Requests served per endpoint (to check that the flow really used them). */
export interface InstantProviderCounts {
  transcriptions: number;
  chat: number;
  speech: number;
  other: number;
}

/** A running loopback provider server. */
export interface InstantProviders {
  /** API root including /v1, for the xiaozhi-openai config node. */
  baseUrl: string;
  counts: InstantProviderCounts;
  close(): Promise<void>;
}

/** 1 s (by default) of a soft 220 Hz tone as 24 kHz s16le PCM, starting with silence so the body never begins with '{' or 'RIFF'. */
export function toneSpeechPcm(durationMs = 1000, sampleRateHz = 24_000): Buffer {
  const samples = Math.round((durationMs * sampleRateHz) / 1000);
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    const value = i < 240 ? 0 : Math.round(6000 * Math.sin((2 * Math.PI * 220 * i) / sampleRateHz));
    pcm.writeInt16LE(value, i * 2);
  }
  return pcm;
}

function drain(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function chatChunk(id: string, delta: Record<string, unknown>, finish: string | null): string {
  const body = { id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: 'bench-instant', choices: [{ index: 0, delta, finish_reason: finish }] };
  return `data: ${JSON.stringify(body)}\n\n`;
}

/** Start the providers on 127.0.0.1 (a free port). */
export async function startInstantProviders(options: InstantProviderOptions): Promise<InstantProviders> {
  const counts: InstantProviderCounts = { transcriptions: 0, chat: 0, speech: 0, other: 0 };
  let nextId = 1;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    const body = await drain(req);
    if (req.method === 'POST' && path === '/v1/audio/transcriptions') {
      counts.transcriptions++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ text: options.transcript }));
      return;
    }
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      counts.chat++;
      const id = `chatcmpl-bench-${nextId++}`;
      let stream = true;
      try {
        stream = (JSON.parse(body.toString('utf8')) as { stream?: boolean }).stream === true;
      } catch {
        /* a body we cannot read: answer streamed, the client will complain */
      }
      if (!stream) {
        const message = { role: 'assistant', content: options.replyChunks.join('') };
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({ id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: 'bench-instant', choices: [{ index: 0, message, finish_reason: 'stop' }] }),
        );
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      let out = chatChunk(id, { role: 'assistant', content: '' }, null);
      for (const text of options.replyChunks) out += chatChunk(id, { content: text }, null);
      out += chatChunk(id, {}, 'stop');
      out += 'data: [DONE]\n\n';
      res.end(out);
      return;
    }
    if (req.method === 'POST' && path === '/v1/audio/speech') {
      counts.speech++;
      res.writeHead(200, { 'Content-Type': 'audio/pcm', 'Content-Length': String(options.speechPcm.length) }).end(options.speechPcm);
      return;
    }
    counts.other++;
    res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method} ${path}` } }));
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  // Keep-alive sockets from the hub's HTTP clients must not hold close() up.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
