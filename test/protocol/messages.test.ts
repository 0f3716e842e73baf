import assert from 'node:assert/strict';
import {
  DEFAULT_EMOTION,
  DEFAULT_MAX_MESSAGE_BYTES,
  EMOTIONS,
  ProtocolError,
  alertMessage,
  emotionFromText,
  errorMessage,
  goodbyeMessage,
  llmEmotionMessage,
  mcpEnvelope,
  parseClientMessage,
  pongMessage,
  serverHello,
  sttMessage,
  systemMessage,
  ttsMessage,
} from '../../src/protocol';
import type { ProtocolErrorCode } from '../../src/protocol';

/** Assert that `fn` throws a ProtocolError with `code`, and return it for further checks. */
function expectProtocolError(fn: () => unknown, code: ProtocolErrorCode): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProtocolError, `expected a ProtocolError, got ${String(caught)}`);
  assert.equal(caught.code, code, `wrong code; message was: ${caught.message}`);
  return caught;
}

describe('protocol/messages: parseClientMessage accepts', () => {
  it('the firmware hello (§2.1) with unknown extra fields kept', () => {
    const text = JSON.stringify({
      type: 'hello',
      version: 1,
      features: { mcp: true, aec: true, glyph_push: true },
      text_font: { bundle: 'noto-v1', charset: 'common', size: 20, bpp: 4 },
      transport: 'websocket',
      audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
    });
    const msg = parseClientMessage(text);
    assert.equal(msg.type, 'hello');
    if (msg.type !== 'hello') return;
    assert.equal(msg.version, 1);
    assert.equal(msg.transport, 'websocket');
    assert.equal(msg.features?.mcp, true);
    assert.equal(msg.audio_params?.sample_rate, 16000);
    assert.equal(msg.audio_params?.frame_duration, 60);
    assert.deepEqual(msg.text_font, { bundle: 'noto-v1', charset: 'common', size: 20, bpp: 4 });
  });

  it('the MQTT hello (version 3, transport udp)', () => {
    const msg = parseClientMessage(
      '{"type":"hello","version":3,"transport":"udp","features":{"mcp":true},"audio_params":{"format":"opus","sample_rate":16000,"channels":1,"frame_duration":60}}',
    );
    assert.equal(msg.type, 'hello');
    assert.equal(msg.version, 3);
  });

  it('the web-client hello without audio_params or transport', () => {
    const msg = parseClientMessage(
      JSON.stringify({
        type: 'hello',
        device_id: 'web_test_device',
        device_name: 'Web test',
        device_mac: '00:11:22:33:44:55',
        token: 'your-token1',
        features: { mcp: true, emoji: false },
      }),
    );
    assert.equal(msg.type, 'hello');
    if (msg.type !== 'hello') return;
    assert.equal(msg.audio_params, undefined);
    assert.equal(msg.transport, undefined);
    assert.equal(msg.device_id, 'web_test_device');
    assert.equal(msg.features?.emoji, false);
  });

  it('listen start/stop/detect in every mode, with session ids', () => {
    for (const mode of ['auto', 'manual', 'realtime'] as const) {
      const msg = parseClientMessage(JSON.stringify({ session_id: 's1', type: 'listen', state: 'start', mode }));
      assert.equal(msg.type, 'listen');
      if (msg.type === 'listen') assert.equal(msg.mode, mode);
    }
    const stop = parseClientMessage('{"session_id":"s1","type":"listen","state":"stop"}');
    assert.deepEqual(stop, { session_id: 's1', type: 'listen', state: 'stop' });
    const detect = parseClientMessage('{"session_id":"s1","type":"listen","state":"detect","text":"你好小智"}');
    assert.equal(detect.type, 'listen');
    if (detect.type === 'listen') assert.equal(detect.text, '你好小智');
  });

  it('abort with and without a reason', () => {
    assert.deepEqual(parseClientMessage('{"session_id":"s","type":"abort"}'), { session_id: 's', type: 'abort' });
    const msg = parseClientMessage('{"session_id":"s","type":"abort","reason":"wake_word_detected"}');
    assert.equal(msg.type === 'abort' && msg.reason, 'wake_word_detected');
  });

  it('an mcp envelope carrying a firmware JSON-RPC result', () => {
    const msg = parseClientMessage(
      '{"session_id":"s","type":"mcp","payload":{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2024-11-05","capabilities":{"tools":{}},"serverInfo":{"name":"board","version":"2.4.2"}}}}',
    );
    assert.equal(msg.type, 'mcp');
    if (msg.type === 'mcp') assert.equal((msg.payload as { id: number }).id, 1);
  });

  it('legacy iot descriptors and states', () => {
    const d = parseClientMessage(
      '{"session_id":"s","type":"iot","update":true,"descriptors":[{"name":"Speaker","description":"x","properties":{},"methods":{}}]}',
    );
    assert.equal(d.type === 'iot' && d.descriptors?.length, 1);
    const s = parseClientMessage('{"session_id":"s","type":"iot","update":true,"states":[{"name":"Speaker","state":{"volume":50}}]}');
    assert.equal(s.type === 'iot' && s.states?.length, 1);
  });

  it('goodbye and ping', () => {
    assert.deepEqual(parseClientMessage('{"session_id":"s","type":"goodbye"}'), { session_id: 's', type: 'goodbye' });
    assert.deepEqual(parseClientMessage('{"type":"ping"}'), { type: 'ping' });
  });

  it('session_id null as absent', () => {
    assert.deepEqual(parseClientMessage('{"type":"abort","session_id":null}'), { type: 'abort' });
  });
});

