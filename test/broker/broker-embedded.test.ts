import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MqttClient } from 'mqtt';
import { WebSocketServer } from 'ws';
import { BrokerError, EmbeddedBroker, type BrokerDenial, type EmbeddedBrokerOptions } from '../../src/broker';
import { createMqttCredentials } from '../../src/protocol/token';
import { collect, connectClient, freePort, grantedQos, hubBrokerContract, sleep, waitFor } from './broker-fixtures';

const HOST = '127.0.0.1';

describe('broker: EmbeddedBroker', function () {
  describe('HubBroker contract over TCP', () => {
    hubBrokerContract(async () => {
      const broker = await EmbeddedBroker.start({ port: 0, host: HOST });
      return { broker, clientUrl: `mqtt://${HOST}:${broker.port}`, cleanup: () => broker.close() };
    });
  });

  describe('HubBroker contract over WebSocket (own port)', () => {
    hubBrokerContract(async () => {
      const broker = await EmbeddedBroker.start({ port: false, host: HOST, wsPort: 0 });
      assert.equal(broker.port, undefined, 'no TCP listener');
      return { broker, clientUrl: `ws://${HOST}:${broker.wsPort}/mqtt`, cleanup: () => broker.close() };
    });
  });

  describe('listeners', () => {
    const brokers: EmbeddedBroker[] = [];
    const clients: MqttClient[] = [];
    afterEach(async () => {
      for (const c of clients.splice(0)) c.end(true);
      for (const b of brokers.splice(0)) await b.close();
    });

    it('serves MQTT over WebSocket on a path of an existing http server and leaves other paths alone', async () => {
      const http: Server = createServer((_req, res) => res.end('plain http'));
      await new Promise<void>((resolve) => http.listen(0, HOST, resolve));
      const other = new WebSocketServer({ noServer: true });
      http.on('upgrade', (req, socket, head) => {
        if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => ws.send('other endpoint'));
      });
      const port = (http.address() as AddressInfo).port;
      const broker = await EmbeddedBroker.start({ port: false, wsServer: http, wsPath: '/mqtt' });
      brokers.push(broker);
      try {
        const c = await connectClient(`ws://${HOST}:${port}/mqtt`);
        clients.push(c);
        const got: string[] = [];
        await broker.subscribe('shared/server', (_t, p) => got.push(p.toString()));
        await c.publishAsync('shared/server', 'via node-red port', { qos: 1 });
        await waitFor(() => got.length === 1 || undefined, 'publish over the shared server');
        const { WebSocket } = await import('ws');
        const ws = new WebSocket(`ws://${HOST}:${port}/other`);
        const text = await new Promise<string>((resolve, reject) => {
          ws.once('message', (d) => resolve(d.toString()));
          ws.once('error', reject);
        });
        ws.close();
        assert.equal(text, 'other endpoint');
        await broker.close();
        assert.equal(http.listenerCount('upgrade'), 1, 'close removed only our upgrade listener');
      } finally {
        other.close();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
      }
    });

    it('close frees the TCP and WebSocket ports (restart on the same ports)', async () => {
      const port = await freePort();
      const wsPort = await freePort();
      const first = await EmbeddedBroker.start({ port, wsPort, host: HOST });
      const c = await connectClient(`mqtt://${HOST}:${port}`);
      const w = await connectClient(`ws://${HOST}:${wsPort}/mqtt`);
      const closed = Promise.all([c, w].map((x) => new Promise<void>((resolve) => x.once('close', () => resolve()))));
      await first.close();
      await closed; // the broker dropped its clients
      const second = await EmbeddedBroker.start({ port, wsPort, host: HOST });
      brokers.push(second);
      assert.equal(second.port, port);
      assert.equal(second.wsPort, wsPort);
      const c2 = await connectClient(`mqtt://${HOST}:${port}`);
      clients.push(c2);
      assert.equal(second.stats().clients, 1);
    });

    it('refuses a busy port with address_in_use and leaves nothing open', async () => {
      const first = await EmbeddedBroker.start({ port: 0, host: HOST });
      brokers.push(first);
      const wsPort = await freePort();
      await assert.rejects(EmbeddedBroker.start({ port: first.port, host: HOST, wsPort }), (e: unknown) => e instanceof BrokerError && e.code === 'address_in_use');
      // The failed start did not keep its WebSocket port either.
      const again = await EmbeddedBroker.start({ port: 0, wsPort, host: HOST });
      brokers.push(again);
      assert.equal(again.wsPort, wsPort);
    });
  });

  describe('authentication and ACL', () => {
    const SIGNING_KEY = 'test-signature-key';
    const MAC = 'aa:bb:cc:dd:ee:01';
    const DEVICE_ID = 'aa_bb_cc_dd_ee_01';
    let broker: EmbeddedBroker;
    let url: string;
    let denials: BrokerDenial[];
    const clients: MqttClient[] = [];

    async function start(extra: Partial<EmbeddedBrokerOptions> = {}): Promise<void> {
      broker = await EmbeddedBroker.start({
        port: 0,
        host: HOST,
        wsPort: 0,
        users: [
          { username: 'z2m', password: 's3cret:with:colons', role: 'automation' },
          { username: 'root', password: 'admin-pw', role: 'admin' },
          { username: 'viewer', password: 'view-pw', role: 'readonly' },
        ],
        deviceSignatureKey: SIGNING_KEY,
        ...extra,
      });
      url = `mqtt://${HOST}:${broker.port}`;
      denials = [];
      broker.on('denied', (d: BrokerDenial) => denials.push(d));
    }
    const client = async (opts: Parameters<typeof connectClient>[1] = {}, target = url) => {
      const c = await connectClient(target, opts);
      clients.push(c);
      return c;
    };
    const device = () => {
      const creds = createMqttCredentials(SIGNING_KEY, 'esp32-s3-box', MAC);
      return client({ clientId: creds.clientId, username: creds.username, password: creds.password });
    };
    const closedSoon = (c: MqttClient) => new Promise<void>((resolve) => (c.disconnected ? resolve() : c.once('close', () => resolve())));

    afterEach(async () => {
      for (const c of clients.splice(0)) c.end(true);
      await broker?.close();
    });

    it('lets anonymous clients in from loopback only', async () => {
      await start();
      const c = await client();
      assert.ok(c.connected);
      // Behind a proxy every peer looks like 127.0.0.1: a forwarded connection needs credentials.
      await assert.rejects(
        client({ wsOptions: { headers: { 'X-Forwarded-For': '203.0.113.9' } } }, `ws://${HOST}:${broker.wsPort}/mqtt`),
        (e: Error & { code?: number }) => e.code === 5,
      );
      assert.ok(denials.some((d) => d.action === 'connect' && /credentials required/.test(d.reason)));
      await broker.close();
      await start({ allowAnonymousLoopback: false });
      await assert.rejects(client(), (e: Error & { code?: number }) => e.code === 5);
    });

    it('checks user passwords (also from loopback) and refuses wrong ones', async () => {
      await start();
      const ok = await client({ username: 'z2m', password: 's3cret:with:colons' });
      assert.ok(ok.connected);
      await assert.rejects(client({ username: 'z2m', password: 'wrong' }), (e: Error & { code?: number }) => e.code === 4);
      await assert.rejects(client({ username: 'nobody', password: 'x' }), (e: Error & { code?: number }) => e.code === 4);
      assert.equal(broker.stats().denials, 2);
      assert.ok(denials.every((d) => d.action === 'connect'));
    });

    it('accepts HMAC-signed xiaozhi device credentials and refuses a forged signature', async () => {
      await start();
      const d = await device();
      assert.ok(d.connected);
      const creds = createMqttCredentials('another-key', 'esp32-s3-box', MAC);
      await assert.rejects(client({ clientId: creds.clientId, username: creds.username, password: creds.password }), (e: Error & { code?: number }) => e.code === 4);
    });

    it('keeps a device to device-server and its own devices/p2p/<mac>', async () => {
      await start();
      const d = await device();
      const uplink: string[] = [];
      await broker.subscribe('device-server', (_t, p) => uplink.push(p.toString()));

      assert.deepEqual(await grantedQos(d, 'zigbee2mqtt/#'), [128], 'SUBACK failure for zigbee2mqtt/#');
      assert.deepEqual(await grantedQos(d, 'devices/p2p/ff_ff_ff_ff_ff_ff'), [128], 'another device downlink refused');
      assert.deepEqual(await grantedQos(d, `devices/p2p/${DEVICE_ID}`), [0], 'own downlink granted');
      assert.ok(d.connected, 'refused subscriptions keep the connection');

      await d.publishAsync('device-server', '{"type":"hello","version":3,"transport":"udp"}');
      await waitFor(() => uplink.length === 1 || undefined, 'device uplink at the hub');
      assert.equal(JSON.parse(uplink[0] ?? '').transport, 'udp');

      const gone = closedSoon(d);
      d.publish('zigbee2mqtt/kitchen/set', '{"state":"ON"}');
      await gone; // MQTT 3.1.1 has no negative ack: the broker drops a client that breaks its ACL
      const reasons = denials.map((x) => `${x.action} ${x.topic}: ${x.reason}`);
      assert.ok(reasons.some((r) => r.startsWith('subscribe zigbee2mqtt/#')), reasons.join('\n'));
      assert.ok(reasons.some((r) => r.startsWith('publish zigbee2mqtt/kitchen/set')), reasons.join('\n'));
      assert.ok(denials.every((x) => x.role === 'device' || x.action === 'connect'));
    });

    it('pushes to a device that subscribed to nothing (firmware behaviour)', async () => {
      await start();
      const d = await device();
      const got = collect(d);
      assert.equal(await broker.pushToDevice(DEVICE_ID, { type: 'tts', state: 'start' }), 1);
      assert.equal(await broker.pushToDevice('00_00_00_00_00_00', 'nobody'), 0);
      await waitFor(() => got.length === 1 || undefined, 'downlink push');
      assert.equal(got[0]?.topic, `devices/p2p/${DEVICE_ID}`);
      assert.equal(JSON.parse(got[0]?.payload ?? '').type, 'tts');
    });

    it('keeps automation clients off the device channel', async () => {
      await start();
      const a = await client({ username: 'z2m', password: 's3cret:with:colons' });
      const seen = collect(a);
      const hubSaw: string[] = [];
      await broker.subscribe('devices/#', (t) => hubSaw.push(t));
      assert.deepEqual(await grantedQos(a, ['#', 'device-server', 'devices/p2p/+']), [0, 128, 128]);
      // '#' is allowed but device traffic is cut out of it.
      const d = await device();
      await d.publishAsync('device-server', 'device talking');
      await broker.publish('zigbee2mqtt/hall', '{"state":"OFF"}');
      await waitFor(() => seen.some((m) => m.topic === 'zigbee2mqtt/hall') || undefined, 'automation traffic');
      await sleep(100);
      assert.deepEqual(seen.map((m) => m.topic), ['zigbee2mqtt/hall']);

      const gone = closedSoon(a);
      a.publish('devices/p2p/x', 'forged downlink');
      await gone;
      await sleep(50);
      assert.deepEqual(hubSaw, [], 'the forged downlink never reached the device channel');
      assert.ok(denials.some((x) => x.action === 'publish' && x.topic === 'devices/p2p/x' && x.role === 'automation'));
    });

    it('lets readonly clients subscribe but not publish, and admins do anything', async () => {
      await start();
      const r = await client({ username: 'viewer', password: 'view-pw' });
      assert.deepEqual(await grantedQos(r, 'zigbee2mqtt/#'), [0]);
      const gone = closedSoon(r);
      r.publish('zigbee2mqtt/x/set', 'nope');
      await gone;
      const admin = await client({ username: 'root', password: 'admin-pw' });
      assert.deepEqual(await grantedQos(admin, ['devices/#', 'device-server']), [0, 0]);
      await admin.publishAsync('devices/p2p/aa', 'admin may');
      assert.ok(admin.connected);
    });

    it('refuses oversized publishes and clients beyond maxClients', async () => {
      await start({ maxPayloadBytes: 1024, maxClients: 2 });
      const a = await client();
      await client();
      await assert.rejects(client(), /./);
      assert.ok(denials.some((d) => d.action === 'connect' && /server full/.test(d.reason)));
      const got: string[] = [];
      await broker.subscribe('big/#', (t) => got.push(t));
      await a.publishAsync('big/ok', Buffer.alloc(1024));
      const gone = closedSoon(a);
      a.publish('big/too', Buffer.alloc(1025));
      await gone;
      assert.deepEqual(got, ['big/ok']);
      assert.ok(denials.some((d) => d.action === 'publish' && /exceeds 1024/.test(d.reason)));
    });
  });
});
