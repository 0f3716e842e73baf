import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

/** Timings of one connect + hello. */
export interface HelloTiming {
  /** TCP connect + WebSocket upgrade. */
  connectMs: number;
  /** Client hello sent -> server hello received. */
  helloMs: number;
}

/**
 * A lean firmware-like client for load generation: connects with device headers, sends the hello,
 * and records only what the benchmark needs (hello time, downlink frame arrival times, tts state
 * changes), so thousands fit in one process.
 */
export class BenchClient {
  readonly ws: WebSocket;
  /** Arrival times (performance.now()) of binary frames while recording; bounded by its length. */
  frameTimesMs: Float64Array | undefined;
  frameCount = 0;
  /** Frames that arrived after frameTimesMs was full. */
  framesOverflow = 0;
  ttsStartMs = -1;
  ttsStopMs = -1;
  closed = false;
  private helloResolve: (() => void) | undefined;

  private constructor(url: string, index: number) {
    const mac = (index + 0x10000).toString(16).padStart(12, '0').match(/../g)!.join(':');
    this.ws = new WebSocket(url, {
      perMessageDeflate: false,
      headers: {
        'Device-Id': mac,
        'Client-Id': `bench-${index}`,
        'Protocol-Version': '1',
      },
    });
    this.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.ws.on('close', () => {
      this.closed = true;
    });
    this.ws.on('error', () => undefined);
  }

  /**
   * Connect and complete the hello exchange. Rejects on socket error, early close or timeout
   * (the socket is terminated then, so nothing leaks).
   */
  static async open(url: string, index: number, timeoutMs: number): Promise<{ client: BenchClient; timing: HelloTiming }> {
    const client = new BenchClient(url, index);
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`connect+hello timed out after ${timeoutMs} ms`)), timeoutMs);
        client.ws.once('error', reject);
        client.ws.once('close', (code) => reject(new Error(`closed (${code}) before hello`)));
        client.ws.once('open', () => {
          const t1 = performance.now();
          client.helloResolve = () => {
            const t2 = performance.now();
            resolve({ client, timing: { connectMs: t1 - t0, helloMs: t2 - t1 } });
          };
          client.ws.send(
            JSON.stringify({
              type: 'hello',
              version: 1,
              features: { mcp: false },
              transport: 'websocket',
              audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
            }),
          );
        });
      });
    } catch (error) {
      client.terminate();
      throw error;
    } finally {
      clearTimeout(timer);
      client.ws.removeAllListeners('open');
      client.ws.removeAllListeners('error');
      client.ws.on('error', () => undefined);
    }
  }

  /** Start recording downlink frame arrivals (up to `capacity`). */
  record(capacity: number): void {
    this.frameTimesMs = new Float64Array(capacity);
    this.frameCount = 0;
    this.framesOverflow = 0;
    this.ttsStartMs = -1;
    this.ttsStopMs = -1;
  }

  sendJson(message: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  sendBinary(frame: Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(frame, { binary: true });
    return true;
  }

  terminate(): void {
    this.closed = true;
    this.ws.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const now = performance.now();
    if (isBinary) {
      const times = this.frameTimesMs;
      if (!times) return;
      if (this.frameCount < times.length) times[this.frameCount++] = now;
      else this.framesOverflow++;
      return;
    }
    let message: { type?: string; state?: string };
    try {
      message = JSON.parse(data.toString('utf8')) as { type?: string; state?: string };
    } catch {
      return;
    }
    if (message.type === 'hello' && this.helloResolve) {
      const done = this.helloResolve;
      this.helloResolve = undefined;
      done();
    } else if (message.type === 'tts') {
      if (message.state === 'start') this.ttsStartMs = now;
      else if (message.state === 'stop') this.ttsStopMs = now;
    }
  }
}
