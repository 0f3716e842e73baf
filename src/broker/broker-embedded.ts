/**
 * The embedded MQTT broker: aedes on TCP (default 1883) and MQTT over WebSocket (own port or a path
 * on an existing http server), with the hub's authentication and ACLs as aedes hooks, in-memory
 * persistence by default, Redis persistence + emitter to share one broker across instances.
 *
 * The hub's own subscribers use aedes' in-process publish/subscribe API: no TCP client, no
 * credentials, no ACL (they are trusted code).
 */
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Aedes, AedesOptions, AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import { authorizePublishFor, authorizeSubscribeFor, mayForward, type BrokerIdentity } from './broker-acl';
import { BrokerAuthenticator, type BrokerAuthOptions } from './broker-auth';
import { assertPublishTopic, assertTopicFilter, encodePayload } from './broker-topic';
import {
  BrokerError,
  DEVICE_P2P_PREFIX,
  type BrokerClientEvent,
  type BrokerDenial,
  type BrokerLogger,
  type HubBroker,
  type HubBrokerStats,
  type HubMessageHandler,
  type HubPayload,
  type HubPublishOptions,
  type RetainedMessage,
} from './broker-types';

/** Where the broker keeps sessions, QoS 1 queues and retained messages. */
export type BrokerPersistenceOptions = { kind: 'memory' } | { kind: 'redis'; url: string };

/** Options of {@link EmbeddedBroker.start}. */
export interface EmbeddedBrokerOptions extends BrokerAuthOptions {
  /** TCP port (default 1883; 0 picks a free one; false: no TCP listener). */
  port?: number | false;
  /** Bind address of the TCP and own WebSocket listeners (default: all interfaces). */
  host?: string;
  /** MQTT over WebSocket on its own port (8083 is the usual one). Off unless set. */
  wsPort?: number | false;
  /** MQTT over WebSocket on an existing http server (e.g. Node-RED's), at {@link wsPath}. */
  wsServer?: HttpServer;
  /** Path of the WebSocket endpoint on `wsServer` (default `/mqtt`, mqtt.js' default). Any path on an own wsPort. */
  wsPath?: string;
  /** Default `{kind: 'memory'}`. Redis also carries messages between instances (mqemitter-redis). */
  persistence?: BrokerPersistenceOptions;
  /** CONNECTs beyond this many connected clients are refused (default 10,000). */
  maxClients?: number;
  /** Publishes with a larger payload are refused and the client disconnected (default 16 MiB; zigbee2mqtt's bridge/devices can be MBs). */
  maxPayloadBytes?: number;
  /** Give up starting when Redis does not answer within this time (default 10 s). */
  startTimeoutMs?: number;
  /** aedes broker id (default a random UUID; must differ between instances sharing Redis). */
  id?: string;
  logger?: BrokerLogger;
}

const DEFAULT_MAX_CLIENTS = 10_000;
const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
const DEFAULT_START_TIMEOUT_MS = 10_000;
/** Room for the MQTT fixed/variable header and topic on top of the payload in one WebSocket message. */
const WS_HEADER_ALLOWANCE_BYTES = 70_000;

/** aedes persistence (async interface) and mqemitter, as far as we use them. */
interface Persistence {
  createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }>;
  destroy(): Promise<void> | void;
}
interface MqEmitter {
  close(cb: () => void): void;
}

/** ioredis connection options from a `redis://[user:pass@]host[:port][/db]` or `rediss://` URL. */
export function redisOptionsFromUrl(url: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: object } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BrokerError('bad_config', `invalid Redis URL: ${url}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new BrokerError('bad_config', `Redis URL must start with redis:// or rediss:// (${url})`);
  const options: { host: string; port: number; username?: string; password?: string; db?: number; tls?: object } = {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
  };
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '') {
    if (!/^\d+$/.test(db)) throw new BrokerError('bad_config', `Redis URL database must be a number (${url})`);
    options.db = Number(db);
  }
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

/** The slice of an ioredis connection we touch. */
interface RedisConnection {
  status: string;
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  disconnect(): void;
}
type RedisConstructor = new (options: object) => RedisConnection;

/**
 * The ioredis that aedes-persistence-redis itself depends on (it may be another major version
 * than the one at the top of node_modules): the connection we hand it must speak its API.
 */
function loadIoredis(): RedisConstructor {
  const persistenceEntry = require.resolve('aedes-persistence-redis');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve('ioredis', { paths: [persistenceEntry] })) as RedisConstructor;
}

function waitReady(conn: RedisConnection): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => conn.once('ready', () => resolve()));
}

