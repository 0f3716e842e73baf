import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { BrokerError, EmbeddedBroker } from '../../src/broker';
import { collect, connectClient, REDIS_SERVER, requireBinary, startRedis, waitFor, type ManagedServer } from './broker-fixtures';

const HOST = '127.0.0.1';

describe('broker: EmbeddedBroker with Redis persistence and emitter', function () {
  let redis: ManagedServer | undefined;
  const brokers: EmbeddedBroker[] = [];
  const clients: MqttClient[] = [];

  before(async function () {
    requireBinary(this, REDIS_SERVER);
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    for (const b of brokers.splice(0)) await b.close();
  });

  const start = async (port = 0) => {
    const broker = await EmbeddedBroker.start({ port, host: HOST, persistence: { kind: 'redis', url: redis?.url ?? '' } });
    brokers.push(broker);
    return broker;
  };

  it('delivers a QoS 1 message queued for an offline persistent session after a broker restart', async () => {
    const first = await start();
    const port = first.port ?? 0;
    // A persistent session (clean: false) subscribes at QoS 1, then goes away.
    const sub = await connectClient(`mqtt://${HOST}:${port}`, { clientId: 'offline-sub', clean: false });
    await sub.subscribeAsync('alerts/#', { qos: 1 });
    await sub.endAsync();
    // Published while it is offline: the broker must queue these in Redis.
    for (let i = 1; i <= 5; i++) await first.publish(`alerts/door/${i}`, `opened ${i}`, { qos: 1 });
    await first.close();
    brokers.splice(brokers.indexOf(first), 1);

    // A new broker process-equivalent on the same port and Redis.
    const second = await start(port);
    assert.notEqual(second.id, first.id);
    const back = mqttClientLater(`mqtt://${HOST}:${port}`, { clientId: 'offline-sub', clean: false });
    const c = await back.client;
    clients.push(c);
    await waitFor(() => back.messages.length >= 5 || undefined, 'all 5 queued messages');
    assert.equal(back.sessionPresent(), true, 'the session survived the restart');
    assert.deepEqual(
      back.messages.map((m) => m.payload).sort(),
      ['opened 1', 'opened 2', 'opened 3', 'opened 4', 'opened 5'],
    );
  });

  it('keeps retained messages across a restart', async () => {
    const first = await start();
    await first.publish('homeassistant/light/kitchen/config', { name: 'Kitchen light' }, { retain: true, qos: 1 });
    await first.close();
    brokers.splice(brokers.indexOf(first), 1);
    const second = await start();
    const retained = await second.retained('homeassistant/+/+/config');
    assert.deepEqual(retained.map((m) => m.topic), ['homeassistant/light/kitchen/config']);
    assert.equal(JSON.parse(retained[0]?.payload.toString() ?? '').name, 'Kitchen light');
  });

  it('carries messages between two instances sharing one Redis', async () => {
    const a = await start();
    const b = await start();
    // MQTT client on instance A, hub subscriber and MQTT client on instance B.
    const onB: string[] = [];
    await b.subscribe('cluster/#', (topic, payload) => onB.push(`${topic}=${payload.toString()}`));
    const clientB = await connectClient(`mqtt://${HOST}:${b.port}`);
    clients.push(clientB);
    const seenB = collect(clientB);
    await clientB.subscribeAsync('cluster/#', { qos: 1 });
    const clientA = await connectClient(`mqtt://${HOST}:${a.port}`);
    clients.push(clientA);
    const seenA = collect(clientA);
    await clientA.subscribeAsync('cluster/#', { qos: 1 });

    await clientA.publishAsync('cluster/from-a', '1', { qos: 1 });
    await a.publish('cluster/hub-a', '2', { qos: 1 });
    await clientB.publishAsync('cluster/from-b', '3', { qos: 1 });
    await waitFor(() => onB.length >= 3 || undefined, 'three messages at the hub subscriber of B');
    await waitFor(() => seenB.length >= 3 && seenA.length >= 3 || undefined, 'three messages at both clients');
    assert.deepEqual(onB.sort(), ['cluster/from-a=1', 'cluster/from-b=3', 'cluster/hub-a=2']);
    assert.deepEqual(seenA.map((m) => m.topic).sort(), ['cluster/from-a', 'cluster/from-b', 'cluster/hub-a']);
    // The retained store is shared too.
    await a.publish('cluster/state', 'on', { retain: true, qos: 1 });
    const onBRetained = await b.retained('cluster/state');
    assert.deepEqual(onBRetained.map((m) => m.payload.toString()), ['on']);
  });

  it('fails to start with redis_unavailable when Redis does not answer, and leaves nothing running', async () => {
    const started = Date.now();
    await assert.rejects(
      EmbeddedBroker.start({ port: 0, host: HOST, persistence: { kind: 'redis', url: 'redis://127.0.0.1:1' }, startTimeoutMs: 500 }),
      (e: unknown) => e instanceof BrokerError && e.code === 'redis_unavailable',
    );
    assert.ok(Date.now() - started < 5000);
  });

  it('refuses a malformed Redis URL with bad_config', async () => {
    await assert.rejects(
      EmbeddedBroker.start({ port: 0, host: HOST, persistence: { kind: 'redis', url: 'http://nope' } }),
      (e: unknown) => e instanceof BrokerError && e.code === 'bad_config',
    );
  });
});

/** Connect a client and record messages from the very first packet (queued messages arrive right after CONNACK). */
function mqttClientLater(url: string, options: object): { client: Promise<MqttClient>; messages: Array<{ topic: string; payload: string }>; sessionPresent(): boolean } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { connect } = require('mqtt') as typeof import('mqtt');
  const messages: Array<{ topic: string; payload: string }> = [];
  let present = false;
  const client = connect(url, { reconnectPeriod: 0, ...options });
  client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
  client.on('error', () => undefined);
  return {
    messages,
    sessionPresent: () => present,
    client: new Promise((resolve, reject) => {
      client.once('connect', (connack) => {
        present = connack.sessionPresent;
        resolve(client);
      });
      client.once('close', () => reject(new Error('closed before CONNACK')));
    }),
  };
}
