import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { MqttClient } from 'mqtt';
import { BrokerError, EmbeddedBroker, type HubBroker } from '../../src/broker';
import { connectClient, freePort, sleep, waitFor } from '../broker/broker-fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const brokerNode = require('../../nodes/xiaozhi-broker/xiaozhi-broker');

helper.init(require.resolve('node-red'));

// Typed here: the shared typings of the helper (test/types) do not list url().
const helperUrl = helper as unknown as { url(): string };

interface BrokerRuntime {
  broker: Promise<HubBroker>;
  register(user: { onBrokerStatus(status: { text?: string; fill?: string }): void }): void;
  deregister(user: unknown): void;
}

const HOST = '127.0.0.1';

describe('Node-RED node: xiaozhi-broker', function () {
  const clients: MqttClient[] = [];

  beforeEach((done) => {
    helper.startServer(done);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  });

  async function load(config: Record<string, unknown>, credentials: Record<string, string> = {}): Promise<BrokerRuntime> {
    await helper.load(brokerNode, [{ id: 'b', type: 'xiaozhi-broker', ...config }], { b: credentials });
    const node = helper.getNode('b') as unknown as BrokerRuntime;
    assert.ok(node, 'node loaded');
    return node;
  }
  const statusesOf = (node: BrokerRuntime) => {
    const texts: string[] = [];
    node.register({ onBrokerStatus: (s) => texts.push(s.text ?? '') });
    return texts;
  };

  it('runs an embedded broker with users from the credentials and reports clients in its status', async () => {
    const port = await freePort();
    const wsPort = await freePort();
    const node = await load(
      { mode: 'embedded', port, host: HOST, wsMode: 'port', wsPort, allowAnonymousLoopback: false },
      { users: 'z2m:pw:automation\nhub:hub-pw:admin' },
    );
    const broker = await node.broker;
    assert.equal(broker.kind, 'embedded');
    const statuses = statusesOf(node);
    assert.equal(statuses[0], `${port} · 0 clients`);
    await assert.rejects(connectClient(`mqtt://${HOST}:${port}`), (e: Error & { code?: number }) => e.code === 5);
    await assert.rejects(connectClient(`mqtt://${HOST}:${port}`, { username: 'z2m', password: 'bad' }), (e: Error & { code?: number }) => e.code === 4);
    clients.push(await connectClient(`mqtt://${HOST}:${port}`, { username: 'z2m', password: 'pw' }));
    clients.push(await connectClient(`ws://${HOST}:${wsPort}/mqtt`, { username: 'hub', password: 'hub-pw' }));
    await waitFor(() => statuses.includes(`${port} · 2 clients`) || undefined, 'status with 2 clients');
    // The flows' interface works through the node.
    const got: string[] = [];
    await broker.subscribe('zigbee2mqtt/+', (t) => got.push(t));
    await clients[0]?.publishAsync('zigbee2mqtt/lamp', '{"state":"ON"}', { qos: 1 });
    await waitFor(() => got.length === 1 || undefined, 'message from the MQTT client');
  });

  it("serves MQTT over WebSocket on Node-RED's own HTTP port, and stops on redeploy", async () => {
    const node = await load({ mode: 'embedded', port: 0, host: HOST, wsMode: 'node-red', wsPath: '/mqtt-hub' });
    const broker = await node.broker;
    const wsUrl = `${helperUrl.url().replace(/^http/, 'ws')}/mqtt-hub`;
    const c = await connectClient(wsUrl);
    clients.push(c);
    const got: string[] = [];
    await broker.subscribe('via/node-red', (_t, p) => got.push(p.toString()));
    await c.publishAsync('via/node-red', 'ok', { qos: 1 });
    await waitFor(() => got.length === 1 || undefined, 'message over the Node-RED port');
    await helper.unload();
    await assert.rejects(connectClient(wsUrl, { connectTimeout: 1000 }));
  });

  it('frees its ports on redeploy (reload on the same ports)', async () => {
    const port = await freePort();
    const wsPort = await freePort();
    const flow = { mode: 'embedded', port, host: HOST, wsMode: 'port', wsPort };
    const first = await load(flow);
    await first.broker;
    const c = await connectClient(`mqtt://${HOST}:${port}`);
    const dropped = new Promise<void>((resolve) => c.once('close', () => resolve()));
    await helper.unload();
    await dropped;
    const second = await load(flow);
    const broker = await second.broker;
    assert.equal(broker.connected, true);
    clients.push(await connectClient(`mqtt://${HOST}:${port}`));
    clients.push(await connectClient(`ws://${HOST}:${wsPort}/mqtt`));
    assert.equal(broker.stats().clients, 2);
  });

  it('reports a busy port and a bad users line as errors', async () => {
    const blocker = await EmbeddedBroker.start({ port: 0, host: HOST });
    try {
      const node = await load({ mode: 'embedded', port: blocker.port, host: HOST, wsMode: 'off' });
      const statuses = statusesOf(node);
      await assert.rejects(node.broker, (e: unknown) => e instanceof BrokerError && e.code === 'address_in_use');
      await waitFor(() => statuses.some((s) => s === `port ${blocker.port} in use`) || undefined, 'port-in-use status');
    } finally {
      await blocker.close();
    }
    await helper.unload();
    const bad = await load({ mode: 'embedded', port: 0, host: HOST, wsMode: 'off' }, { users: 'ok:pw\nbroken line' });
    await assert.rejects(bad.broker, (e: unknown) => e instanceof BrokerError && e.code === 'bad_config' && /line 2/.test(e.message));
  });

  it('connects to an external broker with the same interface', async () => {
    const external = await EmbeddedBroker.start({ port: 0, host: HOST, allowAnonymousLoopback: false, users: [{ username: 'hub', password: 'secret', role: 'admin' }] });
    try {
      const node = await load({ mode: 'external', url: `mqtt://${HOST}:${external.port}` }, { username: 'hub', password: 'secret' });
      const broker = await node.broker;
      assert.equal(broker.kind, 'external');
      const statuses = statusesOf(node);
      await waitFor(() => statuses.includes(`connected to mqtt://${HOST}:${external.port}`) || undefined, 'connected status');
      const got: string[] = [];
      await broker.subscribe('from/embedded', (_t, p) => got.push(p.toString()));
      await external.publish('from/embedded', 'hi');
      await waitFor(() => got.length === 1 || undefined, 'message through the external connection');
      await broker.publish('from/node', 'x', { retain: true });
      let retained = await external.retained('from/node');
      for (let i = 0; i < 40 && retained.length === 0; i++) {
        await sleep(25);
        retained = await external.retained('from/node');
      }
      assert.equal(retained[0]?.payload.toString(), 'x');
    } finally {
      await helper.unload();
      await external.close();
    }
  });
});
