import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { OpusFrameDecoder, OpusFrameEncoder } from '../../src/audio/opus';
import { RawClient } from '../helpers/raw-client';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const serverNode = require('../../nodes/xiaozhi-server/xiaozhi-server');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const inNode = require('../../nodes/xiaozhi-in/xiaozhi-in');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const outNode = require('../../nodes/xiaozhi-out/xiaozhi-out');

helper.init(require.resolve('node-red'));

interface ServerRuntime {
  gateway: { port: number };
  ready: Promise<void>;
}

type Msg = Record<string, unknown>;

function flow(port = 0): object[] {
  return [
    { id: 'srv', type: 'xiaozhi-server', port, host: '127.0.0.1', path: '/xiaozhi/v1/', otaPath: '/xiaozhi/ota/' },
    { id: 'in', type: 'xiaozhi in', server: 'srv', audio: 'pcm', events: true, wires: [['sink']] },
    { id: 'sink', type: 'helper' },
    { id: 'out', type: 'xiaozhi out', server: 'srv', wires: [['results']] },
    { id: 'results', type: 'helper' },
  ];
}

describe('Node-RED nodes: xiaozhi-server, xiaozhi in, xiaozhi out', function () {
  const clients: RawClient[] = [];

  beforeEach((done) => {
    helper.startServer(done);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  });

  async function load(port = 0): Promise<{ url: string; port: number; msgs: Msg[] }> {
    await helper.load([serverNode, inNode, outNode], flow(port));
    const srv = helper.getNode('srv') as unknown as ServerRuntime;
    await srv.ready;
    const msgs: Msg[] = [];
    helper.getNode('sink').on('input', (msg: Msg) => msgs.push(msg));
    return { url: `ws://127.0.0.1:${srv.gateway.port}/xiaozhi/v1/`, port: srv.gateway.port, msgs };
  }

  async function waitFor<T>(get: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = get();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('loads every node', async () => {
    await load();
    for (const id of ['srv', 'in', 'out']) assert.ok(helper.getNode(id), `${id} loaded`);
  });

  it('xiaozhi in emits session, listen, audio and abort msgs with session/turn/device ids', async () => {
    const { url, msgs } = await load();
    const c = await RawClient.hello(url, { deviceId: 'aa:bb:cc:dd:ee:42' });
    clients.push(c);
    c.sendJson({ type: 'listen', state: 'start', mode: 'manual' });
    const encoder = new OpusFrameEncoder({ sampleRateHz: 16000 });
    c.sendBinary(encoder.encode(new Int16Array(960)));
    c.sendJson({ type: 'listen', state: 'stop' });
    c.sendJson({ type: 'listen', state: 'detect', text: 'what time is it' });
    c.sendJson({ type: 'abort' });
    await waitFor(() => (msgs.some((m) => m.topic === 'abort') ? true : undefined), 'abort msg');
    const topics = msgs.map((m) => m.topic);
    assert.deepEqual(topics, ['session.start', 'listen.start', 'audio', 'listen.stop', 'listen.detect', 'abort']);
    const audio = msgs.find((m) => m.topic === 'audio')!;
    assert.ok(Buffer.isBuffer(audio.payload));
    assert.equal((audio.payload as Buffer).length, 1920);
    assert.deepEqual(audio.audio, { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1, frameMs: 60 });
    assert.deepEqual(msgs[0]!.device, { id: 'aa:bb:cc:dd:ee:42', clientId: '4a2c6f0e-0000-4000-8000-000000000001' });
    assert.equal(msgs.find((m) => m.topic === 'listen.detect')!.payload, 'what time is it');
    const session = msgs[0]!.session as string;
    assert.ok(msgs.every((m) => m.session === session));
    assert.ok((msgs[5]!.turn as number) > (msgs[1]!.turn as number), 'abort began a new turn');
  });

  it('xiaozhi out speaks to the device: stt, sentence, PCM audio, stop; drops stale turns', async () => {
    const { url, msgs } = await load();
    const c = await RawClient.hello(url);
    clients.push(c);
    c.sendJson({ type: 'listen', state: 'detect', text: 'hi' });
    const detect = await waitFor(() => msgs.find((m) => m.topic === 'listen.detect'), 'detect');
    const out = helper.getNode('out');
    const base = { session: detect.session, turn: detect.turn };
    const pcm = Buffer.alloc(16000 * 2 * 0.3); // 300 ms of 16 kHz silence -> 5 frames at 24 kHz
    out.receive({ ...base, topic: 'stt', payload: 'hi' });
    out.receive({ ...base, topic: 'tts.sentence', payload: 'Hello there.' });
    out.receive({ ...base, topic: 'audio', payload: pcm, audio: { encoding: 'pcm_s16le', sampleRateHz: 16000 } });
    out.receive({ ...base, topic: 'tts.stop' });
    out.receive({ ...base, turn: (detect.turn as number) - 1, topic: 'stt', payload: 'stale' });
    await c.waitJson((m) => m.type === 'tts' && m.state === 'stop');
    const seq = c.received.map((r) => (r.kind === 'binary' ? 'audio' : `${String(r.message.type)}${r.message.state ? `:${String(r.message.state)}` : ''}`));
    assert.deepEqual(seq, ['hello', 'stt', 'tts:start', 'tts:sentence_start', 'audio', 'audio', 'audio', 'audio', 'audio', 'tts:stop']);
    assert.ok(!c.jsons().some((m) => m.text === 'stale'));
    const decoder = new OpusFrameDecoder(24000);
    for (const f of c.binaries()) assert.equal(decoder.decode(f).length, 1440);
  });

  it('xiaozhi out calls a device MCP tool and outputs the result; bad msgs reach Catch via done(err)', async () => {
    const { url, msgs } = await load();
    const c = await RawClient.connect(url, { 'Device-Id': 'aa:bb:cc:dd:ee:43' });
    clients.push(c);
    c.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(data.toString()) as { type: string; payload?: { id: number; method: string; params?: { name?: string } } };
      if (m.type !== 'mcp' || !m.payload) return;
      const { id, method } = m.payload;
      const result =
        method === 'initialize'
          ? { protocolVersion: '2024-11-05', capabilities: { tools: {} }, serverInfo: { name: 'x', version: '1' } }
          : method === 'tools/list'
            ? { tools: [{ name: 'self.audio_speaker.set_volume', description: 'v', inputSchema: { type: 'object', properties: {} } }] }
            : { content: [{ type: 'text', text: 'true' }], isError: false };
      c.sendJson({ type: 'mcp', payload: { jsonrpc: '2.0', id, result } });
    });
    c.sendJson({ type: 'hello', version: 1, features: { mcp: true } });
    const tools = await waitFor(() => msgs.find((m) => m.topic === 'mcp.tools'), 'tools msg');
    assert.deepEqual((tools.payload as Array<{ name: string }>).map((t) => t.name), ['self.audio_speaker.set_volume']);
    const results: Msg[] = [];
    helper.getNode('results').on('input', (m: Msg) => results.push(m));
    const out = helper.getNode('out');
    out.receive({ session: tools.session, topic: 'mcp.call', payload: { name: 'self.audio_speaker.set_volume', arguments: { volume: 30 } } });
    const result = await waitFor(() => results[0], 'mcp result');
    assert.equal(result.topic, 'mcp.result');
    assert.equal(result.payload, 'true');

    const errors: string[] = [];
    const outNodeInstance = out as unknown as { error: (e: unknown) => void };
    const originalError = outNodeInstance.error.bind(out);
    outNodeInstance.error = (e: unknown) => {
      errors.push(String(e instanceof Error ? e.message : e));
      originalError(e);
    };
    out.receive({ session: tools.session, topic: 'warp' });
    out.receive({ topic: 'stt', payload: 'no session' });
    await waitFor(() => (errors.length >= 2 ? true : undefined), 'two errors');
    assert.match(errors.join('\n'), /unknown msg.topic "warp"/);
    assert.match(errors.join('\n'), /msg.session/);
  });

  it('a redeploy closes the sessions and frees the port', async () => {
    const { url, port } = await load();
    const c = await RawClient.hello(url);
    clients.push(c);
    await helper.unload();
    assert.equal((await c.waitClose()).code, 1001);
    // Same port again: the first deployment released it.
    await helper.load([serverNode, inNode, outNode], flow(port));
    const srv = helper.getNode('srv') as unknown as ServerRuntime;
    await srv.ready;
    assert.equal(srv.gateway.port, port);
    const again = await RawClient.hello(url);
    clients.push(again);
    assert.equal(again.closeInfo, undefined);
  });
});
