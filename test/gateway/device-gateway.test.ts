import assert from 'node:assert/strict';
import { request } from 'node:http';
import { DeviceGateway, type Session } from '../../src/gateway';
import { createDeviceToken } from '../../src/protocol/token';
import { encodeAudioFrame } from '../../src/protocol/framing';
import { OpusFrameDecoder, OpusFrameEncoder } from '../../src/audio/opus';
import { RawClient } from '../helpers/raw-client';

type GatewayInput = ConstructorParameters<typeof DeviceGateway>[0];

async function startGateway(options: GatewayInput = {}): Promise<{ gateway: DeviceGateway; url: string; base: string }> {
  const gateway = new DeviceGateway({ port: 0, host: '127.0.0.1', ...options });
  await gateway.start();
  return { gateway, url: `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`, base: `http://127.0.0.1:${gateway.port}` };
}

function nextSession(gateway: DeviceGateway): Promise<Session> {
  return new Promise((resolve) => gateway.once('session', resolve));
}

function http(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

/** 60 ms of a 300 Hz tone at 16 kHz. */
function toneFrame(): Int16Array {
  const pcm = new Int16Array(960);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 16000));
  return pcm;
}

describe('DeviceGateway', function () {
  let gateway: DeviceGateway;
  let url: string;
  let base: string;
  const clients: RawClient[] = [];

  async function client(opts: Parameters<typeof RawClient.hello>[1] = {}): Promise<RawClient> {
    const c = await RawClient.hello(url, opts);
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    ({ gateway, url, base } = await startGateway());
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await gateway.close();
  });

  describe('handshake', () => {
    it('answers a firmware hello with transport websocket, a session id and the real downlink params', async () => {
      const sessionPromise = nextSession(gateway);
      const c = await client();
      const hello = c.jsons().find((m) => m.type === 'hello')!;
      assert.equal(hello.transport, 'websocket');
      assert.equal(typeof hello.session_id, 'string');
      assert.deepEqual(hello.audio_params, { format: 'opus', sample_rate: 24000, channels: 1, frame_duration: 60 });
      const session = await sessionPromise;
      assert.equal(session.id, hello.session_id);
      assert.equal(session.deviceId, 'aa:bb:cc:dd:ee:01');
      assert.equal(session.state, 'idle');
    });

    it('accepts the browser form: identity in the query string and a hello without audio_params', async () => {
      const c = await RawClient.connect(`${url}?device-id=AA:BB:CC:00:00:09&client-id=web-1`);
      clients.push(c);
      const sessionPromise = nextSession(gateway);
      c.sendJson({ type: 'hello', device_id: 'x', device_name: 'web', features: { mcp: true, emoji: true } });
      const hello = await c.waitJson((m) => m.type === 'hello');
      assert.equal(hello.transport, 'websocket');
      const session = await sessionPromise;
      assert.equal(session.deviceId, 'aa:bb:cc:00:00:09');
      assert.equal(session.clientId, 'web-1');
    });

    it('refuses a client without a device id with close 4400 and a readable reason', async () => {
      const c = await RawClient.connect(url);
      clients.push(c);
      const closed = await c.waitClose();
      assert.equal(closed.code, 4400);
      assert.match(String(c.jsons()[0]?.message), /device-id/);
    });

    it('closes a client that never sends hello (4408)', async () => {
      await gateway.close();
      ({ gateway, url } = await startGateway({ limits: { helloTimeoutMs: 150 } }));
      const c = await RawClient.connect(url, { 'Device-Id': 'aa:aa:aa:aa:aa:aa' });
      clients.push(c);
      const closed = await c.waitClose();
      assert.equal(closed.code, 4408);
      assert.ok(c.jsons().some((m) => m.type === 'error' && m.code === 'hello_timeout'));
    });

    it('enforces max sessions with close 4503 and leaves the others connected', async () => {
      await gateway.close();
      ({ gateway, url } = await startGateway({ limits: { maxSessions: 2 } }));
      const a = await client({ deviceId: 'aa:00:00:00:00:01' });
      const b = await client({ deviceId: 'aa:00:00:00:00:02' });
      const c = await RawClient.connect(url, { 'Device-Id': 'aa:00:00:00:00:03' });
      clients.push(c);
      const closed = await c.waitClose();
      assert.equal(closed.code, 4503);
      assert.match(closed.reason, /server full/);
      assert.equal(a.closeInfo, undefined);
      assert.equal(b.closeInfo, undefined);
      assert.equal(gateway.stats().sessions, 2);
    });
  });

  describe('auth', () => {
    beforeEach(async () => {
      await gateway.close();
      ({ gateway, url, base } = await startGateway({ auth: { enabled: true, secret: 's3cret', allowedDevices: ['aa:bb:cc:dd:ee:ff'] } }));
    });

    it('accepts a valid token, refuses a missing or forged one (4401), lets whitelisted devices in', async () => {
      const token = createDeviceToken('s3cret', 'cid', 'aa:00:00:00:00:10');
      const ok = await RawClient.hello(url, { deviceId: 'aa:00:00:00:00:10', headers: { 'Client-Id': 'cid', Authorization: `Bearer ${token}` } });
      clients.push(ok);
      assert.equal(ok.closeInfo, undefined);

      const none = await RawClient.connect(url, { 'Device-Id': 'aa:00:00:00:00:11', 'Client-Id': 'cid' });
      clients.push(none);
      assert.equal((await none.waitClose()).code, 4401);

      const forged = await RawClient.connect(url, { 'Device-Id': 'aa:00:00:00:00:11', 'Client-Id': 'cid', Authorization: `Bearer ${token}` });
      clients.push(forged);
      const closed = await forged.waitClose();
      assert.equal(closed.code, 4401);
      assert.match(closed.reason, /authentication failed/);

      const listed = await RawClient.hello(url, { deviceId: 'AA:BB:CC:DD:EE:FF' });
      clients.push(listed);
      assert.equal(listed.closeInfo, undefined);
    });

    it('the OTA answer carries a token the WebSocket accepts', async () => {
      const res = await http('POST', `${base}/xiaozhi/ota/`, JSON.stringify({ version: 2, mac_address: 'aa:00:00:00:00:20', uuid: 'u-20' }), {
        'Device-Id': 'aa:00:00:00:00:20',
        'Client-Id': 'u-20',
      });
      const answer = JSON.parse(res.text) as { websocket: { url: string; token: string } };
      assert.ok(answer.websocket.token.length > 10);
      const c = await RawClient.hello(answer.websocket.url, { deviceId: 'aa:00:00:00:00:20', headers: { 'Client-Id': 'u-20', Authorization: `Bearer ${answer.websocket.token}` } });
      clients.push(c);
      assert.equal(c.closeInfo, undefined);
    });
  });

  describe('OTA endpoint', () => {
    it('POST answers websocket url/token and server time, never mqtt or activation', async () => {
      const body = {
        version: 2,
        language: 'zh-CN',
        minimum_free_heap_size: '123456',
        mac_address: 'a0:85:e3:f4:49:34',
        uuid: 'c0ffee00-0000-4000-8000-000000000000',
        application: { name: 'xiaozhi', version: '2.4.2' },
        board: { type: 'bread-compact-wifi', name: 'bread-compact-wifi' },
      };
      const res = await http('POST', `${base}/xiaozhi/ota/`, JSON.stringify(body), {
        'Device-Id': 'a0:85:e3:f4:49:34',
        'Client-Id': body.uuid,
        'Activation-Version': '1',
        'User-Agent': 'bread-compact-wifi/2.4.2',
      });
      assert.equal(res.status, 200);
      const answer = JSON.parse(res.text) as Record<string, Record<string, unknown>>;
      assert.equal(answer.websocket!.url, `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`);
      assert.equal(answer.websocket!.token, '');
      assert.equal(typeof answer.server_time!.timestamp, 'number');
      assert.equal(answer.firmware!.url, '');
      assert.equal(answer.mqtt, undefined);
      assert.equal(answer.activation, undefined);
      assert.equal(res.headers['access-control-allow-origin'], '*');
    });

    it('OPTIONS answers the CORS preflight, GET is a health check, bad JSON is a 400', async () => {
      const pre = await http('OPTIONS', `${base}/xiaozhi/ota/`);
      assert.equal(pre.status, 204);
      assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
      const get = await http('GET', `${base}/xiaozhi/ota/`);
      assert.equal(get.status, 200);
      assert.match(get.text, /ws:\/\//);
      const bad = await http('POST', `${base}/xiaozhi/ota/`, '{nope', { 'Device-Id': 'aa:bb:cc:dd:ee:01' });
      assert.equal(bad.status, 400);
      const activate = await http('POST', `${base}/xiaozhi/ota/activate`, '{}', { 'Device-Id': 'aa:bb:cc:dd:ee:01' });
      assert.equal(activate.status, 200);
      const root = await http('GET', `${base}/`);
      assert.match(root.text, /Server is running/);
    });
  });

  describe('MCP client', () => {
    it('initialize -> tools/list following nextCursor -> tools on the session; tools/call with unique ids', async () => {
      const sessionPromise = nextSession(gateway);
      const c = await RawClient.connect(url, { 'Device-Id': 'aa:bb:cc:dd:ee:01' });
      clients.push(c);
      const seenIds: number[] = [];
      let toolsPromise: Promise<unknown> | undefined;
      void sessionPromise.then((s) => {
        toolsPromise = new Promise((resolve) => s.once('tools', resolve));
      });
      const answer = (id: number, result: unknown) => c.sendJson({ type: 'mcp', payload: { jsonrpc: '2.0', id, result } });
      c.ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const m = JSON.parse(data.toString()) as { type: string; payload?: { id: number; method: string; params?: Record<string, unknown> } };
        if (m.type !== 'mcp' || !m.payload) return;
        const { id, method, params } = m.payload;
        seenIds.push(id);
        if (method === 'initialize') answer(id, { protocolVersion: '2024-11-05', capabilities: { tools: {} }, serverInfo: { name: 'sim', version: '1' } });
        else if (method === 'tools/list' && !params?.cursor) {
          answer(id, { tools: [{ name: 'self.get_device_status', description: 'status', inputSchema: { type: 'object', properties: {} } }], nextCursor: 'self.audio_speaker.set_volume' });
        } else if (method === 'tools/list') {
          answer(id, {
            tools: [{ name: 'self.audio_speaker.set_volume', description: 'volume', inputSchema: { type: 'object', properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['volume'] } }],
          });
        } else if (method === 'tools/call') {
          if (params?.name === 'self.slow') return; // never answers
          answer(id, { content: [{ type: 'text', text: 'true' }], isError: false });
        }
      });
      c.sendJson({ type: 'hello', version: 1, features: { mcp: true }, transport: 'websocket' });
      const session = await sessionPromise;
      const tools = (await toolsPromise!) as Array<{ name: string }>;
      assert.deepEqual(tools.map((t) => t.name), ['self.get_device_status', 'self.audio_speaker.set_volume']);
      const [r1, r2] = await Promise.all([
        session.callTool('self.audio_speaker.set_volume', { volume: 40 }),
        session.callTool('self.audio_speaker.set_volume', { volume: 50 }),
      ]);
      assert.equal(r1.text, 'true');
      assert.equal(r2.isError, false);
      await assert.rejects(session.callTool('self.slow', {}, 100), /did not answer/);
      assert.equal(new Set(seenIds).size, seenIds.length, 'every request id unique on the connection');
    });
  });

  describe('listen, abort and turns', () => {
    it('answers every abort with tts stop, also with nothing playing, and bumps the turn', async () => {
      const sessionPromise = nextSession(gateway);
      const c = await client();
      const session = await sessionPromise;
      const turn = session.turn;
      c.sendJson({ type: 'abort' });
      await c.waitJson((m) => m.type === 'tts' && m.state === 'stop');
      assert.equal(session.turn, turn + 1);
      assert.equal(session.sendStt('late result', turn), false, 'a stale turn is dropped');
    });

    it('emits listen start/stop/detect with the mode, and uplink audio decoded to 16 kHz PCM', async () => {
      const sessionPromise = nextSession(gateway);
      const c = await client();
      const session = await sessionPromise;
      const events: Array<{ state: string; mode: string; text?: string }> = [];
      const audio: Array<{ pcm?: Int16Array }> = [];
      session.on('listen', (e) => events.push(e));
      session.on('audio', (a) => audio.push(a));
      c.sendJson({ type: 'listen', state: 'start', mode: 'manual' });
      const encoder = new OpusFrameEncoder({ sampleRateHz: 16000, frameMs: 60 });
      for (let i = 0; i < 5; i++) c.sendBinary(encoder.encode(toneFrame()));
      c.sendJson({ type: 'listen', state: 'stop' });
      c.sendJson({ type: 'listen', state: 'detect', text: '你好小智' });
      await c.waitUntil(() => events.length === 3 && audio.length === 5, 3000);
      assert.deepEqual(events.map((e) => [e.state, e.mode]), [['start', 'manual'], ['stop', 'manual'], ['detect', 'manual']]);
      assert.equal(events[2]!.text, '你好小智');
      assert.equal(audio[0]!.pcm!.length, 960);
    });
  });

  describe('downlink', () => {
    it('tts start, subtitles in order, paced decodable 24 kHz frames, tts stop after play-out', async () => {
      const sessionPromise = nextSession(gateway);
      const c = await client();
      const session = await sessionPromise;
      const pcm = new Int16Array(24000 * 0.6); // 600 ms at 24 kHz -> 10 frames
      for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(6000 * Math.sin((2 * Math.PI * 220 * i) / 24000));
      session.sendStt('hello', session.turn);
      session.queueSentence('First.', session.turn);
      session.queuePcm(pcm, 24000, session.turn);
      session.queueSentence('Second.', session.turn);
      session.queuePcm(pcm, 24000, session.turn);
      session.finishSpeaking(session.turn);
      await c.waitJson((m) => m.type === 'tts' && m.state === 'stop', 5000);
      const order = c.received.map((r) => (r.kind === 'binary' ? 'audio' : `${String(r.message.type)}:${String(r.message.state ?? '')}`));
      const compact = order.filter((x, i) => x !== 'audio' || order[i - 1] !== 'audio');
      assert.deepEqual(compact, ['hello:', 'stt:', 'tts:start', 'tts:sentence_start', 'audio', 'tts:sentence_start', 'audio', 'tts:stop']);
      const frames = c.binaries();
      assert.equal(frames.length, 20);
      const decoder = new OpusFrameDecoder(24000);
      for (const f of frames) assert.equal(decoder.decode(f).length, 1440);
      // Subtitle 2 goes out when its audio starts playing: after frame 10 was released.
      const secondSubtitle = c.received.findIndex((r) => r.kind === 'json' && r.message.text === 'Second.');
      const framesBefore = c.received.slice(0, secondSubtitle).filter((r) => r.kind === 'binary').length;
      assert.ok(framesBefore >= 10, `second subtitle after the first sentence's frames (${framesBefore})`);
      assert.equal(session.state, 'listening');
    });

    it('abort flushes queued audio at once and the device gets tts stop', async () => {
      const sessionPromise = nextSession(gateway);
      const c = await client();
      const session = await sessionPromise;
      const pcm = new Int16Array(24000 * 3); // 3 s = 50 frames
      session.queuePcm(pcm, 24000);
      session.finishSpeaking();
      await c.waitUntil(() => c.binaries().length >= 5, 3000, 'pre-roll');
      c.sendJson({ type: 'abort' });
      await c.waitJson((m) => m.type === 'tts' && m.state === 'stop');
      const atStop = c.binaries().length;
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(c.binaries().length, atStop, 'no audio after the abort');
      assert.ok(atStop < 50);
      assert.equal(c.jsons().filter((m) => m.type === 'tts' && m.state === 'stop').length, 1, 'one stop only');
    });

    it('frames downlink audio with the v2 and v3 headers the device asked for', async () => {
      for (const version of [2, 3]) {
        const sessionPromise = nextSession(gateway);
        const c = await client({ version, deviceId: `aa:00:00:00:00:0${version}` });
        const session = await sessionPromise;
        assert.equal(session.protocolVersion, version);
        session.queueOpus([Buffer.from([0xf8, 0xff, 0xfe])]);
        session.finishSpeaking();
        await c.waitJson((m) => m.type === 'tts' && m.state === 'stop');
        const frame = c.binaries()[0]!;
        if (version === 2) {
          assert.equal(frame.readUInt16BE(0), 2);
          assert.equal(frame.readUInt32BE(12), 3);
          assert.equal(frame.length, 19);
        } else {
          assert.equal(frame[0], 0);
          assert.equal(frame.readUInt16BE(2), 3);
          assert.equal(frame.length, 7);
        }
        // Uplink in the same framing is accepted.
        const audio = new Promise((resolve) => session.once('audio', resolve));
        const encoder = new OpusFrameEncoder({ sampleRateHz: 16000, frameMs: 60 });
        c.sendBinary(encodeAudioFrame(version as 2 | 3, encoder.encode(toneFrame()), 1234));
        const got = (await audio) as { timestampMs: number; pcm: Int16Array };
        assert.equal(got.pcm.length, 960);
        if (version === 2) assert.equal(got.timestampMs, 1234);
      }
    });
  });

  describe('bad input', () => {
    let session: Session;
    let c: RawClient;
    let bystander: RawClient;

    beforeEach(async () => {
      bystander = await client({ deviceId: 'bb:00:00:00:00:01' });
      const sessionPromise = nextSession(gateway);
      c = await client();
      session = await sessionPromise;
    });

    afterEach(async () => {
      // Other sessions are untouched by whatever this client did.
      bystander.sendJson({ type: 'abort' });
      await bystander.waitJson((m) => m.type === 'tts' && m.state === 'stop');
      assert.equal(bystander.closeInfo, undefined);
    });

    const expectError = async (code: string) => {
      const m = await c.waitJson((x) => x.type === 'error' && x.code === code);
      assert.ok(String(m.message).length > 5, 'a readable message');
    };

    it('malformed JSON', async () => {
      c.sendText('{"type": "listen", ');
      await expectError('invalid_json');
      assert.equal(c.closeInfo, undefined);
    });

    it('JSON without type, and unknown type', async () => {
      c.sendJson({ state: 'start' });
      await expectError('missing_type');
      c.sendJson({ type: 'teleport' });
      await expectError('unknown_type');
      assert.match(String(c.jsons().find((m) => m.code === 'unknown_type')?.message), /teleport/);
    });

    it('hello with wrong field types', async () => {
      c.sendJson({ type: 'hello', audio_params: { sample_rate: 'fast' } });
      await expectError('invalid_field');
    });

    it('a frame over the limit, and non-Opus binary', async () => {
      c.sendBinary(Buffer.alloc(5000, 1));
      await expectError('too_large');
      c.sendBinary(Buffer.alloc(100, 0xff)); // a code-3 packet announcing an impossible frame count
      await expectError('bad_audio');
      assert.equal(session.counters.badFrames, 2);
      assert.equal(c.closeInfo, undefined);
    });

    it('a 10 MB text frame closes that client with 1009, nothing else', async () => {
      c.sendText('x'.repeat(10 * 1024 * 1024));
      const closed = await c.waitClose();
      assert.equal(closed.code, 1009);
    });

    it('binary before hello', async () => {
      const early = await RawClient.connect(url, { 'Device-Id': 'cc:00:00:00:00:01' });
      clients.push(early);
      early.sendBinary(Buffer.from([1, 2, 3]));
      const m = await early.waitJson((x) => x.type === 'error');
      assert.equal(m.code, 'hello_required');
    });

    it('a flood of frames is rate limited, then the client is dropped (4429)', async () => {
      const frame = Buffer.from([0xf8, 0xff, 0xfe]);
      for (let i = 0; i < 1200; i++) c.sendBinary(frame);
      await expectError('rate_limited');
      const closed = await c.waitClose();
      assert.equal(closed.code, 4429);
      assert.ok(session.counters.droppedMessages >= 500);
    });
  });

  describe('overload guard', () => {
    it('a stalled event loop sheds uplink audio and refuses new devices (4503), then recovers', async () => {
      await gateway.close();
      ({ gateway, url } = await startGateway({ limits: { maxEventLoopLagMs: 50 } }));
      const sessionPromise = nextSession(gateway);
      const c = await client();
      const session = await sessionPromise;
      c.sendJson({ type: 'listen', state: 'start', mode: 'auto' });
      const encoder = new OpusFrameEncoder({ sampleRateHz: 16000, frameMs: 60 });
      const frame = encoder.encode(toneFrame());
      await new Promise((r) => setTimeout(r, 150));
      // One stall (start-up, a model load) is not overload.
      const block = (ms: number) => {
        const until = Date.now() + ms;
        while (Date.now() < until) {
          /* block the event loop */
        }
      };
      block(300);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(gateway.overloaded, false, 'a single stall is not overload');
      // Sustained lag is: the loop keeps falling behind tick after tick.
      for (let i = 0; i < 4; i++) {
        block(250);
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, 1));
      }
      await new Promise((r) => setTimeout(r, 30));
      // Now the hub sheds load for a second: frames dropped, new devices refused.
      assert.equal(gateway.overloaded, true);
      for (let i = 0; i < 5; i++) c.sendBinary(frame);
      const refused = await RawClient.connect(url, { 'Device-Id': 'dd:00:00:00:00:01' });
      clients.push(refused);
      const closed = await refused.waitClose();
      assert.equal(closed.code, 4503);
      assert.match(closed.reason, /overloaded/);
      await c.waitUntil(() => session.counters.overloadDropped === 5, 2000, 'dropped frames');
      // Caught up: audio flows again and new devices are welcome.
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(gateway.overloaded, false);
      const before = session.counters.framesIn;
      c.sendBinary(frame);
      await c.waitUntil(() => session.counters.framesIn > before, 2000, 'frame accepted after recovery');
      const again = await client({ deviceId: 'dd:00:00:00:00:02' });
      assert.equal(again.closeInfo, undefined);
    });
  });

  describe('metrics', () => {
    it('serves Prometheus metrics: sessions by state, connections, errors, frame gaps', async () => {
      const sessionPromise = nextSession(gateway);
      const c = await client();
      const session = await sessionPromise;
      c.sendJson({ type: 'teleport' });
      await c.waitJson((m) => m.type === 'error');
      session.queuePcm(new Int16Array(24000 * 0.6), 24000);
      session.finishSpeaking();
      await c.waitJson((m) => m.type === 'tts' && m.state === 'stop');
      const res = await http('GET', `${base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.text, /xiaozhi_sessions\{state="listening"\} 1/);
      assert.match(res.text, /xiaozhi_connections_total\{outcome="accepted"\} \d+/);
      assert.match(res.text, /xiaozhi_errors_total\{kind="unknown_type"\} \d+/);
      assert.match(res.text, /xiaozhi_downlink_frame_gap_ms_count [1-9]\d*/);
      assert.match(res.text, /xiaozhi_process_resident_memory_bytes \d+/);
    });
  });

  describe('attached to an existing http server', () => {
    it('takes upgrades on its path only and leaves the server running after close', async () => {
      const { createServer } = await import('node:http');
      const { WebSocketServer } = await import('ws');
      const server = createServer((_req, res) => res.end('host app'));
      // Another WebSocket user of the same server (like Node-RED's own websocket nodes).
      const other = new WebSocketServer({ noServer: true });
      server.on('upgrade', (req, socket, head) => {
        if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => ws.send('other'));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      const attached = new DeviceGateway({ server, path: '/xiaozhi/v1/' });
      await attached.start();
      try {
        const c = await RawClient.hello(`ws://127.0.0.1:${port}/xiaozhi/v1/`);
        clients.push(c);
        assert.equal(attached.stats().sessions, 1);
        const o = await RawClient.connect(`ws://127.0.0.1:${port}/other`);
        clients.push(o);
        await o.waitUntil(() => o.received.length > 0, 2000, 'other server message');
        await attached.close();
        assert.equal((await c.waitClose()).code, 1001);
        const res = await http('GET', `http://127.0.0.1:${port}/`);
        assert.equal(res.text, 'host app', 'the host server keeps serving');
      } finally {
        await attached.close();
        // Upgraded sockets are no longer tracked by the http server: end them before close().
        for (const ws of other.clients) ws.terminate();
        other.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });

  describe('lifecycle', () => {
    it('closes an idle session after the configured time', async () => {
      await gateway.close();
      ({ gateway, url } = await startGateway({ limits: { idleTimeoutMs: 300 } }));
      const c = await client();
      const closed = await c.waitClose(4000);
      assert.equal(closed.code, 4000);
    });

    it('close() frees the port so a redeploy can bind it again', async () => {
      const port = gateway.port;
      const c = await client();
      await gateway.close();
      assert.equal((await c.waitClose()).code, 1001);
      gateway = new DeviceGateway({ port, host: '127.0.0.1' });
      await gateway.start();
      assert.equal(gateway.port, port);
    });
  });
});
