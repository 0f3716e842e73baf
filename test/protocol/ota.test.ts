import assert from 'node:assert/strict';
import { ProtocolError, buildOtaResponse, compareFirmwareVersions, parseOtaRequest } from '../../src/protocol';

/** A check-in body shaped like FW `Board::GetSystemInfoJson` (protocol.md §5.1). */
function firmwareBody(): Record<string, unknown> {
  return {
    version: 2,
    language: 'zh-CN',
    flash_size: 16777216,
    minimum_free_heap_size: '123456',
    mac_address: 'a0:85:e3:f4:49:34',
    uuid: '0f7c1a52-5a1e-4c3e-9a55-2f1b8c7d9e10',
    chip_model_name: 'esp32s3',
    chip_info: { model: 9, cores: 2, revision: 2, features: 18 },
    application: {
      name: 'xiaozhi',
      version: '2.4.2',
      compile_time: 'Aug  8 2026T08:33:45Z',
      idf_version: 'v5.4.1',
      elf_sha256: 'ab'.repeat(32),
    },
    partition_table: [{ label: 'nvs', type: 1, subtype: 2, address: 36864, size: 16384 }],
    ota: { label: 'ota_0' },
    display: { monochrome: false, width: 240, height: 240 },
    board: {
      type: 'lichuang-dev',
      name: 'lichuang-dev',
      manufacturer: 'x',
      ssid: 'home',
      rssi: -50,
      channel: 1,
      ip: '192.168.1.9',
      mac: 'a0:85:e3:f4:49:34',
    },
  };
}

describe('protocol/ota: parseOtaRequest', () => {
  it('reads a real firmware check-in (Node lower-cased headers, string heap size)', () => {
    const req = parseOtaRequest(
      {
        'activation-version': '2',
        'serial-number': 'SN123',
        'device-id': 'A0:85:E3:F4:49:34',
        'client-id': '0f7c1a52-5a1e-4c3e-9a55-2f1b8c7d9e10',
        'user-agent': 'lichuang-dev/2.4.2',
        'accept-language': 'zh-CN',
        'content-type': 'application/json',
      },
      firmwareBody(),
    );
    assert.equal(req.deviceId, 'a0:85:e3:f4:49:34');
    assert.equal(req.clientId, '0f7c1a52-5a1e-4c3e-9a55-2f1b8c7d9e10');
    assert.equal(req.firmwareVersion, '2.4.2');
    assert.equal(req.boardType, 'lichuang-dev');
    assert.equal(req.boardName, 'lichuang-dev');
    assert.equal(req.chipModel, 'esp32s3');
    assert.equal(req.language, 'zh-CN');
    assert.equal(req.userAgent, 'lichuang-dev/2.4.2');
    assert.equal(req.activationVersion, 2);
    assert.equal(req.serialNumber, 'SN123');
    assert.equal(req.body.minimum_free_heap_size, '123456');
  });

  it('matches headers case-insensitively and takes the first of repeated values', () => {
    const req = parseOtaRequest({ 'Device-Id': 'AA:BB:CC:DD:EE:FF', 'CLIENT-ID': ['first', 'second'] }, undefined);
    assert.equal(req.deviceId, 'aa:bb:cc:dd:ee:ff');
    assert.equal(req.clientId, 'first');
    assert.deepEqual(req.body, {});
  });

  it('serves a browser request without headers from the body (mac_address, uuid)', () => {
    const req = parseOtaRequest({ origin: 'http://localhost:8006' }, { mac_address: '00:11:22:33:44:55', uuid: 'web-uuid' });
    assert.equal(req.deviceId, '00:11:22:33:44:55');
    assert.equal(req.clientId, 'web-uuid');
    assert.equal(req.firmwareVersion, undefined);
    assert.equal(req.boardType, undefined);
  });

  it('falls back to the device id when no client id is given', () => {
    assert.equal(parseOtaRequest({ 'device-id': 'x' }, '').clientId, 'x');
  });

  it('accepts the body as JSON text or a Buffer, and ignores a broken one', () => {
    const text = JSON.stringify(firmwareBody());
    assert.equal(parseOtaRequest({}, text).deviceId, 'a0:85:e3:f4:49:34');
    assert.equal(parseOtaRequest({}, Buffer.from(text)).boardType, 'lichuang-dev');
    const broken = parseOtaRequest({ 'device-id': 'd' }, '{not json');
    assert.deepEqual(broken.body, {});
  });

  it('never throws on wrong body types, and falls back to User-Agent and Accept-Language', () => {
    const req = parseOtaRequest(
      { 'device-id': 'd', 'user-agent': 'bread-compact-wifi/1.9.0', 'accept-language': 'en-US,en;q=0.9', 'activation-version': 'x' },
      { application: 'not an object', board: [1, 2], language: 7, chip_model_name: null, minimum_free_heap_size: {} },
    );
    assert.equal(req.firmwareVersion, '1.9.0');
    assert.equal(req.boardName, 'bread-compact-wifi');
    assert.equal(req.boardType, undefined);
    assert.equal(req.language, 'en-US');
    assert.equal(req.activationVersion, undefined);
    for (const body of [null, 42, [1], true, Buffer.alloc(0)]) assert.equal(parseOtaRequest({ 'device-id': 'd' }, body).deviceId, 'd');
  });

  it('throws bad_request without any device id, or with an absurd one', () => {
    for (const [headers, body] of [
      [{}, undefined],
      [{ 'device-id': '  ' }, {}],
      [{ 'client-id': 'c' }, { mac_address: 5 }],
      [{ 'device-id': 'x'.repeat(500) }, {}],
    ] as const) {
      assert.throws(
        () => parseOtaRequest(headers as Record<string, string>, body),
        (err: unknown) => err instanceof ProtocolError && err.code === 'bad_request',
      );
    }
  });
});

