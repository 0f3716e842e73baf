import { EmbeddedBroker, type EmbeddedBrokerOptions } from '../../src/broker/broker-embedded';
import { ExternalBroker } from '../../src/broker/broker-external';
import { parseBrokerUsers } from '../../src/broker/broker-auth';
import { BrokerError, type BrokerLogger, type HubBroker } from '../../src/broker/broker-types';
import { asError, bool, num, type NodeStatus, type RedApi, type RedNode } from '../shared/node-red';

/** Editor fields of the `xiaozhi-broker` config node. */
export interface BrokerNodeConfig {
  name?: string;
  mode?: 'embedded' | 'external';
  // embedded
  port?: string | number;
  host?: string;
  wsMode?: 'off' | 'port' | 'node-red';
  wsPort?: string | number;
  wsPath?: string;
  allowAnonymousLoopback?: boolean | string;
  persistence?: 'memory' | 'redis';
  redisUrl?: string;
  maxClients?: string | number;
  // external
  url?: string;
  clientId?: string;
}

/** Credentials of the node: `users` (embedded, one `user:password:role` per line), `deviceKey`, `username`/`password` (external). */
export interface BrokerNodeCredentials {
  users?: string;
  deviceKey?: string;
  username?: string;
  password?: string;
}

/** What flow nodes registered with the broker node get told. */
export interface BrokerNodeUser {
  onBrokerStatus(status: NodeStatus): void;
}

/** The runtime object of a `xiaozhi-broker` config node, as flow nodes see it. */
export interface XiaozhiBrokerNode extends RedNode {
  /** Resolves to the running broker (embedded) or the connection (external); rejects if it cannot start. */
  broker: Promise<HubBroker>;
  register(user: BrokerNodeUser): void;
  deregister(user: BrokerNodeUser): void;
}

/** Map editor fields and credentials onto embedded broker options (exported for tests and the runner). */
export function embeddedOptionsFromConfig(config: BrokerNodeConfig, credentials: BrokerNodeCredentials): EmbeddedBrokerOptions {
  const options: EmbeddedBrokerOptions = {
    port: num(config.port, 1883),
    users: parseBrokerUsers(credentials.users),
    allowAnonymousLoopback: bool(config.allowAnonymousLoopback, true),
    maxClients: num(config.maxClients, 10_000),
  };
  const host = config.host?.trim();
  if (host) options.host = host;
  if (config.wsMode === 'port') options.wsPort = num(config.wsPort, 8083);
  if (config.wsMode === 'port' || config.wsMode === 'node-red') options.wsPath = config.wsPath?.trim() || '/mqtt';
  if (credentials.deviceKey) options.deviceSignatureKey = credentials.deviceKey;
  if (config.persistence === 'redis') {
    const url = config.redisUrl?.trim();
    if (!url) throw new BrokerError('bad_config', 'Redis persistence needs a Redis URL');
    options.persistence = { kind: 'redis', url };
  }
  return options;
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiBroker(this: XiaozhiBrokerNode, config: BrokerNodeConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const credentials = (node.credentials ?? {}) as BrokerNodeCredentials;
    const users = new Set<BrokerNodeUser>();
    let live: HubBroker | undefined;
    let status: NodeStatus = { fill: 'yellow', shape: 'ring', text: 'starting' };
    let statusTimer: NodeJS.Timeout | undefined;
    let closed = false;
    const logger: BrokerLogger = { info: (m) => node.log(m), warn: (m) => node.warn(m), debug: (m) => node.debug(m) };

    const setStatus = (next: NodeStatus, immediate = false) => {
      status = next;
      if (immediate) {
        for (const user of users) user.onBrokerStatus(status);
        return;
      }
      // Coalesce bursts (many clients connecting) into one update every 250 ms.
      if (statusTimer) return;
      statusTimer = setTimeout(() => {
        statusTimer = undefined;
        for (const user of users) user.onBrokerStatus(status);
      }, 250);
    };
    const embeddedStatus = (broker: EmbeddedBroker): NodeStatus => {
      const clients = broker.stats().clients;
      const where = broker.port !== undefined ? `${broker.port}` : broker.wsPort !== undefined ? `ws ${broker.wsPort}` : 'ws';
      return { fill: clients > 0 ? 'green' : 'grey', shape: clients > 0 ? 'dot' : 'ring', text: `${where} · ${clients} client${clients === 1 ? '' : 's'}` };
    };
    const failed = (error: unknown): NodeStatus => {
      const e = asError(error);
      return { fill: 'red', shape: 'ring', text: e.message.replace(' is already in use', ' in use').slice(0, 60) };
    };

    const startEmbedded = async (): Promise<HubBroker> => {
      const options = embeddedOptionsFromConfig(config, credentials);
      options.logger = logger;
      if (config.wsMode === 'node-red') {
        if (!RED.server) throw new BrokerError('bad_config', "MQTT over WebSocket on Node-RED's port needs Node-RED's HTTP server");
        options.wsServer = RED.server;
      }
      const broker = await EmbeddedBroker.start(options);
      if (closed) {
        // Redeployed while starting: do not leak the ports.
        await broker.close();
        throw new BrokerError('closed', 'closed while starting');
      }
      const update = () => setStatus(embeddedStatus(broker));
      broker.on('client', update);
      broker.on('disconnected', () => setStatus({ fill: 'grey', shape: 'ring', text: 'stopped' }, true));
      setStatus(embeddedStatus(broker), true);
      return broker;
    };

    const startExternal = async (): Promise<HubBroker> => {
      const url = config.url?.trim();
      if (!url) throw new BrokerError('bad_config', 'an external broker needs a URL');
      const options: Parameters<typeof ExternalBroker.create>[0] = { url, logger };
      if (credentials.username) options.username = credentials.username;
      if (credentials.password) options.password = credentials.password;
      if (config.clientId?.trim()) options.clientId = config.clientId.trim();
      // Do not wait: the broker may come up after Node-RED; mqtt.js keeps retrying and flows'
      // subscriptions are sent once connected.
      const broker = ExternalBroker.create(options);
      setStatus({ fill: 'yellow', shape: 'ring', text: `connecting to ${broker.url}` }, true);
      broker.on('connected', () => setStatus({ fill: 'green', shape: 'dot', text: `connected to ${broker.url}` }, true));
      broker.on('disconnected', (error?: Error) =>
        setStatus({ fill: 'red', shape: 'ring', text: error ? `disconnected: ${error.message}`.slice(0, 60) : `disconnected from ${broker.url}` }, true),
      );
      return broker;
    };

    node.broker = (async () => {
      try {
        live = config.mode === 'external' ? await startExternal() : await startEmbedded();
        return live;
      } catch (error) {
        if (!closed) {
          setStatus(failed(error), true);
          node.error(`xiaozhi broker: ${asError(error).message}`);
        }
        throw error;
      }
    })();
    // Flow nodes await node.broker themselves; this only keeps a failed start from being an unhandled rejection.
    node.broker.catch(() => undefined);

    node.register = (user) => {
      users.add(user);
      user.onBrokerStatus(status);
    };
    node.deregister = (user) => {
      users.delete(user);
    };

    node.on('close', (_removed, done) => {
      closed = true;
      if (statusTimer) clearTimeout(statusTimer);
      users.clear();
      node.broker
        .then((broker) => broker.close())
        .catch(() => undefined)
        .finally(() => done());
    });
  }

  RED.nodes.registerType('xiaozhi-broker', XiaozhiBroker, {
    credentials: {
      users: { type: 'text' },
      deviceKey: { type: 'password' },
      username: { type: 'text' },
      password: { type: 'password' },
    },
  });
};
