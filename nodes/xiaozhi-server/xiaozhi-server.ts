import { DeviceGateway, type GatewayOptionsInput } from '../../src/gateway';
import type { Session } from '../../src/gateway/session';
import { asError, bool, num, type NodeStatus, type RedApi, type RedNode } from '../shared/node-red';

/** Editor fields of the config node. */
interface ServerConfig {
  name?: string;
  mode?: 'own' | 'node-red';
  port?: string | number;
  host?: string;
  path?: string;
  otaPath?: string;
  publicUrl?: string;
  authEnabled?: boolean | string;
  allowedDevices?: string;
  maxSessions?: string | number;
  idleTimeoutSec?: string | number;
  maxFrameBytes?: string | number;
  maxMessagesPerSecond?: string | number;
  mcpEnabled?: boolean | string;
  toolTimeoutSec?: string | number;
  prerollFrames?: string | number;
}

/** What flow nodes registered with the server get told. */
export interface ServerUser {
  /** Called when the gateway's status changes (sessions, errors). */
  onServerStatus(status: NodeStatus): void;
}

/** The runtime object of a `xiaozhi-server` config node, as flow nodes see it. */
export interface XiaozhiServerNode extends RedNode {
  gateway: DeviceGateway;
  /** Resolves when the gateway is listening (rejects if it could not start). */
  ready: Promise<void>;
  register(user: ServerUser): void;
  deregister(user: ServerUser): void;
}

/** Map editor fields onto gateway options (exported for tests and the runner). */
export function gatewayOptionsFromConfig(config: ServerConfig, secret: string | undefined): GatewayOptionsInput {
  const allowed = (config.allowedDevices ?? '')
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    port: num(config.port, 8000),
    host: config.host?.trim() || undefined,
    path: config.path?.trim() || '/xiaozhi/v1/',
    publicUrl: config.publicUrl?.trim() || undefined,
    auth: { enabled: bool(config.authEnabled, false), secret: secret ?? '', allowedDevices: allowed },
    limits: {
      maxSessions: num(config.maxSessions, 10000),
      idleTimeoutMs: num(config.idleTimeoutSec, 120) * 1000,
      maxFrameBytes: num(config.maxFrameBytes, 4096),
      maxMessagesPerSecond: num(config.maxMessagesPerSecond, 100),
    },
    mcp: { enabled: bool(config.mcpEnabled, true), toolCallTimeoutMs: num(config.toolTimeoutSec, 30) * 1000 },
    downlink: { prerollFrames: num(config.prerollFrames, 5) },
    ota: { path: config.otaPath?.trim() || '/xiaozhi/ota/' },
  };
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiServer(this: XiaozhiServerNode, config: ServerConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const users = new Set<ServerUser>();
    let lastError: string | undefined;
    let statusTimer: NodeJS.Timeout | undefined;

    const attach = config.mode === 'node-red';
    const options = gatewayOptionsFromConfig(config, node.credentials.authSecret);
    if (attach) options.server = RED.server;
    options.logger = { info: (m) => node.log(m), warn: (m) => node.warn(m), error: (m) => node.error(m), debug: (m) => node.debug(m) };

    const currentStatus = (): NodeStatus => {
      if (lastError) return { fill: 'red', shape: 'ring', text: lastError };
      const s = node.gateway.stats();
      const where = attach ? node.gateway.options.path : `:${node.gateway.port}`;
      if (s.sessions === 0) return { fill: 'grey', shape: 'ring', text: `${where} no devices` };
      const busy = [s.listening ? `${s.listening} listening` : '', s.speaking ? `${s.speaking} speaking` : ''].filter(Boolean).join(', ');
      return { fill: 'green', shape: 'dot', text: `${s.sessions} device${s.sessions === 1 ? '' : 's'}${busy ? ` (${busy})` : ''}` };
    };
    const publishStatus = () => {
      // Coalesce bursts (many devices connecting) into one update every 250 ms.
      if (statusTimer) return;
      statusTimer = setTimeout(() => {
        statusTimer = undefined;
        const status = currentStatus();
        for (const user of users) user.onServerStatus(status);
      }, 250);
    };

    try {
      node.gateway = new DeviceGateway(options);
    } catch (error) {
      lastError = `config error: ${asError(error).message}`;
      node.error(lastError);
      node.gateway = new DeviceGateway({ port: 0 });
      node.ready = Promise.reject(new Error(lastError));
      node.ready.catch(() => undefined);
      node.register = (user) => {
        users.add(user);
        user.onServerStatus(currentStatus());
      };
      node.deregister = (user) => users.delete(user);
      return;
    }
    const gateway = node.gateway;
    gateway.on('session', (session: Session) => {
      publishStatus();
      session.on('state', publishStatus);
    });
    gateway.on('session-closed', publishStatus);
    gateway.on('error', (error: Error) => {
      lastError = error.message;
      node.error(`xiaozhi server: ${error.message}`);
      publishStatus();
    });

    if (attach && RED.httpNode) {
      // OTA on Node-RED's own HTTP server (httpNodeRoot); WebSocket upgrades on our path.
      const otaPath = gateway.options.ota.path;
      const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
        if (!gateway.handleHttp(req, res)) res.writeHead(404).end();
      };
      for (const p of [otaPath, `${otaPath.replace(/\/+$/, '')}/activate`]) {
        RED.httpNode.post(p, handler);
        RED.httpNode.options(p, handler);
        RED.httpNode.get(p, handler);
      }
    }

    node.ready = gateway.start().then(
      () => {
        node.log(`xiaozhi devices: ${gateway.websocketUrlFor()} (OTA ${gateway.options.ota.path})`);
        publishStatus();
      },
      (error: NodeJS.ErrnoException) => {
        lastError = error.code === 'EADDRINUSE' ? `port ${gateway.options.port} in use` : error.message;
        node.error(`xiaozhi server could not start: ${lastError}`);
        publishStatus();
        throw error;
      },
    );
    node.ready.catch(() => undefined);

    node.register = (user) => {
      users.add(user);
      user.onServerStatus(currentStatus());
    };
    node.deregister = (user) => {
      users.delete(user);
    };

    node.on('close', (_removed, done) => {
      if (statusTimer) clearTimeout(statusTimer);
      users.clear();
      gateway
        .close()
        .catch((error: Error) => node.warn(`closing xiaozhi server: ${error.message}`))
        .finally(() => done());
    });
  }

  RED.nodes.registerType('xiaozhi-server', XiaozhiServer, {
    credentials: { authSecret: { type: 'password' } },
  });
};
