import assert from 'node:assert/strict';
import {
  DEFAULT_TOKEN_EXPIRE_SECONDS,
  createDeviceToken,
  createMqttCredentials,
  verifyDeviceToken,
  verifyMqttCredentials,
} from '../../src/protocol';

const SECRET = 's3cret-key';
const CLIENT = '0f7c1a52-5a1e-4c3e-9a55-2f1b8c7d9e10';
const DEVICE = 'a0:85:e3:f4:49:34';
const TS = 1754620000;

describe('protocol/token: device tokens (§1.4)', () => {
  it('matches a token minted by the Python algorithm (hmac + urlsafe_b64encode without padding)', () => {
    // Vector computed with Python's hmac/base64 modules, independently of this code.
    assert.equal(createDeviceToken(SECRET, CLIENT, DEVICE, TS), 'vKF_fLawW0oZ7hErxe-cyZyasIYspomQJlKWtJ7uGBg.1754620000');
  });

  it('verifies a fresh token, with or without a Bearer prefix in any case', () => {
    const token = createDeviceToken(SECRET, CLIENT, DEVICE, TS);
    for (const presented of [token, `Bearer ${token}`, `bearer ${token}`, `BEARER   ${token}`]) {
      assert.deepEqual(verifyDeviceToken(SECRET, presented, CLIENT, DEVICE, { nowSec: TS + 60 }), { ok: true, issuedAtSec: TS });
    }
  });

  it('uses the current clock by default', () => {
    const token = createDeviceToken(SECRET, CLIENT, DEVICE);
    assert.equal(verifyDeviceToken(SECRET, token, CLIENT, DEVICE).ok, true);
  });

  it('expires after 30 days by default, or after expireSeconds', () => {
    const token = createDeviceToken(SECRET, CLIENT, DEVICE, TS);
    assert.equal(verifyDeviceToken(SECRET, token, CLIENT, DEVICE, { nowSec: TS + DEFAULT_TOKEN_EXPIRE_SECONDS }).ok, true);
    assert.deepEqual(verifyDeviceToken(SECRET, token, CLIENT, DEVICE, { nowSec: TS + DEFAULT_TOKEN_EXPIRE_SECONDS + 1 }), {
      ok: false,
      reason: 'expired',
    });
    assert.deepEqual(verifyDeviceToken(SECRET, token, CLIENT, DEVICE, { nowSec: TS + 61, expireSeconds: 60 }), { ok: false, reason: 'expired' });
  });

  it('refuses timestamps more than 5 minutes in the future', () => {
    const token = createDeviceToken(SECRET, CLIENT, DEVICE, TS + 301);
    assert.deepEqual(verifyDeviceToken(SECRET, token, CLIENT, DEVICE, { nowSec: TS }), { ok: false, reason: 'expired' });
    assert.equal(verifyDeviceToken(SECRET, createDeviceToken(SECRET, CLIENT, DEVICE, TS + 300), CLIENT, DEVICE, { nowSec: TS }).ok, true);
  });

  it('rejects tampered tokens, other devices, other clients and other secrets as bad_signature', () => {
    const token = createDeviceToken(SECRET, CLIENT, DEVICE, TS);
    const opts = { nowSec: TS };
    const [sig, ts] = token.split('.') as [string, string];
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    const bad = { ok: false, reason: 'bad_signature' };
    assert.deepEqual(verifyDeviceToken(SECRET, `${flipped}.${ts}`, CLIENT, DEVICE, opts), bad);
    // Moving the timestamp (to extend the lifetime) breaks the signature.
    assert.deepEqual(verifyDeviceToken(SECRET, `${sig}.${TS + 1000}`, CLIENT, DEVICE, { nowSec: TS + 1000 }), bad);
    assert.deepEqual(verifyDeviceToken(SECRET, token, CLIENT, 'a0:85:e3:f4:49:35', opts), bad);
    assert.deepEqual(verifyDeviceToken(SECRET, token, 'other-client', DEVICE, opts), bad);
    assert.deepEqual(verifyDeviceToken('other-secret', token, CLIENT, DEVICE, opts), bad);
    assert.deepEqual(verifyDeviceToken(SECRET, `${sig.slice(0, -2)}.${ts}`, CLIENT, DEVICE, opts), bad);
  });

  it('rejects malformed tokens', () => {
    for (const token of ['', 'Bearer ', 'abc', 'abc.', '.123', 'abc.12x', 'a+b/c.123', 'abc.123.456', 'Token abc.123']) {
      assert.deepEqual(verifyDeviceToken(SECRET, token, CLIENT, DEVICE, { nowSec: TS }), { ok: false, reason: 'malformed' }, token);
    }
  });
});

describe('protocol/token: MQTT credentials (§4.2)', () => {
  it('mints the Python OTA credentials byte for byte', () => {
    // Vector computed with Python (json.dumps, base64, hmac), independently of this code.
    assert.deepEqual(createMqttCredentials('mqtt-key', 'lichuang-dev', 'a0:85:e3:f4:49:34'), {
      clientId: 'GID_lichuang-dev@@@a0_85_e3_f4_49_34@@@a0_85_e3_f4_49_34',
      username: 'eyJpcCI6ICJ1bmtub3duIn0=',
      password: 'JIkqAR9sEmDDeD66X61uJuSdxyQCRFb/g4hBt7MRYl4=',
    });
    assert.equal(Buffer.from('eyJpcCI6ICJ1bmtub3duIn0=', 'base64').toString(), '{"ip": "unknown"}');
  });

  it('replaces colons and spaces in the board type', () => {
    assert.match(createMqttCredentials('k', 'my board:v2', 'aa:bb').clientId, /^GID_my_board_v2@@@aa_bb@@@aa_bb$/);
  });

  it('verifies good credentials and rejects any altered part', () => {
    const c = createMqttCredentials('mqtt-key', 'lichuang-dev', 'a0:85:e3:f4:49:34');
    assert.equal(verifyMqttCredentials('mqtt-key', c.clientId, c.username, c.password), true);
    assert.equal(verifyMqttCredentials('other-key', c.clientId, c.username, c.password), false);
    assert.equal(verifyMqttCredentials('mqtt-key', c.clientId.replace('a0_', 'a1_'), c.username, c.password), false);
    assert.equal(verifyMqttCredentials('mqtt-key', c.clientId, Buffer.from('{"ip": "1.2.3.4"}').toString('base64'), c.password), false);
    assert.equal(verifyMqttCredentials('mqtt-key', c.clientId, c.username, c.password.slice(1)), false);
    assert.equal(verifyMqttCredentials('mqtt-key', c.clientId, c.username, ''), false);
  });
});
