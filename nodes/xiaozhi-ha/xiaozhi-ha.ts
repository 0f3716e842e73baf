import { HaStage, HaStageError, type HaStageStatus } from '../../src/pipeline/ha-stage';
import type { StageMessage } from '../../src/pipeline/llm-stage';
import { asError, type DoneFn, type NodeMessage, type NodeStatus, type RedApi, type RedNode, type SendFn } from '../shared/node-red';
import type { XiaozhiBrokerNode } from '../xiaozhi-broker/xiaozhi-broker';
import type { XiaozhiServerNode } from '../xiaozhi-server/xiaozhi-server';

/** Editor fields of the `xiaozhi ha` node. */
export interface HaNodeConfig {
  name?: string;
  /** Id of the xiaozhi-server config node whose devices are published. */
  server?: string;
  /** Id of the xiaozhi-broker config node Home Assistant is connected to. */
  broker?: string;
  /** Home Assistant's discovery prefix (default `homeassistant`). */
  discoveryPrefix?: string;
  /** Base of the device topics (default `xiaozhi`). */
  baseTopic?: string;
}

/** The node's status from the stage's (exported for tests). */
export function haStatus(status: HaStageStatus): NodeStatus {
  if (status.lastError !== undefined) return { fill: 'red', shape: 'ring', text: status.lastError.slice(0, 60) };
  if (status.devices === 0) return { fill: 'grey', shape: 'ring', text: 'no devices' };
  return { fill: 'green', shape: 'dot', text: `${status.devices} device${status.devices === 1 ? '' : 's'} in HA` };
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiHa(this: RedNode, config: HaNodeConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const server = config.server ? (RED.nodes.getNode(config.server) as XiaozhiServerNode | null) : null;
    const brokerNode = config.broker ? (RED.nodes.getNode(config.broker) as XiaozhiBrokerNode | null) : null;
    let stage: HaStage | undefined;
    let closed = false;

    if (!server || !brokerNode) {
      node.status({ fill: 'red', shape: 'ring', text: !server ? 'no server' : 'no broker' });
      node.error(`xiaozhi ha: choose a ${!server ? 'xiaozhi-server' : 'xiaozhi-broker'} config node`);
    } else {
      node.status({ fill: 'yellow', shape: 'ring', text: 'waiting for the broker' });
      const serverUser = { onServerStatus: () => undefined };
      server.register(serverUser);
      node.on('close', (_removed, done) => {
        server.deregister(serverUser);
        done();
      });
      brokerNode.broker.then(
        async (broker) => {
          if (closed) return;
          const started = new HaStage({
            broker,
            discoveryPrefix: config.discoveryPrefix?.trim() || undefined,
            baseTopic: config.baseTopic?.trim().replace(/\/+$/, '') || undefined,
            send: (msg: StageMessage) => node.send(msg as NodeMessage),
            warn: (message) => node.warn(message),
            onStatus: (status) => node.status(haStatus(status)),
          });
          stage = started;
          try {
            await started.start();
          } catch (error) {
            node.status({ fill: 'red', shape: 'ring', text: asError(error).message.slice(0, 60) });
            node.error(`xiaozhi ha: ${asError(error).message}`);
            return;
          }
          if (closed) return;
          started.attach(server.gateway);
          node.status(haStatus({ devices: started.connectedDevices }));
        },
        (error: unknown) => {
          // The broker node reports its own failure; say here why this node does nothing.
          node.status({ fill: 'red', shape: 'ring', text: `broker: ${asError(error).message}`.slice(0, 60) });
        },
      );
    }

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      if (!stage) {
        // Not connected to the broker yet: the chain must keep flowing; only announcements need HA's side.
        if (msg.topic === 'announce') {
          done(new HaStageError('closed', 'announce: the broker is not ready'));
          return;
        }
        send(msg);
        done();
        return;
      }
      try {
        stage.handle(msg as StageMessage);
        done();
      } catch (error) {
        done(asError(error));
      }
    });

    node.on('close', (removed, done) => {
      closed = true;
      const current = stage;
      stage = undefined;
      if (!current) {
        done();
        return;
      }
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        done();
      };
      // Bounded: a broker that is already gone must not hold up a redeploy.
      const timer = setTimeout(finish, 2000);
      // Deleted from the flow: remove its devices from Home Assistant too; redeployed: just offline.
      current
        .close({ forget: removed })
        .catch(() => undefined)
        .finally(finish);
    });
  }

  RED.nodes.registerType('xiaozhi ha', XiaozhiHa);
};
