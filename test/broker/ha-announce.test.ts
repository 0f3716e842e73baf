import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { AnnounceListener, announcementText } from '../../src/broker/announce';
import { deviceTopicId, macAddressOf, voiceDeviceTopics } from '../../src/broker/ha-topics';
import { connectClient, startTestBroker, waitUntil, type TestBroker } from './catalogue-peers';

describe('broker/announce AnnounceListener (real broker, mqtt.js publisher)', function () {
  let tb: TestBroker;
  let client: MqttClient;
  let listener: AnnounceListener;
  const heard: Array<[string, string]> = [];
  const dropped: Array<[string, string]> = [];

  beforeEach(async () => {
    heard.length = 0;
    dropped.length = 0;
    tb = await startTestBroker();
    client = await connectClient(tb.url, 'announcer');
    const known = new Map([['aabbccddeeff', 'aa:bb:cc:dd:ee:ff']]);
    listener = new AnnounceListener(tb.broker, {
      onAnnounce: (deviceId, text) => heard.push([deviceId, text]),
      resolveDeviceId: (topicId) => known.get(topicId),
      onDropped: (topic, reason) => dropped.push([topic, reason]),
    });
  });

  afterEach(async () => {
    await listener.close();
    await client.endAsync();
    await tb.broker.close();
  });

  it('calls back for a device topic, the all topic, plain text and JSON', async () => {
    await listener.start();
    await client.publishAsync('xiaozhi/aabbccddeeff/announce', 'The washing is done', { qos: 1 });
    await client.publishAsync('xiaozhi/all/announce', JSON.stringify({ text: '晚饭好了' }), { qos: 1 });
    await waitUntil(() => heard.length >= 2, 3000, 'announcements');
    assert.deepEqual(heard, [
      ['aa:bb:cc:dd:ee:ff', 'The washing is done'],
      ['all', '晚饭好了'],
    ]);
  });

  it('drops unknown devices, empty payloads and retained announcements', async () => {
    await client.publishAsync('xiaozhi/aabbccddeeff/announce', 'old news', { qos: 1, retain: true });
    await listener.start();
    await client.publishAsync('xiaozhi/001122334455/announce', 'hello', { qos: 1 });
    await client.publishAsync('xiaozhi/aabbccddeeff/announce', '   ', { qos: 1 });
    await waitUntil(() => dropped.length >= 2, 3000, 'drops');
    assert.deepEqual(heard, [], 'the retained message was not spoken');
    assert.deepEqual(dropped, [
      ['xiaozhi/001122334455/announce', 'unknown device'],
      ['xiaozhi/aabbccddeeff/announce', 'empty'],
    ]);
  });

  it('stops calling back after close', async () => {
    await listener.start();
    await listener.close();
    await client.publishAsync('xiaozhi/aabbccddeeff/announce', 'too late', { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(heard, []);
  });

  it('topic helpers: ids, MACs, text extraction', () => {
    assert.equal(deviceTopicId('AA:BB:CC:DD:EE:FF'), 'aabbccddeeff');
    assert.equal(macAddressOf('AA-BB-CC-DD-EE-FF'), 'aa:bb:cc:dd:ee:ff');
    assert.equal(macAddressOf('kitchen-speaker'), undefined);
    assert.equal(voiceDeviceTopics('xiaozhi', 'aa:bb:cc:dd:ee:ff').announce, 'xiaozhi/aabbccddeeff/announce');
    assert.equal(announcementText(Buffer.from('{"message":"hi"}')), 'hi');
    assert.equal(announcementText(Buffer.from('{not json')), '{not json');
    assert.equal(announcementText(Buffer.from('{"volume":3}')), undefined);
    assert.equal(announcementText(Buffer.from('abcdef'), 3), 'abc');
  });
});
