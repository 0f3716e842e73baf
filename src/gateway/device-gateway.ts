import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorMessage } from '../protocol/messages';
import { verifyDeviceToken } from '../protocol/token';
import type { BinaryProtocolVersion } from '../protocol/framing';
import type { OtaRequest } from '../protocol/ota';
import { handleOtaRequest } from './ota-handler';
import { isUnreachableHost, lanAddress } from './lan-address';
import { resolveGatewayOptions, type GatewayOptions, type GatewayOptionsInput } from './options';
import { CloseCodes, Session } from './session';
import { sessionRegistry } from './session-registry';
import { hubMetrics } from '../metrics/hub-metrics';

/** Counts for status dots and metrics. */
export interface GatewayStats {
  sessions: number;
  speaking: number;
  listening: number;
  accepted: number;
  rejected: number;
  otaChecks: number;
}

/** Identity a client presented when connecting (headers, or the query string for browsers). */
interface ClientIdentity {
  deviceId: string;
  clientId: string;
  authorization: string;
  protocolVersion: BinaryProtocolVersion;
}

/**
 * The xiaozhi device server: WebSocket endpoint + OTA endpoint + session table.
 *
 * Runs on its own port (default 8000) or attached to an existing http server (Node-RED's), where
 * it only takes upgrades for its own path. Emits 'session' (Session) once a client said hello,
 * 'session-closed' (Session, {code, reason}), 'ota' (OtaRequest), 'rejected' ({code, reason,
 * remoteAddress}), 'error' (Error) for server-level failures.
 */
export class DeviceGateway extends EventEmitter {
  readonly options: GatewayOptions;
  private server: HttpServer | undefined;
  private ownServer = false;
  private wss: WebSocketServer | undefined;
  private readonly sessions = new Set<Session>();
  private housekeeping: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  /** Until when (performance.now) load is shed after the event loop lagged. */
  private overloadedUntilMs = 0;
  private lateTicks = 0;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly upgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(request, socket, head);
  private readonly requestListener = (request: IncomingMessage, response: ServerResponse) => this.onHttpRequest(request, response);
  private readonly counts = { accepted: 0, rejected: 0, otaChecks: 0 };
  private started = false;

  constructor(options: GatewayOptionsInput = {}) {
    super();
    this.options = resolveGatewayOptions(options);
  }

  /** The port devices connect to (own server or the attached one). */
  get port(): number {
    const address = this.server?.address() as AddressInfo | null | undefined;
    return address?.port ?? this.options.port;
  }