describe('protocol/ota: buildOtaResponse', () => {
  const nowMs = Date.UTC(2026, 7, 8, 2, 26, 40);

  it('sends server_time, firmware and websocket only; no mqtt, no activation', () => {
    const res = buildOtaResponse({
      websocketUrl: 'ws://192.168.1.10:8000/xiaozhi/v1/',
      nowMs,
      timezoneOffsetMin: 480,
      currentFirmwareVersion: '2.4.2',
    });
    assert.deepEqual(res, {
      server_time: { timestamp: nowMs, timezone_offset: 480 },
      firmware: { version: '2.4.2', url: '' },
      websocket: { url: 'ws://192.168.1.10:8000/xiaozhi/v1/', token: '' },
    });
    const wire = JSON.parse(JSON.stringify(res)) as Record<string, unknown>;
    assert.equal('mqtt' in wire, false);
    assert.equal('activation' in wire, false);
  });

  it('defaults the clock to now and the zone to this server, in minutes east of UTC', () => {
    const before = Date.now();
    const res = buildOtaResponse({ websocketUrl: 'wss://example.org/xiaozhi/v1/' });
    const after = Date.now();
    assert.ok(res.server_time.timestamp >= before && res.server_time.timestamp <= after);
    assert.equal(res.server_time.timezone_offset, -new Date(res.server_time.timestamp).getTimezoneOffset());
    assert.equal(res.firmware.url, '');
  });

  it('carries the token and a non-default binary protocol version only', () => {
    const v1 = buildOtaResponse({ websocketUrl: 'ws://10.0.0.2:8000/xiaozhi/v1/', token: 'sig.1', protocolVersion: 1, nowMs });
    assert.deepEqual(v1.websocket, { url: 'ws://10.0.0.2:8000/xiaozhi/v1/', token: 'sig.1' });
    const v3 = buildOtaResponse({ websocketUrl: 'ws://10.0.0.2:8000/xiaozhi/v1/', protocolVersion: 3, nowMs });
    assert.equal(v3.websocket.version, 3);
  });

  it('includes mqtt and activation only when given, in FW field names', () => {
    const res = buildOtaResponse({
      websocketUrl: 'ws://10.0.0.2:8000/xiaozhi/v1/',
      nowMs,
      mqtt: {
        endpoint: '10.0.0.2:1883',
        clientId: 'GID_x@@@a@@@a',
        username: 'u',
        password: 'p',
        publishTopic: 'device-server',
        subscribeTopic: 'devices/p2p/a',
      },
      activation: { code: '123456', message: 'xiaozhi.me\n123456', challenge: 'a0:85:e3:f4:49:34', timeoutMs: 30000 },
    });
    assert.deepEqual(res.mqtt, {
      endpoint: '10.0.0.2:1883',
      client_id: 'GID_x@@@a@@@a',
      username: 'u',
      password: 'p',
      publish_topic: 'device-server',
      subscribe_topic: 'devices/p2p/a',
      keepalive: 240,
    });
    assert.deepEqual(res.activation, { code: '123456', message: 'xiaozhi.me\n123456', challenge: 'a0:85:e3:f4:49:34', timeout_ms: 30000 });
  });

  it('offers firmware only when newer, and force only with a different version', () => {
    const base = { websocketUrl: 'ws://10.0.0.2:8000/', nowMs };
    const url = 'http://10.0.0.2:8000/xiaozhi/ota/download/board_2.5.0.bin';
    assert.deepEqual(buildOtaResponse({ ...base, currentFirmwareVersion: '2.4.2', firmware: { version: '2.5.0', url } }).firmware, {
      version: '2.5.0',
      url,
      force: 0,
    });
    assert.deepEqual(buildOtaResponse({ ...base, currentFirmwareVersion: '2.5.0', firmware: { version: '2.5.0', url } }).firmware, {
      version: '2.5.0',
      url: '',
    });
    assert.deepEqual(buildOtaResponse({ ...base, currentFirmwareVersion: '2.10.0', firmware: { version: '2.9.9', url } }).firmware, {
      version: '2.10.0',
      url: '',
    });
    // A forced downgrade is sent with force 1; a forced "same version" is not (it would reflash on every boot).
    assert.deepEqual(
      buildOtaResponse({ ...base, currentFirmwareVersion: '2.10.0', firmware: { version: '2.9.9', url, force: true } }).firmware,
      { version: '2.9.9', url, force: 1 },
    );
    assert.equal(
      buildOtaResponse({ ...base, currentFirmwareVersion: '2.5.0', firmware: { version: '2.5.0', url, force: true } }).firmware.url,
      '',
    );
  });

  it('refuses websocket URLs a device cannot use', () => {
    for (const websocketUrl of ['ws://0.0.0.0:8000/xiaozhi/v1/', 'http://10.0.0.2:8000/', 'not a url', 'ws://[::]:8000/']) {
      assert.throws(
        () => buildOtaResponse({ websocketUrl }),
        (err: unknown) => err instanceof ProtocolError && err.code === 'invalid_field' && err.field === 'websocketUrl',
        websocketUrl,
      );
    }
  });
});

describe('protocol/ota: compareFirmwareVersions', () => {
  it('compares dotted-numeric versions like FW', () => {
    assert.equal(compareFirmwareVersions('2.4.2', '2.4.2'), 0);
    assert.equal(compareFirmwareVersions('2.10.0', '2.9.9'), 1);
    assert.equal(compareFirmwareVersions('1.9', '1.9.1'), -1);
    assert.equal(compareFirmwareVersions('1.9.0', '1.9'), 0);
    assert.equal(compareFirmwareVersions('v2.0.0', '1.99.99'), 1);
    assert.equal(compareFirmwareVersions('2.4.2-6', '2.4.2'), 0);
    assert.equal(compareFirmwareVersions('2.4.3-rc1', '2.4.2'), 1);
    assert.equal(compareFirmwareVersions('', '0.0.1'), -1);
  });
});
