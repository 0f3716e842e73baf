/**
 * The broker interface the rest of the hub uses (catalogue, actions, HA discovery, flows), the same
 * whether the broker is the embedded aedes one or an external Mosquitto/EMQX reached through
 * mqtt.js. Framework-free.
 */
import type { EventEmitter } from 'node:events';

/** What an MQTT client may do on the embedded broker (see broker-acl.ts for the exact rules). */
export type BrokerRole = 'admin' | 'automation' | 'device' | 'readonly';

/** Every role, in decreasing power (used to validate editor input). */
export const BROKER_ROLES: readonly BrokerRole[] = ['admin', 'automation', 'device', 'readonly'];

/** A username/password pair the embedded broker accepts, with the role it grants. */
export interface BrokerUser {
  username: string;
  password: string;
  role: BrokerRole;
}

/** Options of {@link HubBroker.publish}. */
export interface HubPublishOptions {
  /** 0 (default) or 1. QoS 2 is not offered: nothing in the hub needs exactly-once. */
  qos?: 0 | 1;
  /** Keep the message as the topic's retained value (an empty payload clears it). */
  retain?: boolean;
}

/** Per-message facts a subscriber gets along with topic and payload. */
export interface HubPacketInfo {
  /** True when the message is a stored retained value delivered because of a new subscription. */
  retain: boolean;
  qos: number;
}

/** Called for every message matching a subscription. Exceptions are caught and logged, never rethrown into the broker. */
export type HubMessageHandler = (topic: string, payload: Buffer, packet: HubPacketInfo) => void;

/** One retained message, as {@link HubBroker.retained} returns it. */
export interface RetainedMessage {
  topic: string;
  payload: Buffer;
}

/** Counters of {@link HubBroker.stats}. */
export interface HubBrokerStats {
  /**
   * Embedded: MQTT clients connected now (internal subscribers are not clients). External: the
   * broker's own `$SYS/broker/clients/connected` figure when it publishes one (Mosquitto), else 0.
   */
  clients: number;
  /** Embedded: PUBLISH packets the broker accepted (from clients and from the hub). External: messages received. */
  messagesIn: number;
  /** Embedded: deliveries to clients and internal subscribers. External: messages the hub published. */
  messagesOut: number;
  /** Connections, publishes and subscriptions refused by authentication or ACL (embedded only; 0 for external). */
  denials: number;
}

/** Payload forms {@link HubBroker.publish} accepts: text as UTF-8, bytes as is, anything else as JSON. */
export type HubPayload = string | Buffer | Uint8Array | object | number | boolean | null;

/**
 * The broker as the hub sees it.
 *
 * Events: `connected` (), `disconnected` (reason?: Error), `client` ({@link BrokerClientEvent},
 * embedded only), `denied` ({@link BrokerDenial}, embedded only). No `error` events: failures are
 * reported through `disconnected`, rejected promises and the logger, so an unhandled `error` can
 * never crash Node-RED.
 */
export interface HubBroker extends EventEmitter {
  readonly kind: 'embedded' | 'external';
  /** Embedded: listening and not closed. External: the MQTT session is up. */
  readonly connected: boolean;
  /** Publish as the hub itself (trusted: no ACL). Resolves when the broker has taken the message. */
  publish(topic: string, payload: HubPayload, opts?: HubPublishOptions): Promise<void>;
  /**
   * Subscribe a handler to a topic filter (`+` and `#` wildcards). Matching retained messages are
   * delivered first with `retain: true`, as for an MQTT client. Resolves to the unsubscribe function.
   */
  subscribe(filter: string, handler: HubMessageHandler): Promise<() => Promise<void>>;
  /** Snapshot of the retained messages matching a filter. */
  retained(filter: string): Promise<RetainedMessage[]>;
  /** Disconnect clients, free ports and Redis/MQTT connections. Idempotent. */
  close(): Promise<void>;
  stats(): HubBrokerStats;
}

/** Payload of the embedded broker's `client` event. */
export interface BrokerClientEvent {
  clientId: string;
  /** `connect` after CONNACK, `disconnect` when the connection is gone. */
  event: 'connect' | 'disconnect';
  role?: BrokerRole;
  username?: string;
  remoteAddress?: string;
}

/** Payload of the embedded broker's `denied` event (also logged as a warning). */
export interface BrokerDenial {
  action: 'connect' | 'publish' | 'subscribe';
  clientId: string;
  username?: string;
  role?: BrokerRole;
  topic?: string;
  reason: string;
  remoteAddress?: string;
}

/** Where the broker logs (Node-RED's node.log/warn fit directly). */
export interface BrokerLogger {
  info(message: string): void;
  warn(message: string): void;
  debug?(message: string): void;
}

/** Stable error codes of the broker layer. */
export type BrokerErrorCode =
  | 'bad_config'
  | 'bad_topic'
  | 'address_in_use'
  | 'redis_unavailable'
  | 'connect_failed'
  | 'not_authorized'
  | 'closed'
  | 'timeout';

/** A broker failure with a machine-readable code. */
export class BrokerError extends Error {
  readonly code: BrokerErrorCode;

  constructor(code: BrokerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerError';
    this.code = code;
  }
}

/** Topic xiaozhi devices in MQTT+UDP mode publish to (protocol.md §4.1, the OTA `publish_topic`). */
export const DEVICE_PUBLISH_TOPIC = 'device-server';

/** Prefix of the per-device downlink topic `devices/p2p/<mac_with_underscores>` (protocol.md §4.1). */
export const DEVICE_P2P_PREFIX = 'devices/p2p/';