  /** Start listening. Resolves once the port is bound. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { limits } = this.options;
    this.wss = new WebSocketServer({
      noServer: true,
      // ws refuses anything larger before buffering it (close 1009): a 10 MB text frame never lands in memory.
      maxPayload: Math.max(limits.maxTextBytes, limits.maxFrameBytes),
      perMessageDeflate: false,
      clientTracking: false,
    });
    if (this.options.server) {
      this.server = this.options.server;
    } else {
      this.server = createServer(this.requestListener);
      this.ownServer = true;
      this.server.on('clientError', (_error, socket) => socket.destroy());
    }
    this.server.on('upgrade', this.upgradeListener);
    if (this.ownServer) {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        this.server!.once('error', onError);
        this.server!.listen(this.options.port, this.options.host, () => {
          this.server!.off('error', onError);
          this.server!.on('error', (error) => this.emit('error', error));
          resolve();
        });
      });
    }
    if (this.options.metricsPath) hubMetrics().watchGateway(this);
    this.housekeeping = setInterval(() => this.checkIdle(), 1000);
    this.housekeeping.unref();
    if (limits.maxEventLoopLagMs > 0) {
      // A 100 ms timer that fires late measures how far behind the event loop is.
      let expected = performance.now() + 100;
      this.lagTimer = setInterval(() => {
        const now = performance.now();
        const lag = Math.max(0, now - expected);
        const max = this.options.limits.maxEventLoopLagMs;
        expected = now + 100;
        const was = this.overloaded;
        // Sustained lag only (3 late ticks in a row): a single stall (start-up, a model load, a
        // grammar rebuild) is over by the time it is measured and needs no shedding. Then hold the
        // state for a second after the last late tick, so the backlog can drain.
        this.lateTicks = lag > max ? this.lateTicks + 1 : 0;
        if (this.lateTicks >= 3) this.overloadedUntilMs = now + 1000;
        if (this.overloaded !== was) {
          this.emit('overload', { overloaded: this.overloaded, lagMs: Math.round(lag) });
          this.options.logger?.warn(this.overloaded ? `event loop ${Math.round(lag)} ms behind: shedding uplink audio and refusing new devices` : 'event loop caught up');
        }
      }, 100);
      this.lagTimer.unref();
    }
    if (limits.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => {
        for (const session of this.sessions) session.ping();
      }, limits.pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  /** Close every session (1001 going away) and free the port. */
  async close(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.housekeeping) clearInterval(this.housekeeping);
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.lagTimer) clearInterval(this.lagTimer);
    hubMetrics().unwatchGateway(this);
    for (const session of [...this.sessions]) session.close(CloseCodes.goingAway, 'server shutting down');
    this.server?.off('upgrade', this.upgradeListener);
    this.wss?.close();
    if (this.ownServer && this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    }
    this.server = undefined;
    this.wss = undefined;
  }

  /** True while the event loop lags more than limits.maxEventLoopLagMs (load is being shed). */
  get overloaded(): boolean {
    return this.options.limits.maxEventLoopLagMs > 0 && performance.now() < this.overloadedUntilMs;
  }

  /** Live sessions. */
  list(): Session[] {
    return [...this.sessions];
  }

  get(sessionId: string): Session | undefined {
    const session = sessionRegistry.get(sessionId);
    return session && this.sessions.has(session) ? session : undefined;
  }

  stats(): GatewayStats {
    let speaking = 0;
    let listening = 0;
    for (const session of this.sessions) {
      if (session.state === 'speaking') speaking++;
      else if (session.state === 'listening') listening++;
    }
    return { sessions: this.sessions.size, speaking, listening, ...this.counts };
  }

  /** ws:// URL for devices; uses the host the request came in on when it is reachable. */
  websocketUrlFor(request?: IncomingMessage): string {
    if (this.options.publicUrl) return this.options.publicUrl;
    // The device reached the OTA endpoint through this host name, so it can reach us there again.
    // A request from this machine (simulator, browser) may say localhost: fine for it too.
    let host = request?.headers.host?.replace(/:\d+$/, '') ?? '';
    if (isUnreachableHost(host)) host = lanAddress();
    return `ws://${host}:${this.port}${this.options.path}`;
  }

  /**
   * Answer an HTTP request if it is for the OTA endpoint. For attached mode the host application
   * routes requests here (e.g. Node-RED's httpNode). Returns false if not ours.
   */
  handleHttp(request: IncomingMessage, response: ServerResponse): boolean {
    return handleOtaRequest(request, response, {
      options: this.options,
      websocketUrlFor: (req) => this.websocketUrlFor(req),
      onCheck: (ota: OtaRequest) => {
        this.counts.otaChecks++;
        this.emit('ota', ota);
      },
    });
  }

  private onHttpRequest(request: IncomingMessage, response: ServerResponse): void {
    try {
      if (this.handleHttp(request, response)) return;
      if (this.options.metricsPath && request.method === 'GET' && request.url?.split('?')[0] === this.options.metricsPath) {
        const metrics = hubMetrics();
        metrics
          .metrics()
          .then((text) => response.writeHead(200, { 'Content-Type': metrics.contentType }).end(text))
          .catch((error: Error) => response.writeHead(500).end(error.message));
        return;
      }
      if (request.method === 'GET' && (request.url === '/' || request.url?.startsWith(this.options.path))) {
        response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        response.end('Server is running\n');
        return;
      }
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    } catch (error) {
      if (!response.headersSent) response.writeHead(500).end();
      this.options.logger?.warn(`HTTP request failed: ${(error as Error).message}`);
    }
  }

  private pathMatches(pathname: string): boolean {
    const want = this.options.path.replace(/\/+$/, '');
    return pathname.replace(/\/+$/, '') === want;
  }

  private onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    // Attached to a shared server: leave other paths to their owners (Node-RED's own websockets).
    if (!this.ownServer && !this.pathMatches(url.pathname)) return;
    socket.on('error', () => socket.destroy());
    if (!this.wss) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.onConnection(ws, request, url));
  }

  private onConnection(ws: WebSocket, request: IncomingMessage, url: URL): void {
    const remoteAddress = clientAddress(request);
    const identity = readIdentity(request, url);
    const reject = (code: number, errorCode: string, reason: string) => {
      this.counts.rejected++;
      this.emit('rejected', { code, reason, remoteAddress, deviceId: identity.deviceId });
      ws.on('error', () => undefined);
      try {
        ws.send(JSON.stringify(errorMessage('', errorCode, reason)));
        ws.close(code, reason);
      } catch {
        ws.terminate();
      }
      setTimeout(() => ws.terminate(), 2000).unref();
    };
    if (!this.started) return reject(CloseCodes.goingAway, 'shutting_down', 'server is shutting down');
    if (this.overloaded) {
      return reject(CloseCodes.serverFull, 'server_overloaded', 'server overloaded; try again later');
    }
    if (this.sessions.size >= this.options.limits.maxSessions) {
      return reject(CloseCodes.serverFull, 'server_full', `server full (${this.options.limits.maxSessions} sessions); try again later`);
    }
    if (!identity.deviceId) {
      return reject(CloseCodes.badRequest, 'bad_request', 'device-id header (or ?device-id= query parameter) is required');
    }
    const { auth } = this.options;
    if (auth.enabled && !auth.allowedDevices.includes(identity.deviceId)) {
      const check = verifyDeviceToken(auth.secret, identity.authorization, identity.clientId, identity.deviceId, {
        expireSeconds: auth.expireSeconds,
      });
      if (!check.ok) {
        const why = identity.authorization ? `token ${check.reason.replace('_', ' ')}` : 'token required';
        return reject(CloseCodes.unauthorized, 'unauthorized', `authentication failed: ${why}`);
      }
    }
    const session = new Session(ws, {
      options: this.options,
      deviceId: identity.deviceId,
      clientId: identity.clientId,
      remoteAddress,
      protocolVersion: identity.protocolVersion,
      fromMqttGateway: url.searchParams.get('from') === 'mqtt_gateway',
      logger: this.options.logger,
      overloaded: () => this.overloaded,
    });
    this.counts.accepted++;
    this.sessions.add(session);
    sessionRegistry.add(session);
    let announced = false;
    session.once('hello', () => {
      announced = true;
      this.emit('session', session);
    });
    session.once('close', (info: { code: number; reason: string }) => {
      this.sessions.delete(session);
      sessionRegistry.remove(session);
      if (announced) this.emit('session-closed', session, info);
    });
  }

  private checkIdle(): void {
    const idleTimeoutMs = this.options.limits.idleTimeoutMs;
    if (idleTimeoutMs <= 0) return;
    for (const session of this.sessions) {
      if (session.state !== 'awaiting_hello' && session.idleMs > idleTimeoutMs) {
        this.emit('idle', session);
        session.close(CloseCodes.idle, `idle for ${Math.round(idleTimeoutMs / 1000)} s`);
      }
    }
  }
}

function headerValue(request: IncomingMessage, name: string): string {
  const value = request.headers[name];
  return (Array.isArray(value) ? value[0] : value)?.trim() ?? '';
}

/** Headers first; browsers can't set headers, so the query string is the fallback (protocol.md §1.3). */
function readIdentity(request: IncomingMessage, url: URL): ClientIdentity {
  const pick = (name: string) => headerValue(request, name) || url.searchParams.get(name)?.trim() || '';
  const version = Number.parseInt(pick('protocol-version'), 10);
  const deviceId = pick('device-id').toLowerCase();
  return {
    deviceId,
    // The OTA endpoint mints tokens with the device id as client id when none is sent (browsers).
    clientId: pick('client-id') || deviceId,
    authorization: pick('authorization'),
    protocolVersion: version === 2 || version === 3 ? version : 1,
  };
}

function clientAddress(request: IncomingMessage): string {
  const realIp = headerValue(request, 'x-real-ip');
  if (realIp) return realIp;
  const forwarded = headerValue(request, 'x-forwarded-for');
  if (forwarded) return forwarded.split(',')[0]!.trim();
  return request.socket.remoteAddress ?? '';
}
