/**
 * An external broker (Mosquitto, EMQX, Home Assistant's add-on...) reached through mqtt.js,
 * behind the same {@link HubBroker} interface as the embedded one. mqtt.js reconnects on its own
 * and re-subscribes after a reconnect; we only route messages to handlers and report status.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import { assertPublishTopic, assertTopicFilter, encodePayload, topicMatches } from './broker-topic';
import {
  BrokerError,
  type BrokerLogger,
  type HubBroker,
  type HubBrokerStats,
  type HubMessageHandler,
  type HubPayload,
  type HubPublishOptions,
  type RetainedMessage,
} from './broker-types';

/** Options of {@link ExternalBroker.connect}. */
export interface ExternalBrokerOptions {
  /** `mqtt://host:1883`, `mqtts://`, `ws://host:8083/mqtt`, `wss://`. */
  url: string;
  username?: string;
  password?: string;
  /** Default `xiaozhi-hub-<random>`. */
  clientId?: string;
  /** How long {@link ExternalBroker.connect} waits for the first CONNACK (default 10 s). */
  connectTimeoutMs?: number;
  /** Pause between reconnect attempts (default 2 s). */
  reconnectPeriodMs?: number;
  /** {@link ExternalBroker.retained} stops collecting after this long without a new retained message (default 300 ms). */
  retainedQuietMs?: number;
  logger?: BrokerLogger;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_RECONNECT_PERIOD_MS = 2_000;
const DEFAULT_RETAINED_QUIET_MS = 300;
/** Upper bound of one retained() snapshot, however chatty the broker is. */
const RETAINED_MAX_WAIT_MS = 5_000;
/** Mosquitto's client count ($SYS is not standard; other brokers simply never send it). */
const SYS_CLIENTS_TOPIC = '$SYS/broker/clients/connected';

/** CONNACK return codes that retrying cannot fix (MQTT 3.1.1 §3.2.2.3 / MQTT 5 reason codes). */
const AUTH_REFUSAL_CODES = new Set([4, 5, 0x86, 0x87]);

/** The URL without its password, for logs and status text. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

interface HandlerEntry {
  filter: string;
  handler: HubMessageHandler;
}

/**
 * The hub's view of an external MQTT broker.
 *
 * Events: `connected`, `disconnected` (Error?), `reconnecting`.
 */
export class ExternalBroker extends EventEmitter implements HubBroker {
  readonly kind = 'external' as const;
  /** The broker URL with the password masked. */
  readonly url: string;
  /** The last connection error (cleared on connect). */
  lastError: Error | undefined;
  private readonly client: MqttClient;
  /** Handlers per filter; one MQTT subscription per filter however many handlers share it. */
  private readonly filters = new Map<string, Set<HandlerEntry>>();
  private readonly counters = { messagesIn: 0, messagesOut: 0 };
  private brokerClients = 0;
  private closed = false;
  private readonly logger: BrokerLogger | undefined;

  private constructor(private readonly options: ExternalBrokerOptions) {
    super();
    this.url = redactUrl(options.url);
    this.logger = options.logger;
    const mqttOptions: IClientOptions = {
      clientId: options.clientId || `xiaozhi-hub-${randomBytes(4).toString('hex')}`,
      reconnectPeriod: options.reconnectPeriodMs ?? DEFAULT_RECONNECT_PERIOD_MS,
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      clean: true,
      resubscribe: true,
    };
    if (options.username) mqttOptions.username = options.username;
    if (options.password) mqttOptions.password = options.password;
    this.client = mqttConnect(options.url, mqttOptions);
    this.client.on('connect', () => {
      this.lastError = undefined;
      this.logger?.info(`mqtt connected to ${this.url}`);
      // Best effort: lets stats() report the broker's client count where the broker offers it.
      this.client.subscribe(SYS_CLIENTS_TOPIC, { qos: 0 }, () => undefined);
      this.emit('connected');
    });
    this.client.on('close', () => {
      if (this.closed) return;
      this.emit('disconnected', this.lastError);
    });
    this.client.on('reconnect', () => this.emit('reconnecting'));
    this.client.on('error', (error: Error & { code?: number | string }) => {
      this.lastError = error;
      this.logger?.warn(`mqtt ${this.url}: ${error.message}`);
    });
    this.client.on('message', (topic, payload, packet) => this.dispatch(topic, payload, packet.retain, packet.qos));
  }

