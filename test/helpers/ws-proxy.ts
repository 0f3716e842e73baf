/**
 * A small WebSocket-aware reverse proxy for tests: what nginx or HAProxy do in front of several hub
 * instances (docs/scaling.md), on 127.0.0.1. HTTP requests and WebSocket upgrades go to a backend
 * chosen per connection (a route callback, else round-robin); an upgraded connection stays on its
 * backend until it closes; a backend that refuses the TCP connection is skipped (failover).
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';

/** One backend instance. */
export interface ProxyBackend {
  host?: string;
  port: number;
}

/** One forwarded connection, as the proxy saw it. */
export interface ProxiedConnection {
  kind: 'http' | 'ws';
  /** Index into the backends; -1 when none could be reached. */
  backend: number;
  url: string;
}

/** Options of {@link WsProxy}. */
export interface WsProxyOptions {
  backends: ProxyBackend[];
  /** Pick a backend index for a request; undefined (or a down backend) = round-robin. */
  route?: (req: http.IncomingMessage) => number | undefined;
}

/** Reverse proxy for HTTP and WebSocket upgrades, round-robin with failover. */
export class WsProxy {
  /** Every forwarded request or upgrade, in order. */
  readonly connections: ProxiedConnection[] = [];
  private readonly server: http.Server;
  private readonly backends: ProxyBackend[];
  private readonly route: WsProxyOptions['route'];
  private readonly sockets = new Set<net.Socket>();
  private next = 0;

  constructor(options: WsProxyOptions) {
    if (options.backends.length === 0) throw new TypeError('WsProxy: no backends');
    this.backends = options.backends;
    this.route = options.route;
    this.server = http.createServer((req, res) => void this.forwardHttp(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void this.forwardUpgrade(req, socket, head));
    this.server.on('connection', (socket: net.Socket) => this.track(socket));
  }

  /** Listen on 127.0.0.1 (port 0 = any free one); resolves to the port. */
  async start(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stop listening and cut every open connection (both sides). */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The backend order to try for a request: the routed one (or the next in turn), then the others. */
  private candidates(req: http.IncomingMessage): number[] {
    const n = this.backends.length;
    const routed = this.route?.(req);
    const first = routed !== undefined && routed >= 0 && routed < n ? routed : this.next++ % n;
    return Array.from({ length: n }, (_, i) => (first + i) % n);
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Open a TCP connection to the first backend that accepts one. */
  private async connectBackend(order: number[]): Promise<{ socket: net.Socket; index: number } | undefined> {
    for (const index of order) {
      const backend = this.backends[index]!;
      const socket = await new Promise<net.Socket | undefined>((resolve) => {
        const s = net.connect(backend.port, backend.host ?? '127.0.0.1');
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(undefined));
      });
      if (socket) {
        this.track(socket);
        return { socket, index };
      }
    }
    return undefined;
  }

  private async forwardUpgrade(req: http.IncomingMessage, client: net.Socket, head: Buffer): Promise<void> {
    client.on('error', () => undefined);
    const picked = await this.connectBackend(this.candidates(req));
    this.connections.push({ kind: 'ws', backend: picked?.index ?? -1, url: req.url ?? '' });
    if (!picked) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = picked.socket;
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    // The request head as received (raw headers keep their case and repeats), plus what the
    // proxy adds as nginx does.
    const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    lines.push(`X-Forwarded-For: ${client.remoteAddress ?? ''}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    // Byte pipes both ways: the 101 answer and every frame pass untouched; either side closing
    // closes the other, as a balancer does when an instance dies.
    upstream.pipe(client);
    client.pipe(upstream);
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
  }

  private async forwardHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const order = this.candidates(req);
    const body: Buffer[] = [];
    for await (const chunk of req) body.push(chunk as Buffer);
    for (const index of order) {
      const backend = this.backends[index]!;
      const ok = await new Promise<boolean>((resolve) => {
        const upstream = http.request(
          {
            host: backend.host ?? '127.0.0.1',
            port: backend.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '' },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            answer.once('end', () => resolve(true));
            answer.once('error', () => resolve(true));
          },
        );
        // Only a refused connection fails over; once the backend answered, its answer stands.
        upstream.once('error', () => resolve(res.headersSent));
        upstream.end(Buffer.concat(body));
      });
      if (ok) {
        this.connections.push({ kind: 'http', backend: index, url: req.url ?? '' });
        return;
      }
    }
    this.connections.push({ kind: 'http', backend: -1, url: req.url ?? '' });
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('no backend reachable\n');
  }
}
