import WebSocket from 'ws';

/** Everything a raw test client received, in order. */
export type Received = { kind: 'json'; message: Record<string, unknown>; atMs: number } | { kind: 'binary'; data: Buffer; atMs: number };

/**
 * A bare WebSocket client for gateway tests: sends exactly what the test says (including garbage)
 * and records everything that comes back, with arrival times.
 */
export class RawClient {
  readonly received: Received[] = [];
  closeInfo: { code: number; reason: string } | undefined;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const buffer = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      const atMs = performance.now();
      if (isBinary) this.received.push({ kind: 'binary', data: buffer, atMs });
      else {
        let message: Record<string, unknown>;
        try {
          message = JSON.parse(buffer.toString('utf8')) as Record<string, unknown>;
        } catch {
          message = { type: '__text__', text: buffer.toString('utf8') };
        }
        this.received.push({ kind: 'json', message, atMs });
      }
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => undefined);
  }

  static connect(url: string, headers: Record<string, string> = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const client = new RawClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  /** Connect with firmware-style headers and complete the hello exchange. */
  static async hello(url: string, opts: { deviceId?: string; version?: number; mcp?: boolean; headers?: Record<string, string> } = {}): Promise<RawClient> {
    const client = await RawClient.connect(url, {
      'Device-Id': opts.deviceId ?? 'aa:bb:cc:dd:ee:01',
      'Client-Id': '4a2c6f0e-0000-4000-8000-000000000001',
      'Protocol-Version': String(opts.version ?? 1),
      ...opts.headers,
    });
    client.sendJson({
      type: 'hello',
      version: opts.version ?? 1,
      features: { mcp: opts.mcp ?? false },
      transport: 'websocket',
      audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
    });
    await client.waitJson((m) => m.type === 'hello');
    return client;
  }

  sendJson(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  sendText(text: string): void {
    this.ws.send(text);
  }

  sendBinary(data: Buffer): void {
    this.ws.send(data, { binary: true });
  }

  jsons(): Array<Record<string, unknown>> {
    return this.received.filter((r) => r.kind === 'json').map((r) => (r as { message: Record<string, unknown> }).message);
  }

  binaries(): Buffer[] {
    return this.received.filter((r) => r.kind === 'binary').map((r) => (r as { data: Buffer }).data);
  }

  /** Wait for a JSON message matching `predicate` (searching from `fromIndex` of received). */
  async waitJson(predicate: (m: Record<string, unknown>) => boolean, timeoutMs = 5000, fromIndex = 0): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await this.waitUntil(() => {
      for (const r of this.received.slice(fromIndex)) {
        if (r.kind === 'json' && predicate(r.message)) {
          found = r.message;
          return true;
        }
      }
      return false;
    }, timeoutMs, 'JSON message');
    return found!;
  }

  async waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    await this.waitUntil(() => this.closeInfo !== undefined, timeoutMs, 'close');
    return this.closeInfo!;
  }

  async waitUntil(condition: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${JSON.stringify(this.jsons()).slice(0, 600)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.close();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
