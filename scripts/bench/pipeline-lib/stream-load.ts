/**
 * Many devices streaming microphone audio at once with plain `ws` clients (a DeviceSimulator per
 * device would cost more than the server under test): each connects with the firmware's headers
 * and hello, says `listen start auto`, then sends pre-encoded 60 ms Opus frames of a
 * speech + silence loop on a drift-corrected clock. Clients are spread over six 10 ms phases of
 * the 60 ms frame period and start at different points of the loop, like unsynchronised devices.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { UPLINK_FRAME_MS, UPLINK_RATE_HZ, type BenchSpeech } from './speech';

const PHASES = 6;
const TICK_MS = UPLINK_FRAME_MS / PHASES;

/** One streaming device. */
interface StreamClient {
  deviceId: string;
  ws: WebSocket;
  sessionId: string;
  /** Position in the loop the client starts from. */
  offset: number;
  phase: number;
  /** Epoch ms at which the last voiced frame of a whole utterance (first voiced frame sent too) left. */
  utteranceEndsMs: number[];
  sawFirstVoiced: boolean;
  closed: boolean;
}

/** Result of connecting the clients. */
export interface StreamConnectResult {
  connected: number;
  failed: number;
  connectMs: number;
  firstError?: string;
}

/** MAC-style device id of client `i` (locally administered, unique per index). */
export function streamDeviceId(i: number): string {
  const b = [0x02, 0xbe, (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function openClient(url: string, deviceId: string, timeoutMs: number): Promise<{ ws: WebSocket; sessionId: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { 'Protocol-Version': '1', 'Device-Id': deviceId, 'Client-Id': `bench-${deviceId}` },
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no server hello within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', version: 1, transport: 'websocket', features: { mcp: false }, audio_params: { format: 'opus', sample_rate: UPLINK_RATE_HZ, channels: 1, frame_duration: UPLINK_FRAME_MS } }));
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: { type?: string; session_id?: string };
      try {
        msg = JSON.parse(String(data)) as typeof msg;
      } catch {
        return;
      }
      if (msg.type === 'hello') {
        clearTimeout(timer);
        ws.removeAllListeners('message');
        ws.on('message', () => undefined); // replies are not part of this measurement
        const sessionId = msg.session_id ?? '';
        ws.send(JSON.stringify({ session_id: sessionId, type: 'listen', state: 'start', mode: 'auto' }));
        resolve({ ws, sessionId });
      }
    });
  });
}

/** A set of streaming clients against one hub. */
export class StreamLoad {
  private readonly clients: StreamClient[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Ticks that ran more than one frame period late (the load generator itself could not keep up). */
  lateTicks = 0;
  maxTickLagMs = 0;
  framesSent = 0;

  constructor(
    private readonly url: string,
    private readonly speech: BenchSpeech,
  ) {}

  /** Connect `count` clients, `parallel` handshakes at a time. */
  async connect(count: number, parallel = 50, timeoutMs = 15_000): Promise<StreamConnectResult> {
    const began = performance.now();
    let failed = 0;
    let firstError: string | undefined;
    let next = 0;
    const loopLength = this.speech.loopFrames.length;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        const deviceId = streamDeviceId(i);
        try {
          const { ws, sessionId } = await openClient(this.url, deviceId, timeoutMs);
          const client: StreamClient = { deviceId, ws, sessionId, offset: (i * 7) % loopLength, phase: i % PHASES, utteranceEndsMs: [], sawFirstVoiced: false, closed: false };
          ws.on('close', () => (client.closed = true));
          ws.on('error', () => undefined);
          this.clients.push(client);
        } catch (error) {
          failed++;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, () => worker()));
    return { connected: this.clients.length, failed, connectMs: performance.now() - began, ...(firstError !== undefined ? { firstError } : {}) };
  }

  /** Start streaming: tick k sends frame floor(k / 6) of every client in phase k % 6. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = this.speech.loopFrames;
    const first = this.speech.loopFirstVoiced;
    const last = this.speech.loopLastVoiced;
    const byPhase: StreamClient[][] = Array.from({ length: PHASES }, () => []);
    for (const c of this.clients) byPhase[c.phase]?.push(c);
    const startMs = performance.now();
    let tick = 0;
    const pump = (): void => {
      if (!this.running) return;
      const now = performance.now();
      // Drift correction: every due tick runs now (late ticks catch up), the next is scheduled on the absolute clock.
      while (startMs + tick * TICK_MS <= now) {
        const lagMs = now - (startMs + tick * TICK_MS);
        if (lagMs > this.maxTickLagMs) this.maxTickLagMs = lagMs;
        if (lagMs > UPLINK_FRAME_MS) this.lateTicks++;
        const phase = tick % PHASES;
        const frameNumber = Math.floor(tick / PHASES);
        for (const c of byPhase[phase] ?? []) {
          if (c.closed || c.ws.readyState !== WebSocket.OPEN) continue;
          const index = (frameNumber + c.offset) % loop.length;
          const frame = loop[index];
          if (!frame) continue;
          c.ws.send(frame, { binary: true });
          this.framesSent++;
          if (index === first) c.sawFirstVoiced = true;
          if (index === last && c.sawFirstVoiced) {
            c.utteranceEndsMs.push(Date.now());
            c.sawFirstVoiced = false;
          }
        }
        tick++;
      }
      this.timer = setTimeout(pump, Math.max(0, startMs + tick * TICK_MS - performance.now()));
    };
    pump();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Utterance end times (epoch ms) of every client, by device id. */
  utteranceEnds(): Map<string, number[]> {
    return new Map(this.clients.map((c) => [c.deviceId, [...c.utteranceEndsMs]]));
  }

  /** Clients whose socket closed while streaming. */
  closedCount(): number {
    return this.clients.filter((c) => c.closed).length;
  }

  /** Close every socket (plain close; terminate after 2 s). */
  async close(): Promise<void> {
    this.stop();
    await Promise.all(
      this.clients.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.ws.readyState === WebSocket.CLOSED) return resolve();
            const t = setTimeout(() => {
              c.ws.terminate();
              resolve();
            }, 2000);
            c.ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            c.ws.close(1000);
          }),
      ),
    );
    this.clients.length = 0;
  }
}