/** aedes is an ES module; tsc (module: commonjs) would turn `import()` into `require()`, so build a real dynamic import. */
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<{ Aedes: typeof Aedes }>;

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), timeoutMs);
    }),
  ]);
}

function listen(server: NetServer | HttpServer, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        error.code === 'EADDRINUSE'
          ? new BrokerError('address_in_use', `port ${port} is already in use`, { cause: error })
          : new BrokerError('bad_config', `cannot listen on ${host ?? '*'}:${port}: ${error.message}`, { cause: error }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function closeServer(server: NetServer | HttpServer | undefined): Promise<void> {
  if (!server || !server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    // http servers keep idle keep-alive sockets; they would hold the port.
    (server as HttpServer).closeAllConnections?.();
  });
}

/** Remote address of a client connection: the TCP socket, or the HTTP request for WebSocket. */
function remoteAddressOf(client: Client): string | undefined {
  const conn = client.conn as Partial<Socket>;
  return client.req?.socket?.remoteAddress ?? conn.remoteAddress;
}

function isProxied(req: IncomingMessage | undefined): boolean {
  // Behind a reverse proxy on the same machine every client would look like loopback.
  return req !== undefined && (req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined || req.headers['x-real-ip'] !== undefined);
}

interface InternalSubscription {
  filter: string;
  deliver: (packet: AedesPublishPacket, cb: () => void) => void;
}

/**
 * The embedded broker. Create with {@link EmbeddedBroker.start}.
 *
 * Events: `connected`, `disconnected`, `client` (BrokerClientEvent), `denied` (BrokerDenial).
 */
export class EmbeddedBroker extends EventEmitter implements HubBroker {
  readonly kind = 'embedded' as const;
  private aedes: Aedes | undefined;
  private persistence: Persistence | undefined;
  private mq: MqEmitter | undefined;
  private readonly redisConnections: RedisConnection[] = [];
  /** destroy() of a persistence whose setup() never finished throws half-way; only call it after setup. */
  private persistenceSetUp = false;
  private tcpServer: NetServer | undefined;
  private ownHttpServer: HttpServer | undefined;
  private attachedServer: HttpServer | undefined;
  private wss: WebSocketServer | undefined;
  private readonly identities = new WeakMap<Client, BrokerIdentity>();
  private readonly subscriptions = new Set<InternalSubscription>();
  private readonly counters = { messagesIn: 0, messagesOut: 0, denials: 0 };
  private readonly authenticator: BrokerAuthenticator;
  private readonly logger: BrokerLogger | undefined;
  private readonly maxClients: number;
  private readonly maxPayloadBytes: number;
  private readonly wsPath: string;
  private closing: Promise<void> | undefined;
  private listening = false;
  /** Upgrades on a shared server: only our path. */
  private readonly upgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head, false);
  /** Upgrades on our own WebSocket port: any path (clients differ: /mqtt, /, /ws). */
  private readonly ownUpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head, true);

  private constructor(readonly options: EmbeddedBrokerOptions) {
    super();
    this.authenticator = new BrokerAuthenticator(options);
    this.logger = options.logger;
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.wsPath = options.wsPath?.trim() || '/mqtt';
  }

  /** Start the broker and its listeners. Rejects with a BrokerError (`address_in_use`, `redis_unavailable`, `bad_config`) after freeing what it opened. */
  static async start(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
    const broker = new EmbeddedBroker(options);
    try {
      await broker.open();
    } catch (error) {
      await broker.close().catch(() => undefined);
      throw error;
    }
    return broker;
  }

  /** The bound TCP port (undefined without TCP). */
  get port(): number | undefined {
    return (this.tcpServer?.address() as AddressInfo | null | undefined)?.port;
  }

  /** The bound port of the own WebSocket listener (undefined when off or attached to a server). */
  get wsPort(): number | undefined {
    return (this.ownHttpServer?.address() as AddressInfo | null | undefined)?.port;
  }

  get connected(): boolean {
    return this.listening && this.closing === undefined;
  }

  /** The aedes broker id (distinct per instance; useful in logs of a Redis-shared cluster). */
  get id(): string | undefined {
    return this.aedes?.id;
  }

  private async open(): Promise<void> {
    const opts = this.options;
    const persistence = opts.persistence ?? { kind: 'memory' };
    const aedesOptions: AedesOptions = {
      preConnect: (client, _packet, callback) => {
        if (this.aedes && this.aedes.connectedClients >= this.maxClients) {
          this.deny({ action: 'connect', clientId: client.id ?? '', reason: `server full (${this.maxClients} clients)`, remoteAddress: remoteAddressOf(client) });
          callback(new Error('server full'), false);
          return;
        }
        callback(null, true);
      },
      authenticate: (client, username, password, callback) => {
        const remoteAddress = remoteAddressOf(client);
        const result = this.authenticator.authenticate({ clientId: client.id, username, password, remoteAddress, proxied: isProxied(client.req) });
        if (!result.ok) {
          this.deny({ action: 'connect', clientId: client.id, username, reason: result.reason, remoteAddress });
          const error = Object.assign(new Error(result.reason), { returnCode: result.returnCode });
          callback(error as Parameters<typeof callback>[0], null);
          return;
        }
        this.identities.set(client, result.identity);
        callback(null, true);
      },
      authorizePublish: (client, packet, callback) => {
        // client is null only for wills aedes republishes after a crash; those passed this check once.
        if (client === null) return callback(null);
        const identity = this.identities.get(client);
        if (!identity) return callback(new Error('not authenticated'));
        const size = packet.payload?.length ?? 0;
        const decision = size > this.maxPayloadBytes ? { ok: false as const, reason: `payload of ${size} bytes exceeds ${this.maxPayloadBytes}` } : authorizePublishFor(identity, packet.topic);
        if (!decision.ok) {
          this.deny({ action: 'publish', clientId: client.id, username: identity.username, role: identity.role, topic: packet.topic, reason: decision.reason });
          // MQTT 3.1.1 has no negative PUBACK: aedes closes the connection (MQTT-3.3.5-2).
          return callback(new Error(decision.reason));
        }
        callback(null);
      },
      authorizeSubscribe: (client, subscription: Subscription, callback) => {
        const identity = this.identities.get(client);
        const decision = identity ? authorizeSubscribeFor(identity, subscription.topic) : { ok: false as const, reason: 'not authenticated' };
        if (!decision.ok) {
          this.deny({ action: 'subscribe', clientId: client.id, username: identity?.username, role: identity?.role, topic: subscription.topic, reason: decision.reason });
          // null (not an error) refuses just this filter with SUBACK 0x80 and keeps the connection.
          return callback(null, null);
        }
        callback(null, subscription);
      },
      authorizeForward: (client, packet) => {
        const identity = this.identities.get(client);
        if (!identity || !mayForward(identity, packet.topic)) return null;
        this.counters.messagesOut++;
        return packet;
      },
    };
    if (opts.id) aedesOptions.id = opts.id;

    const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    if (persistence.kind === 'redis') {
      const redisOptions = redisOptionsFromUrl(persistence.url);
      // We open the three Redis connections ourselves (persistence, emitter pub and sub) so that
      // close() can always drop them, even when Redis is down and ioredis would retry for ever.
      const Redis = loadIoredis();
      const [db, pub, sub] = [0, 1, 2].map(() => {
        const conn = new Redis({ ...redisOptions, maxRetriesPerRequest: 3 });
        conn.on('error', (error: Error) => this.logger?.debug?.(`redis: ${error.message}`));
        this.redisConnections.push(conn);
        return conn;
      }) as [RedisConnection, RedisConnection, RedisConnection];
      await withTimeout(
        Promise.all([db, pub, sub].map((conn) => waitReady(conn))),
        timeoutMs,
        () => new BrokerError('redis_unavailable', `Redis at ${redisOptions.host}:${redisOptions.port} did not answer within ${timeoutMs} ms`),
      );
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const createRedisPersistence = require('aedes-persistence-redis') as (o: object) => Persistence;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const createRedisEmitter = require('mqemitter-redis') as (o: object) => MqEmitter;
      this.persistence = createRedisPersistence({ conn: db });
      this.mq = createRedisEmitter({ pubConn: pub, subConn: sub });
      aedesOptions.persistence = this.persistence;
      aedesOptions.mq = this.mq;
    }

    const { Aedes: AedesClass } = await importEsm('aedes');
    const aedes = new AedesClass(aedesOptions);
    this.aedes = aedes;
    await withTimeout(aedes.listen(), timeoutMs, () => new BrokerError('redis_unavailable', `Redis did not answer within ${timeoutMs} ms`)).catch((error: unknown) => {
      if (error instanceof BrokerError) throw error;
      throw new BrokerError(persistence.kind === 'redis' ? 'redis_unavailable' : 'bad_config', `broker persistence failed: ${(error as Error).message}`, { cause: error });
    });
    this.persistenceSetUp = true;
    // aedes' default persistence is created inside listen().
    this.persistence ??= (aedes as unknown as { persistence: Persistence }).persistence;

    aedes.on('publish', (packet) => {
      if (!packet.topic.startsWith('$SYS')) this.counters.messagesIn++;
    });
    aedes.on('clientReady', (client) => this.emitClient(client, 'connect'));
    aedes.on('clientDisconnect', (client) => this.emitClient(client, 'disconnect'));
    aedes.on('clientError', (client, error) => this.logger?.debug?.(`mqtt client ${client.id}: ${error.message}`));
    aedes.on('connectionError', (client, error) => this.logger?.debug?.(`mqtt connection ${client.id ?? '?'}: ${error.message}`));
    // Persistence failures surface as aedes 'error' events; without a listener they would kill the process.
    (aedes as EventEmitter).on('error', (error: Error) => this.logger?.warn(`mqtt broker: ${error.message}`));

    if (opts.port !== false) {
      this.tcpServer = createNetServer((socket) => {
        // MQTT packets are small and latency-bound (command -> state echo): Nagle's delay added ~40 ms.
        socket.setNoDelay(true);
        socket.on('error', () => socket.destroy());
        aedes.handle(socket);
      });
      await listen(this.tcpServer, opts.port ?? 1883, opts.host);
    }
    if ((opts.wsPort !== undefined && opts.wsPort !== false) || opts.wsServer) {
      this.wss = new WebSocketServer({ noServer: true, maxPayload: this.maxPayloadBytes + WS_HEADER_ALLOWANCE_BYTES, perMessageDeflate: false });
      this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        aedes.handle(stream, req);
      });
    }
    if (opts.wsPort !== undefined && opts.wsPort !== false) {
      this.ownHttpServer = createHttpServer((_req: IncomingMessage, res: ServerResponse) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: upgrade required\n');
      });
      this.ownHttpServer.on('upgrade', this.ownUpgradeListener);
      await listen(this.ownHttpServer, opts.wsPort, opts.host);
    }
    if (opts.wsServer) {
      this.attachedServer = opts.wsServer;
      this.attachedServer.on('upgrade', this.upgradeListener);
    }
    this.listening = true;
    const where = [this.port !== undefined ? `mqtt://${opts.host ?? '*'}:${this.port}` : '', this.wsPort !== undefined ? `ws://${opts.host ?? '*'}:${this.wsPort}` : '', opts.wsServer ? `ws path ${this.wsPath}` : '']
      .filter(Boolean)
      .join(', ');
    this.logger?.info(`mqtt broker listening on ${where || 'no port (in-process only)'} (${persistence.kind} persistence)`);
    this.emit('connected');
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, anyPath: boolean): void {
    // On a shared server, leave other paths to their owners (Node-RED's websockets, the device gateway).
    if (!anyPath && new URL(req.url ?? '/', 'http://localhost').pathname !== this.wsPath) return;
    if (!this.wss || this.closing) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss?.emit('connection', ws, req));
  }

  private emitClient(client: Client, event: BrokerClientEvent['event']): void {
    const identity = this.identities.get(client);
    const info: BrokerClientEvent = { clientId: client.id, event };
    if (identity) {
      info.role = identity.role;
      if (identity.username !== undefined) info.username = identity.username;
    }
    const remoteAddress = remoteAddressOf(client);
    if (remoteAddress) info.remoteAddress = remoteAddress;
    this.emit('client', info);
  }

  private deny(denial: BrokerDenial): void {
    this.counters.denials++;
    const who = [denial.clientId || '(no id)', denial.username ? `user ${denial.username}` : '', denial.role ? `role ${denial.role}` : '', denial.remoteAddress ?? '']
      .filter(Boolean)
      .join(', ');
    this.logger?.warn(`mqtt ${denial.action} denied${denial.topic !== undefined ? ` on ${denial.topic}` : ''} for ${who}: ${denial.reason}`);
    this.emit('denied', denial);
  }

  private requireOpen(): Aedes {
    if (!this.aedes || this.closing || !this.listening) throw new BrokerError('closed', 'the broker is closed');
    return this.aedes;
  }

  async publish(topic: string, payload: HubPayload, opts: HubPublishOptions = {}): Promise<void> {
    assertPublishTopic(topic);
    const aedes = this.requireOpen();
    const packet: PublishPacket = { cmd: 'publish', topic, payload: encodePayload(payload), qos: opts.qos ?? 0, retain: opts.retain ?? false, dup: false };
    await new Promise<void>((resolve, reject) => aedes.publish(packet, (error?: Error) => (error ? reject(error) : resolve())));
  }

  async subscribe(filter: string, handler: HubMessageHandler): Promise<() => Promise<void>> {
    assertTopicFilter(filter);
    const aedes = this.requireOpen();
    const wildcardFirst = filter.startsWith('+') || filter.startsWith('#');
    const call = (topic: string, payload: Buffer, retain: boolean, qos: number) => {
      this.counters.messagesOut++;
      try {
        handler(topic, payload, { retain, qos });
      } catch (error) {
        this.logger?.warn(`mqtt subscriber of ${filter} threw: ${(error as Error).message}`);
      }
    };
    const subscription: InternalSubscription = {
      filter,
      deliver: (packet, cb) => {
        // MQTT 3.1.1 §4.7.2: wildcard-first filters do not see $ topics (aedes' emitter would deliver them).
        if (!(wildcardFirst && packet.topic.startsWith('$'))) call(packet.topic, Buffer.from(packet.payload as Buffer), false, packet.qos);
        cb();
      },
    };
    await new Promise<void>((resolve, reject) => {
      // aedes' typing says `() => void`, but it passes an error for filters with too many levels.
      const done = ((error?: Error) => (error ? reject(new BrokerError('bad_topic', error.message)) : resolve())) as () => void;
      aedes.subscribe(filter, subscription.deliver, done);
    });
    this.subscriptions.add(subscription);
    // Like an MQTT client: a new subscription first gets the matching retained messages.
    for (const message of await this.retained(filter)) call(message.topic, message.payload, true, 0);
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      this.subscriptions.delete(subscription);
      if (!this.aedes || this.closing) return;
      const a = this.aedes;
      await new Promise<void>((resolve) => a.unsubscribe(filter, subscription.deliver, () => resolve()));
    };
  }

  async retained(filter: string): Promise<RetainedMessage[]> {
    assertTopicFilter(filter);
    this.requireOpen();
    const persistence = this.persistence;
    if (!persistence) return [];
    const wildcardFirst = filter.startsWith('+') || filter.startsWith('#');
    const messages: RetainedMessage[] = [];
    for await (const packet of persistence.createRetainedStream(filter)) {
      if (wildcardFirst && packet.topic.startsWith('$')) continue;
      messages.push({ topic: packet.topic, payload: Buffer.from(packet.payload) });
    }
    return messages;
  }

  /**
   * Push a message to a connected xiaozhi device on `devices/p2p/<deviceId>` without it having
   * subscribed (protocol.md §4.1: the firmware subscribes to nothing). Returns how many
   * connections of that device got it (0: not connected).
   */
  async pushToDevice(deviceId: string, payload: HubPayload): Promise<number> {
    const aedes = this.requireOpen();
    const topic = `${DEVICE_P2P_PREFIX}${deviceId}`;
    const clients = (aedes as unknown as { clients: Record<string, Client> }).clients;
    const targets = Object.values(clients).filter((client) => this.identities.get(client)?.deviceId === deviceId && !client.closed);
    const body = encodePayload(payload);
    await Promise.all(
      targets.map(
        (client) => new Promise<void>((resolve) => client.publish({ cmd: 'publish', topic, payload: body, qos: 0, retain: false, dup: false }, () => resolve())),
      ),
    );
    return targets.length;
  }

  stats(): HubBrokerStats {
    return { clients: this.listening && !this.closing ? (this.aedes?.connectedClients ?? 0) : 0, ...this.counters };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const wasListening = this.listening;
    this.listening = false;
    this.attachedServer?.off('upgrade', this.upgradeListener);
    this.ownHttpServer?.off('upgrade', this.ownUpgradeListener);
    // Stop accepting first, then let aedes close every client (which ends their sockets).
    const serversClosed = Promise.all([closeServer(this.tcpServer), closeServer(this.ownHttpServer)]);
    const aedes = this.aedes;
    if (aedes && !aedes.closed) {
      await withTimeout(new Promise<void>((resolve) => aedes.close(() => resolve())), 5000, () => new Error('aedes close timed out')).catch((error: Error) =>
        this.logger?.warn(`closing mqtt broker: ${error.message}`),
      );
    }
    for (const client of this.wss?.clients ?? []) client.terminate();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await serversClosed;
    // aedes.close() leaves the persistence open; the Redis one holds two connections.
    if (this.persistence && this.persistenceSetUp) {
      const persistence = this.persistence;
      await withTimeout(Promise.resolve().then(() => persistence.destroy()), 2000, () => new Error('persistence close timed out')).catch((error: Error) =>
        this.logger?.debug?.(`closing broker persistence: ${error.message}`),
      );
    }
    // Whatever state the emitter and persistence ended in, no Redis socket or retry timer survives close().
    for (const conn of this.redisConnections.splice(0)) conn.disconnect();
    this.subscriptions.clear();
    if (wasListening) this.emit('disconnected');
  }
}
