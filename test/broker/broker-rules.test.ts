import assert from 'node:assert/strict';
import {
  assertTopicFilter,
  authorizePublishFor,
  authorizeSubscribeFor,
  BrokerAuthenticator,
  BrokerError,
  deviceIdFromClientId,
  encodePayload,
  isLoopbackAddress,
  mayForward,
  parseBrokerUsers,
  redisOptionsFromUrl,
  topicMatches,
  type BrokerIdentity,
} from '../../src/broker';
import { createMqttCredentials } from '../../src/protocol/token';

describe('broker: topics, ACL rules, authentication (pure)', () => {
  it('matches MQTT filters, including # on the parent level and the $ rule', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a/b', 'a/b', true],
      ['a/+', 'a/b', true],
      ['a/+', 'a/b/c', false],
      ['a/#', 'a', true],
      ['a/#', 'a/b/c', true],
      ['+/+/config', 'homeassistant/light/config', true],
      ['homeassistant/+/+/config', 'homeassistant/light/kitchen/config', true],
      ['homeassistant/+/+/config', 'homeassistant/light/kitchen/state', false],
      ['#', '$SYS/broker/clients', false],
      ['+/broker', '$SYS/broker', false],
      ['$SYS/#', '$SYS/broker/clients', true],
      ['$share/g/zigbee2mqtt/+', 'zigbee2mqtt/lamp', true],
      ['a/+/c', 'a//c', true],
      ['a', 'a/b', false],
    ];
    for (const [filter, topic, expected] of cases) assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
  });

  it('validates filters and encodes payloads', () => {
    for (const bad of ['a/#/b', 'a/b#', 'a+/b', '']) assert.throws(() => assertTopicFilter(bad), (e: unknown) => e instanceof BrokerError && e.code === 'bad_topic', bad);
    for (const good of ['#', 'a/+/b', 'a/#', '+']) assertTopicFilter(good);
    assert.equal(encodePayload('hé').toString('utf8'), 'hé');
    assert.equal(encodePayload({ a: 1 }).toString(), '{"a":1}');
    assert.equal(encodePayload(42).toString(), '42');
    assert.equal(encodePayload(null).length, 0);
    assert.deepEqual([...encodePayload(new Uint8Array([1, 2]))], [1, 2]);
  });

  it('reads the device id from a xiaozhi client id', () => {
    const { clientId } = createMqttCredentials('k', 'esp32-s3-box', 'aa:bb:cc:dd:ee:ff');
    assert.equal(deviceIdFromClientId(clientId), 'aa_bb_cc_dd_ee_ff');
    assert.equal(deviceIdFromClientId('mqttjs_1234'), undefined);
  });

  it('applies the role rules', () => {
    const device: BrokerIdentity = { role: 'device', clientId: 'GID_x@@@aa_bb@@@aa_bb', deviceId: 'aa_bb' };
    const automation: BrokerIdentity = { role: 'automation', clientId: 'z2m' };
    const readonly: BrokerIdentity = { role: 'readonly', clientId: 'viewer' };
    const admin: BrokerIdentity = { role: 'admin', clientId: 'root' };

    assert.equal(authorizePublishFor(device, 'device-server').ok, true);
    assert.equal(authorizePublishFor(device, 'devices/p2p/aa_bb').ok, false);
    assert.equal(authorizePublishFor(device, 'zigbee2mqtt/x/set').ok, false);
    assert.equal(authorizeSubscribeFor(device, 'devices/p2p/aa_bb').ok, true);
    assert.equal(authorizeSubscribeFor(device, 'devices/p2p/aa_bb/#').ok, true);
    assert.equal(authorizeSubscribeFor(device, 'devices/p2p/+').ok, false);
    assert.equal(authorizeSubscribeFor(device, '#').ok, false);
    assert.equal(mayForward(device, 'devices/p2p/aa_bb'), true);
    assert.equal(mayForward(device, 'devices/p2p/cc_dd'), false);

    assert.equal(authorizePublishFor(automation, 'zigbee2mqtt/lamp/set').ok, true);
    assert.equal(authorizePublishFor(automation, 'device-server').ok, false);
    assert.equal(authorizePublishFor(automation, 'devices/p2p/aa_bb').ok, false);
    assert.equal(authorizePublishFor(automation, '$SYS/fake').ok, false);
    assert.equal(authorizeSubscribeFor(automation, '#').ok, true);
    assert.equal(authorizeSubscribeFor(automation, 'devices/#').ok, false);
    assert.equal(mayForward(automation, 'device-server'), false);
    assert.equal(mayForward(automation, 'zigbee2mqtt/lamp'), true);

    assert.equal(authorizePublishFor(readonly, 'zigbee2mqtt/lamp/set').ok, false);
    assert.equal(authorizeSubscribeFor(readonly, 'zigbee2mqtt/#').ok, true);
    assert.equal(mayForward(readonly, 'devices/p2p/aa_bb'), false);

    assert.equal(authorizePublishFor(admin, 'devices/p2p/aa_bb').ok, true);
    assert.equal(authorizeSubscribeFor(admin, 'device-server').ok, true);
    assert.equal(mayForward(admin, 'device-server'), true);
  });

  it('authenticates users, device signatures and loopback-only anonymous clients', () => {
    const auth = new BrokerAuthenticator({ users: [{ username: 'z2m', password: 'pw', role: 'automation' }], deviceSignatureKey: 'key' });
    const anonymousLocal = auth.authenticate({ clientId: 'c1', remoteAddress: '::ffff:127.0.0.1' });
    assert.ok(anonymousLocal.ok && anonymousLocal.identity.role === 'admin');
    const anonymousRemote = auth.authenticate({ clientId: 'c2', remoteAddress: '192.168.1.20' });
    assert.ok(!anonymousRemote.ok && anonymousRemote.returnCode === 5);
    const proxied = auth.authenticate({ clientId: 'c3', remoteAddress: '127.0.0.1', proxied: true });
    assert.equal(proxied.ok, false);
    const user = auth.authenticate({ clientId: 'c4', username: 'z2m', password: Buffer.from('pw'), remoteAddress: '10.0.0.2' });
    assert.ok(user.ok && user.identity.role === 'automation');
    const wrong = auth.authenticate({ clientId: 'c5', username: 'z2m', password: 'pW', remoteAddress: '127.0.0.1' });
    assert.ok(!wrong.ok && wrong.returnCode === 4);
    const creds = createMqttCredentials('key', 'lichuang-dev', '11:22:33:44:55:66');
    const dev = auth.authenticate({ clientId: creds.clientId, username: creds.username, password: Buffer.from(creds.password), remoteAddress: '10.0.0.9' });
    assert.ok(dev.ok && dev.identity.role === 'device' && dev.identity.deviceId === '11_22_33_44_55_66');
    const forged = auth.authenticate({ clientId: creds.clientId.replace('11_22', '99_22'), username: creds.username, password: creds.password, remoteAddress: '10.0.0.9' });
    assert.equal(forged.ok, false);
    assert.equal(isLoopbackAddress('127.3.4.5'), true);
    assert.equal(isLoopbackAddress('::1'), true);
    assert.equal(isLoopbackAddress('10.0.0.1'), false);
    assert.equal(isLoopbackAddress(undefined), false);
  });

  it('parses the users field (lines with colons in passwords, comments, JSON) and names bad lines', () => {
    assert.deepEqual(parseBrokerUsers('# users\nz2m:pa:ss:automation\n\nha:secret:admin\nplain:pw\n'), [
      { username: 'z2m', password: 'pa:ss', role: 'automation' },
      { username: 'ha', password: 'secret', role: 'admin' },
      { username: 'plain', password: 'pw', role: 'automation' },
    ]);
    assert.deepEqual(parseBrokerUsers('[{"username":"v","password":"p","role":"readonly"}]'), [{ username: 'v', password: 'p', role: 'readonly' }]);
    assert.deepEqual(parseBrokerUsers(''), []);
    assert.throws(() => parseBrokerUsers('ok:pw\nbroken'), /line 2/);
    assert.throws(() => parseBrokerUsers('[{"username":"v","password":"p","role":"king"}]'), /unknown role king/);
    assert.throws(() => parseBrokerUsers('u::admin'), /empty password/);
  });

  it('reads Redis URLs', () => {
    assert.deepEqual(redisOptionsFromUrl('redis://127.0.0.1:6380/2'), { host: '127.0.0.1', port: 6380, db: 2 });
    assert.deepEqual(redisOptionsFromUrl('rediss://u:p%40ss@redis.lan'), { host: 'redis.lan', port: 6379, username: 'u', password: 'p@ss', tls: {} });
    assert.throws(() => redisOptionsFromUrl('http://x'), (e: unknown) => e instanceof BrokerError && e.code === 'bad_config');
  });
});
