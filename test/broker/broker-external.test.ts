import assert from 'node:assert/strict';
import { BrokerError, EmbeddedBroker, ExternalBroker, redactUrl } from '../../src/broker';
import { connectClient, freePort, hubBrokerContract, MOSQUITTO, requireBinary, startMosquitto, waitFor, type ManagedServer } from './broker-fixtures';

const HOST = '127.0.0.1';

describe('broker: ExternalBroker', function () {
  describe('HubBroker contract against Debian mosquitto', () => {
    let mosquitto: ManagedServer | undefined;
    before(async function () {
      requireBinary(this, MOSQUITTO);
      mosquitto = await startMosquitto();
    });
    after(async () => {
      await mosquitto?.stop();
    });
    hubBrokerContract(async () => {
      const url = mosquitto?.url ?? '';
      const broker = await ExternalBroker.connect({ url });
      return { broker, clientUrl: url, cleanup: () => broker.close() };
    });

    it('reports the broker client count from $SYS', async () => {
      const broker = await ExternalBroker.connect({ url: mosquitto?.url ?? '' });
      try {
        const extra = await connectClient(mosquitto?.url ?? '');
        await waitFor(() => broker.stats().clients >= 2 || undefined, '$SYS client count', 4000);
        extra.end(true);
      } finally {
        await broker.close();
      }
    });
  });

  describe('against the embedded broker (credentials, reconnect)', () => {
    let embedded: EmbeddedBroker | undefined;
    afterEach(async () => {
      await embedded?.close();
      embedded = undefined;
    });
    const startEmbedded = async (port = 0) => {
      embedded = await EmbeddedBroker.start({
        port,
        host: HOST,
        allowAnonymousLoopback: false,
        users: [
          { username: 'hub', password: 'hub-pw', role: 'admin' },
          { username: 'auto', password: 'auto-pw', role: 'automation' },
        ],
      });
      return embedded;
    };

    it('connects with credentials and rejects wrong ones with not_authorized', async () => {
      const e = await startEmbedded();
      const url = `mqtt://${HOST}:${e.port}`;
      const ok = await ExternalBroker.connect({ url, username: 'hub', password: 'hub-pw' });
      assert.equal(ok.connected, true);
      await ok.close();
      await assert.rejects(ExternalBroker.connect({ url, username: 'hub', password: 'nope' }), (err: unknown) => err instanceof BrokerError && err.code === 'not_authorized');
      await assert.rejects(ExternalBroker.connect({ url }), (err: unknown) => err instanceof BrokerError && err.code === 'not_authorized');
    });

    it('turns a refused subscription into a not_authorized error', async () => {
      const e = await startEmbedded();
      const broker = await ExternalBroker.connect({ url: `mqtt://${HOST}:${e.port}`, username: 'auto', password: 'auto-pw' });
      try {
        await assert.rejects(broker.subscribe('devices/p2p/+', () => undefined), (err: unknown) => err instanceof BrokerError && err.code === 'not_authorized');
        // The refusal does not break the connection or other subscriptions.
        const got: string[] = [];
        await broker.subscribe('zigbee2mqtt/+', (t) => got.push(t));
        await e.publish('zigbee2mqtt/lamp', 'x');
        await waitFor(() => got.length === 1 || undefined, 'allowed subscription');
      } finally {
        await broker.close();
      }
    });

    it('times out with a timeout error when nothing listens', async () => {
      const port = await freePort();
      await assert.rejects(ExternalBroker.connect({ url: `mqtt://${HOST}:${port}`, connectTimeoutMs: 400, reconnectPeriodMs: 100 }), (err: unknown) => err instanceof BrokerError && err.code === 'timeout');
    });

    it('reconnects after the broker restarts and keeps its subscriptions', async () => {
      const first = await startEmbedded();
      const port = first.port ?? 0;
      const broker = ExternalBroker.create({ url: `mqtt://${HOST}:${port}`, username: 'hub', password: 'hub-pw', reconnectPeriodMs: 100 });
      const events: string[] = [];
      broker.on('connected', () => events.push('connected'));
      broker.on('disconnected', () => events.push('disconnected'));
      try {
        await broker.whenConnected(5000);
        const got: string[] = [];
        await broker.subscribe('after/restart', (_t, p) => got.push(p.toString()));
        await first.close();
        await waitFor(() => events.includes('disconnected') || undefined, 'disconnected event');
        assert.equal(broker.connected, false);
        const second = await startEmbedded(port);
        await waitFor(() => events.filter((x) => x === 'connected').length >= 2 || undefined, 'reconnected');
        // mqtt.js re-subscribes after a reconnect; retry until the subscription is back.
        await waitFor(
          () => {
            void second.publish('after/restart', 'hello again');
            return got.length > 0 || undefined;
          },
          'message after reconnect',
        );
        assert.equal(got[0], 'hello again');
      } finally {
        await broker.close();
      }
    });

    it('masks the password in its URL', () => {
      assert.equal(redactUrl('mqtt://user:secret@broker.lan:1883'), 'mqtt://user:***@broker.lan:1883');
    });
  });
});