describe('protocol/messages: parseClientMessage rejects', () => {
  it('malformed JSON as invalid_json', () => {
    expectProtocolError(() => parseClientMessage('{"type":"hello",'), 'invalid_json');
    expectProtocolError(() => parseClientMessage('hello'), 'invalid_json');
    expectProtocolError(() => parseClientMessage(''), 'invalid_json');
  });

  it('JSON that is not an object (bare number, string, array, null) as invalid_json', () => {
    for (const text of ['42', '"hello"', '[{"type":"hello"}]', 'null', 'true']) {
      const err = expectProtocolError(() => parseClientMessage(text), 'invalid_json');
      assert.match(err.message, /must be a JSON object/);
    }
  });

  it('a message without type as missing_type, and a non-string type as invalid_field', () => {
    expectProtocolError(() => parseClientMessage('{"state":"start"}'), 'missing_type');
    expectProtocolError(() => parseClientMessage('{"type":""}'), 'missing_type');
    const err = expectProtocolError(() => parseClientMessage('{"type":7}'), 'invalid_field');
    assert.equal(err.field, 'type');
  });

  it('an unknown type as unknown_type, naming the type', () => {
    const err = expectProtocolError(() => parseClientMessage('{"type":"teleport"}'), 'unknown_type');
    assert.match(err.message, /"teleport"/);
    // Inherited object keys are not message types.
    expectProtocolError(() => parseClientMessage('{"type":"constructor"}'), 'unknown_type');
    expectProtocolError(() => parseClientMessage('{"type":"__proto__"}'), 'unknown_type');
  });

  it('hello with wrong field types, with a human message naming the field', () => {
    const rate = expectProtocolError(
      () => parseClientMessage('{"type":"hello","audio_params":{"format":"opus","sample_rate":"abc"}}'),
      'invalid_field',
    );
    assert.equal(rate.field, 'hello.audio_params.sample_rate');
    assert.match(rate.message, /^hello\.audio_params\.sample_rate must be a number/);
    const cases: Array<[string, string]> = [
      ['{"type":"hello","version":"1"}', 'hello.version'],
      ['{"type":"hello","version":1.5}', 'hello.version'],
      ['{"type":"hello","transport":5}', 'hello.transport'],
      ['{"type":"hello","features":true}', 'hello.features'],
      ['{"type":"hello","features":{"mcp":"yes"}}', 'hello.features.mcp'],
      ['{"type":"hello","audio_params":[]}', 'hello.audio_params'],
      ['{"type":"hello","audio_params":{"frame_duration":-60}}', 'hello.audio_params.frame_duration'],
      ['{"type":"hello","audio_params":{"channels":0}}', 'hello.audio_params.channels'],
      ['{"type":"hello","audio_params":{"format":1}}', 'hello.audio_params.format'],
      ['{"type":"hello","device_id":123}', 'hello.device_id'],
      ['{"type":"hello","session_id":5}', 'hello.session_id'],
    ];
    for (const [text, field] of cases) {
      const err = expectProtocolError(() => parseClientMessage(text), 'invalid_field');
      assert.equal(err.field, field, text);
    }
  });

  it('listen without a valid state, with a bad mode, or detect without text', () => {
    assert.equal(expectProtocolError(() => parseClientMessage('{"type":"listen"}'), 'invalid_field').field, 'listen.state');
    assert.equal(
      expectProtocolError(() => parseClientMessage('{"type":"listen","state":"go"}'), 'invalid_field').field,
      'listen.state',
    );
    assert.equal(
      expectProtocolError(() => parseClientMessage('{"type":"listen","state":"start","mode":"loud"}'), 'invalid_field').field,
      'listen.mode',
    );
    assert.equal(
      expectProtocolError(() => parseClientMessage('{"type":"listen","state":"detect"}'), 'invalid_field').field,
      'listen.text',
    );
    assert.equal(
      expectProtocolError(() => parseClientMessage('{"type":"listen","state":"detect","text":5}'), 'invalid_field').field,
      'listen.text',
    );
  });

  it('mcp without an object payload, abort with a non-string reason, iot with non-array descriptors', () => {
    for (const text of ['{"type":"mcp"}', '{"type":"mcp","payload":"x"}', '{"type":"mcp","payload":[1]}', '{"type":"mcp","payload":null}']) {
      assert.equal(expectProtocolError(() => parseClientMessage(text), 'invalid_field').field, 'mcp.payload');
    }
    assert.equal(expectProtocolError(() => parseClientMessage('{"type":"abort","reason":1}'), 'invalid_field').field, 'abort.reason');
    assert.equal(
      expectProtocolError(() => parseClientMessage('{"type":"iot","descriptors":{}}'), 'invalid_field').field,
      'iot.descriptors',
    );
  });

  it('a 10 MB text as too_large without handing it to JSON.parse', () => {
    // Invalid JSON on purpose: had it been parsed, the error would be invalid_json.
    const huge = '{"type":"hello","junk":"' + 'x'.repeat(10 * 1024 * 1024);
    const realParse = JSON.parse;
    let parseCalls = 0;
    JSON.parse = ((...args: Parameters<typeof JSON.parse>) => {
      parseCalls++;
      return realParse(...args);
    }) as typeof JSON.parse;
    try {
      expectProtocolError(() => parseClientMessage(huge), 'too_large');
      expectProtocolError(() => parseClientMessage(huge, 1024 * 1024), 'too_large');
    } finally {
      JSON.parse = realParse;
    }
    assert.equal(parseCalls, 0);
  });

  it('text whose UTF-8 size (not its length) is over the limit', () => {
    const text = JSON.stringify({ type: 'listen', state: 'detect', text: '你'.repeat(100) });
    assert.ok(text.length <= 200 && Buffer.byteLength(text) > 200);
    expectProtocolError(() => parseClientMessage(text, 200), 'too_large');
    assert.equal(parseClientMessage(text, Buffer.byteLength(text)).type, 'listen');
    assert.ok(DEFAULT_MAX_MESSAGE_BYTES >= 16 * 1024);
  });
});

