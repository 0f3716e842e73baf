/**
 * A deliberately small server side of the xiaozhi protocol for the simulator tests: an OTA
 * endpoint and a WebSocket that answers hello, runs the MCP handshake (following nextCursor),
 * and answers a turn with stt, tts start, llm, sentence_start, real 24 kHz Opus frames and
 * tts stop. Framing is parsed and written by hand here, independently of src/protocol, so the
 * tests check the simulator's bytes against the spec rather than against shared code.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { OpusFrameDecoder, OpusFrameEncoder } from '../../src/audio/opus';

export interface FakeServerOptions {
  /** Do not answer the client hello at all. */
  noHello?: boolean;
  /** transport of the server hello (a wrong one must be ignored by the device). */
  helloTransport?: string;
  /** OTA answer's websocket.token / version. */
  otaToken?: string;
  otaVersion?: number;
  /** Frames sent before `tts start` (the device must drop them). */
  framesBeforeTtsStart?: number;
  /** Frames of the reply. */
  replyFrames?: number;
  /** Gap between reply frames; 0 sends them back to back. */
  replyFrameIntervalMs?: number;
  /** In auto/realtime mode, reply after this many uplink frames. */
  autoReplyAfterFrames?: number;
  /** Tool calls to make once the tool list is complete. */
  toolCalls?: Array<{ name: string; arguments?: Record<string, unknown> }>;
}

/** One uplink binary frame as the fake server parsed it. */
export interface ParsedUplinkFrame {
  version: number;
  /** v2 header words (undefined for v1/v3). */
  headerVersion?: number;
  type?: number;
  reserved?: number;
  timestampMs?: number;
  payload: Buffer;
  /** Samples the 16 kHz decoder produced (or -1 when undecodable). */
  decodedSamples: number;
  /** Sum of |sample| of the decoded frame, to tell speech from silence. */
  energy: number;
}

/** One accepted WebSocket connection. */
export class FakeConnection {
  readonly headers: IncomingHttpHeaders;
  readonly url: string;
  readonly texts: Array<Record<string, unknown>> = [];
  readonly frames: ParsedUplinkFrame[] = [];
  /** Replies of the device's MCP server, by request id order of arrival. */
  readonly mcpReplies: Array<Record<string, unknown>> = [];
  /** Every tools/list page answer. */
  readonly toolPages: Array<Record<string, unknown>> = [];
  /** All tools collected over the pages. */
  readonly tools: Array<Record<string, unknown>> = [];
  mcpReady = false;
  clientHello?: Record<string, unknown>;
  version = 1;
  readonly sessionId = `sess-${Math.random().toString(16).slice(2, 10)}`;
  private framesSinceListen = 0;
  private listenMode = '';
  private replying = false;
  private aborted = false;
  private nextId = 10;
  private readonly decoder = new OpusFrameDecoder(16000);