  /**
   * Start a connection that keeps retrying in the background, without waiting for it. Use when
   * the broker may come up later (Node-RED deploy): subscriptions and QoS 1 publishes made
   * meanwhile are sent once connected.
   */
  static create(options: ExternalBrokerOptions): ExternalBroker {
    if (!options.url) throw new BrokerError('bad_config', 'an external broker needs a URL');
    return new ExternalBroker(options);
  }

  /**
   * Connect and wait for the first CONNACK. Rejects (and closes the client) with `not_authorized`
   * when the broker refuses the credentials, `timeout` when it does not answer in time.
   */
  static async connect(options: ExternalBrokerOptions): Promise<ExternalBroker> {
    const broker = ExternalBroker.create(options);
    try {
      await broker.whenConnected(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    } catch (error) {
      await broker.close();
      throw error;
    }
    return broker;
  }

  get connected(): boolean {
    return !this.closed && this.client.connected;
  }

  /** Resolve once connected; reject on an authentication refusal or after `timeoutMs`. */
  whenConnected(timeoutMs: number = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.client.off('connect', onConnect);
        this.client.off('error', onError);
      };
      const onConnect = () => {
        cleanup();
        resolve();
      };
      const onError = (error: Error & { code?: number | string }) => {
        if (typeof error.code === 'number' && AUTH_REFUSAL_CODES.has(error.code)) {
          cleanup();
          reject(new BrokerError('not_authorized', `${this.url} refused the connection: ${error.message}`, { cause: error }));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        const why = this.lastError ? `: ${this.lastError.message}` : '';
        reject(new BrokerError('timeout', `no connection to ${this.url} within ${timeoutMs} ms${why}`, { cause: this.lastError }));
      }, timeoutMs);
      this.client.on('connect', onConnect);
      this.client.on('error', onError);
    });
  }

  private dispatch(topic: string, payload: Buffer, retain: boolean, qos: number): void {
    if (topic === SYS_CLIENTS_TOPIC) {
      const n = Number(payload.toString('utf8'));
      if (Number.isFinite(n)) this.brokerClients = n;
    }
    let delivered = false;
    for (const [filter, entries] of this.filters) {
      if (!topicMatches(filter, topic)) continue;
      for (const entry of entries) {
        delivered = true;
        try {
          entry.handler(topic, payload, { retain, qos });
        } catch (error) {
          this.logger?.warn(`mqtt subscriber of ${entry.filter} threw: ${(error as Error).message}`);
        }
      }
    }
    if (delivered || topic !== SYS_CLIENTS_TOPIC) this.counters.messagesIn++;
  }

  private requireOpen(): void {
    if (this.closed) throw new BrokerError('closed', 'the broker connection is closed');
  }

  async publish(topic: string, payload: HubPayload, opts: HubPublishOptions = {}): Promise<void> {
    assertPublishTopic(topic);
    this.requireOpen();
    await this.client.publishAsync(topic, encodePayload(payload), { qos: opts.qos ?? 0, retain: opts.retain ?? false });
    this.counters.messagesOut++;
  }

  async subscribe(filter: string, handler: HubMessageHandler): Promise<() => Promise<void>> {
    assertTopicFilter(filter);
    this.requireOpen();
    const entry: HandlerEntry = { filter, handler };
    let entries = this.filters.get(filter);
    if (entries) {
      // The filter is already subscribed, so the broker will not resend its retained messages:
      // hand the new handler a snapshot of its own, like a fresh MQTT subscription would get.
      entries.add(entry);
      for (const message of await this.retained(filter)) {
        if (entries.has(entry)) handler(message.topic, message.payload, { retain: true, qos: 0 });
      }
    } else {
      entries = new Set([entry]);
      this.filters.set(filter, entries);
      try {
        await this.client.subscribeAsync(filter, { qos: 1 });
      } catch (error) {
        // mqtt.js rejects a SUBACK failure (0x80) with the packet attached.
        const refused = (error as { packet?: { granted?: number[] } }).packet?.granted?.some((qos) => qos >= 128);
        if (refused) error = new BrokerError('not_authorized', `${this.url} refused the subscription to ${filter}`);
        entries.delete(entry);
        if (entries.size === 0) this.filters.delete(filter);
        throw error instanceof BrokerError ? error : new BrokerError('connect_failed', `subscribe ${filter}: ${(error as Error).message}`, { cause: error });
      }
    }
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      const set = this.filters.get(filter);
      if (!set) return;
      set.delete(entry);
      if (set.size > 0) return;
      this.filters.delete(filter);
      if (this.closed) return;
      await this.client.unsubscribeAsync(filter).catch((error: Error) => this.logger?.debug?.(`unsubscribe ${filter}: ${error.message}`));
    };
  }

  /**
   * Snapshot of the retained messages matching `filter`. MQTT has no "list retained" request, so
   * a short-lived second connection subscribes, collects what arrives flagged retained until
   * `retainedQuietMs` pass without one (or a live message arrives), and disconnects. A separate
   * connection keeps the snapshot from disturbing the main connection's subscriptions.
   */
  async retained(filter: string): Promise<RetainedMessage[]> {
    assertTopicFilter(filter);
    this.requireOpen();
    const quietMs = this.options.retainedQuietMs ?? DEFAULT_RETAINED_QUIET_MS;
    const options: IClientOptions = {
      clientId: `${(this.client.options.clientId ?? 'xiaozhi-hub').slice(0, 40)}-snap-${randomBytes(3).toString('hex')}`,
      reconnectPeriod: 0,
      connectTimeout: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      clean: true,
    };
    if (this.options.username) options.username = this.options.username;
    if (this.options.password) options.password = this.options.password;
    const snapshot = mqttConnect(this.options.url, options);
    const messages = new Map<string, Buffer>();
    try {
      await new Promise<void>((resolve, reject) => {
        snapshot.once('connect', () => resolve());
        // `on`, not `once`: a second 'error' without a listener would throw out of mqtt.js.
        snapshot.on('error', (error) => reject(new BrokerError('connect_failed', `retained snapshot from ${this.url}: ${error.message}`, { cause: error })));
        snapshot.once('close', () => reject(new BrokerError('connect_failed', `retained snapshot from ${this.url}: connection closed`)));
      });
      await new Promise<void>((resolve, reject) => {
        let quiet: NodeJS.Timeout | undefined;
        const finish = () => {
          clearTimeout(quiet);
          clearTimeout(cap);
          resolve();
        };
        const cap = setTimeout(finish, RETAINED_MAX_WAIT_MS);
        snapshot.on('message', (topic, payload, packet) => {
          // A live (non-retained) message means the broker has sent every retained one before it.
          if (!packet.retain) return finish();
          messages.set(topic, Buffer.from(payload));
          clearTimeout(quiet);
          quiet = setTimeout(finish, quietMs);
        });
        snapshot.subscribe(filter, { qos: 0 }, (error, grants) => {
          if (error || grants?.some((grant) => grant.qos >= 128)) {
            clearTimeout(cap);
            return reject(new BrokerError('not_authorized', `${this.url} refused the subscription to ${filter}`));
          }
          quiet ??= setTimeout(finish, quietMs);
        });
      });
    } finally {
      await snapshot.endAsync(true).catch(() => undefined);
    }
    return [...messages].map(([topic, payload]) => ({ topic, payload }));
  }

  stats(): HubBrokerStats {
    return { clients: this.connected ? this.brokerClients : 0, messagesIn: this.counters.messagesIn, messagesOut: this.counters.messagesOut, denials: 0 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.filters.clear();
    const wasConnected = this.client.connected;
    // Force: pending QoS 1 retries are not worth holding a redeploy for.
    await this.client.endAsync(true).catch(() => undefined);
    if (wasConnected) this.emit('disconnected');
  }
}