describe('protocol/messages: server builders', () => {
  it('serverHello defaults to websocket, v1, opus 24000 Hz mono 60 ms', () => {
    assert.deepEqual(serverHello({ sessionId: 'abc' }), {
      type: 'hello',
      version: 1,
      transport: 'websocket',
      session_id: 'abc',
      audio_params: { format: 'opus', sample_rate: 24000, channels: 1, frame_duration: 60 },
    });
  });

  it('serverHello for the UDP transport carries the udp block', () => {
    const hello = serverHello({
      sessionId: 's',
      transport: 'udp',
      version: 3,
      sampleRateHz: 16000,
      frameMs: 20,
      udp: { server: '192.168.1.10', port: 8884, key: '00'.repeat(16), nonce: '01'.repeat(16) },
    });
    assert.equal(hello.transport, 'udp');
    assert.equal(hello.audio_params.sample_rate, 16000);
    assert.equal(hello.audio_params.frame_duration, 20);
    assert.deepEqual(hello.udp, { server: '192.168.1.10', port: 8884, encryption: 'aes-128-ctr', key: '00'.repeat(16), nonce: '01'.repeat(16) });
  });

  it('builds the messages FW handles, in its field names', () => {
    assert.deepEqual(sttMessage('s', 'turn on the light'), { type: 'stt', session_id: 's', text: 'turn on the light' });
    assert.deepEqual(ttsMessage('s', 'start'), { type: 'tts', session_id: 's', state: 'start' });
    assert.equal('text' in ttsMessage('s', 'stop'), false);
    assert.deepEqual(ttsMessage('s', 'sentence_start', 'Hello.'), { type: 'tts', session_id: 's', state: 'sentence_start', text: 'Hello.' });
    assert.deepEqual(llmEmotionMessage('s', 'happy', '🙂'), { type: 'llm', session_id: 's', emotion: 'happy', text: '🙂' });
    const payload = { jsonrpc: '2.0' as const, id: 1, method: 'tools/list' };
    assert.deepEqual(mcpEnvelope('s', payload), { type: 'mcp', session_id: 's', payload });
    assert.deepEqual(alertMessage('s', 'Warning', 'Battery low', 'sad'), {
      type: 'alert',
      session_id: 's',
      status: 'Warning',
      message: 'Battery low',
      emotion: 'sad',
    });
    assert.deepEqual(systemMessage('s', 'reboot'), { type: 'system', session_id: 's', command: 'reboot' });
    assert.deepEqual(goodbyeMessage('s'), { type: 'goodbye', session_id: 's' });
    assert.deepEqual(errorMessage('s', 'invalid_json', 'message is not valid JSON'), {
      type: 'error',
      session_id: 's',
      code: 'invalid_json',
      message: 'message is not valid JSON',
    });
    assert.equal('session_id' in errorMessage(undefined, 'x', 'y'), false);
  });

  it('pongMessage stamps local time as YYYY-MM-DD HH:MM:SS', () => {
    const nowMs = new Date(2026, 0, 2, 3, 4, 5).getTime(); // local time on purpose
    assert.deepEqual(pongMessage(nowMs), { type: 'pong', timestamp: '2026-01-02 03:04:05' });
    assert.match(pongMessage().timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it('round-trips: a server error message is itself valid JSON the client side can read', () => {
    const err = expectProtocolError(() => parseClientMessage('{"type":"hello","audio_params":{"sample_rate":"abc"}}'), 'invalid_field');
    const wire = JSON.parse(JSON.stringify(errorMessage('s', err.code, err.message))) as Record<string, unknown>;
    assert.equal(wire.code, 'invalid_field');
    assert.match(String(wire.message), /sample_rate/);
  });
});

describe('protocol/messages: emotions', () => {
  it('EMOTIONS has the 21 names of §2.5 with distinct emoji', () => {
    assert.equal(Object.keys(EMOTIONS).length, 21);
    assert.equal(new Set(Object.values(EMOTIONS)).size, 21);
    assert.equal(EMOTIONS.happy, '🙂');
    assert.equal(EMOTIONS.thinking, '🤔');
    assert.equal(EMOTIONS[DEFAULT_EMOTION], '🙂');
  });

  it('emotionFromText finds the first mapped emoji, after unmapped ones', () => {
    assert.deepEqual(emotionFromText('Sure! 😎 done 😭'), { emotion: 'cool', emoji: '😎' });
    assert.deepEqual(emotionFromText('🎉 party 😂'), { emotion: 'funny', emoji: '😂' });
    assert.deepEqual(emotionFromText('好的😴'), { emotion: 'sleepy', emoji: '😴' });
    assert.equal(emotionFromText('plain text, 中文，no emoji'), undefined);
    assert.equal(emotionFromText(''), undefined);
  });

  it('emotionFromText handles variation selectors and multi-codepoint emoji', () => {
    assert.deepEqual(emotionFromText('ok \u{1F642}\uFE0F'), { emotion: 'happy', emoji: '🙂' });
    assert.deepEqual(emotionFromText('\u{1F914}\uFE0E hmm'), { emotion: 'thinking', emoji: '🤔' });
    // Face in clouds = 😶 + ZWJ + 🌫️: counts by its first code point, as the Python server would.
    assert.deepEqual(emotionFromText('\u{1F636}\u200D\u{1F32B}\uFE0F'), { emotion: 'neutral', emoji: '😶' });
    // ☺️ (BMP + VS16) is not in the map and must not break the scan.
    assert.deepEqual(emotionFromText('\u263A\uFE0F then \u{1F609}'), { emotion: 'winking', emoji: '😉' });
  });
});