  constructor(
    readonly ws: WebSocket,
    headers: IncomingHttpHeaders,
    url: string,
    private readonly server: FakeXiaozhiServer,
  ) {
    this.headers = headers;
    this.url = url;
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) this.onBinary(data);
      else this.onText(data.toString('utf8'));
    });
  }

  send(msg: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  sendMcp(payload: unknown): void {
    this.send({ type: 'mcp', payload });
  }

  /** Frame a downlink Opus packet for this connection's version (protocol.md §3.2). */
  frameDownlink(packet: Buffer, timestampMs: number): Buffer {
    if (this.version === 2) {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(2, 0);
      h.writeUInt32BE(timestampMs, 8);
      h.writeUInt32BE(packet.length, 12);
      return Buffer.concat([h, packet]);
    }
    if (this.version === 3) {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(packet.length, 2);
      return Buffer.concat([h, packet]);
    }
    return packet;
  }

  private onText(text: string): void {
    const msg = JSON.parse(text) as Record<string, unknown>;
    this.texts.push(msg);
    const opts = this.server.opts;
    if (msg.type === 'hello') {
      this.clientHello = msg;
      const headerVersion = Number(this.headers['protocol-version']);
      this.version = headerVersion === 2 || headerVersion === 3 ? headerVersion : msg.version === 2 || msg.version === 3 ? msg.version : 1;
      if (opts.noHello) return;
      this.send({
        type: 'hello',
        version: 1,
        transport: opts.helloTransport ?? 'websocket',
        session_id: this.sessionId,
        audio_params: { format: 'opus', sample_rate: 24000, channels: 1, frame_duration: 60 },
      });
      const features = msg.features as Record<string, unknown> | undefined;
      if (features?.mcp) {
        this.sendMcp({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2024-11-05',
            capabilities: { roots: { listChanged: true }, sampling: {}, vision: { url: 'http://127.0.0.1:9/vision', token: 'vtok' } },
            clientInfo: { name: 'FakeServer', version: '0.0.1' },
          },
        });
      }
    } else if (msg.type === 'mcp') {
      this.onMcp(msg.payload as Record<string, unknown>);
    } else if (msg.type === 'listen') {
      if (msg.state === 'start') {
        this.listenMode = String(msg.mode);
        this.framesSinceListen = 0;
      } else if (msg.state === 'stop') {
        void this.reply('turn on the light');
      } else if (msg.state === 'detect') {
        void this.reply(String(msg.text));
      }
    } else if (msg.type === 'abort') {
      this.aborted = true;
      this.send({ type: 'tts', state: 'stop', session_id: this.sessionId });
    }
  }

  private onMcp(payload: Record<string, unknown>): void {
    if (payload.id === 1 && 'result' in payload) {
      this.sendMcp({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
      return;
    }
    if (payload.id === 2 && 'result' in payload) {
      const result = payload.result as Record<string, unknown>;
      this.toolPages.push(result);
      this.tools.push(...(result.tools as Array<Record<string, unknown>>));
      if (typeof result.nextCursor === 'string') {
        this.sendMcp({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { cursor: result.nextCursor } });
      } else {
        this.mcpReady = true;
        for (const call of this.server.opts.toolCalls ?? []) {
          this.sendMcp({ jsonrpc: '2.0', id: this.nextId++, method: 'tools/call', params: { name: call.name, arguments: call.arguments ?? {} } });
        }
      }
      return;
    }
    this.mcpReplies.push(payload);
  }

  private onBinary(data: Buffer): void {
    const frame: ParsedUplinkFrame = { version: this.version, payload: data, decodedSamples: -1, energy: 0 };
    if (this.version === 2) {
      frame.headerVersion = data.readUInt16BE(0);
      frame.type = data.readUInt16BE(2);
      frame.reserved = data.readUInt32BE(4);
      frame.timestampMs = data.readUInt32BE(8);
      const size = data.readUInt32BE(12);
      if (size !== data.length - 16) throw new Error(`v2 size field ${size} but ${data.length - 16} bytes follow`);
      frame.payload = data.subarray(16);
    } else if (this.version === 3) {
      frame.type = data.readUInt8(0);
      frame.reserved = data.readUInt8(1);
      const size = data.readUInt16BE(2);
      if (size !== data.length - 4) throw new Error(`v3 size field ${size} but ${data.length - 4} bytes follow`);
      frame.payload = data.subarray(4);
    }
    try {
      const pcm = this.decoder.decode(frame.payload);
      frame.decodedSamples = pcm.length;
      let energy = 0;
      for (const s of pcm) energy += Math.abs(s);
      frame.energy = energy;
    } catch {
      frame.decodedSamples = -1;
    }
    this.frames.push(frame);
    this.framesSinceListen++;
    const after = this.server.opts.autoReplyAfterFrames;
    if (after !== undefined && this.listenMode !== 'manual' && this.framesSinceListen === after) void this.reply('what time is it');
  }

  /** stt -> [early frames] -> tts start -> llm -> sentence_start -> frames -> tts stop. */
  async reply(text: string): Promise<void> {
    if (this.replying) return;
    this.replying = true;
    this.aborted = false;
    const opts = this.server.opts;
    const packets = this.server.replyPackets(opts.replyFrames ?? 10);
    const sid = this.sessionId;
    this.send({ type: 'stt', text, session_id: sid });
    const early = this.server.replyPackets(opts.framesBeforeTtsStart ?? 0);
    early.forEach((p, i) => this.ws.send(this.frameDownlink(p, i * 60)));
    this.send({ type: 'tts', state: 'start', session_id: sid });
    this.send({ type: 'llm', text: '🙂', emotion: 'happy', session_id: sid });
    this.send({ type: 'tts', state: 'sentence_start', text: 'Sure, done.', session_id: sid });
    for (let i = 0; i < packets.length; i++) {
      if (this.aborted || this.ws.readyState !== WebSocket.OPEN) break;
      const p = packets[i];
      if (p) this.ws.send(this.frameDownlink(p, i * 60));
      if (opts.replyFrameIntervalMs) await new Promise((r) => setTimeout(r, opts.replyFrameIntervalMs));
    }
    if (!this.aborted) {
      this.send({ type: 'tts', state: 'sentence_start', text: 'Anything else?', session_id: sid });
      this.send({ type: 'tts', state: 'stop', session_id: sid });
    }
    this.replying = false;
  }
}

/** OTA + WebSocket server on 127.0.0.1 with an ephemeral port. */
export class FakeXiaozhiServer {
  readonly otaRequests: Array<{ headers: IncomingHttpHeaders; body: Record<string, unknown> }> = [];
  readonly connections: FakeConnection[] = [];
  private http?: Server;
  private wss?: WebSocketServer;
  private packets: Buffer[] = [];
  private connectionWaiters: Array<(c: FakeConnection) => void> = [];

  constructor(readonly opts: FakeServerOptions = {}) {}

  get port(): number {
    return (this.http?.address() as AddressInfo).port;
  }

  get otaUrl(): string {
    return `http://127.0.0.1:${this.port}/xiaozhi/ota/`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/xiaozhi/v1/`;
  }

  async start(): Promise<void> {
    // Reply audio: a 440 Hz tone, encoded as real 24 kHz / 60 ms Opus packets.
    const encoder = new OpusFrameEncoder({ sampleRateHz: 24000, frameMs: 60 });
    for (let f = 0; f < 50; f++) {
      const frame = new Int16Array(encoder.frameSamples);
      for (let i = 0; i < frame.length; i++) frame[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (f * frame.length + i)) / 24000));
      this.packets.push(encoder.encode(frame));
    }
    this.http = createServer((req, res) => {
      if (req.method === 'POST' && req.url?.startsWith('/xiaozhi/ota')) {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          this.otaRequests.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
          const websocket: Record<string, unknown> = { url: this.wsUrl, token: this.opts.otaToken ?? '' };
          if (this.opts.otaVersion !== undefined) websocket.version = this.opts.otaVersion;
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ server_time: { timestamp: Date.now(), timezone_offset: 480 }, firmware: { version: '2.4.2', url: '' }, websocket }));
        });
        return;
      }
      res.writeHead(200);
      res.end('Server is running\n');
    });
    this.wss = new WebSocketServer({ server: this.http });
    this.wss.on('connection', (ws, req) => {
      const conn = new FakeConnection(ws, req.headers, req.url ?? '', this);
      this.connections.push(conn);
      for (const w of this.connectionWaiters.splice(0)) w(conn);
    });
    await new Promise<void>((resolve) => this.http?.listen(0, '127.0.0.1', resolve));
  }

  replyPackets(n: number): Buffer[] {
    return this.packets.slice(0, n);
  }

  /** The next (or an already present) connection. */
  nextConnection(): Promise<FakeConnection> {
    const existing = this.connections[this.connections.length - 1];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.connectionWaiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const c of this.wss?.clients ?? []) c.terminate();
    await new Promise<void>((resolve) => this.wss?.close(() => resolve()));
    await new Promise<void>((resolve) => this.http?.close(() => resolve()));
  }
}

/** Poll `check` every 10 ms until it is true, or fail after `timeoutMs` with `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
