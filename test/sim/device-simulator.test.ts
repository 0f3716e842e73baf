import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { DeviceSimulator } from '../../src/sim/device-simulator';
import type { SimState } from '../../src/sim/device-simulator';
import { SimError } from '../../src/sim/sim-error';
import { synthesizeSpeech } from '../../src/sim/espeak';
import { readWav, writeWav } from '../../src/audio/wav';
import { rmsDbfs } from '../../src/audio/pcm';
import { FakeXiaozhiServer, until } from './fake-xiaozhi-server';
import type { FakeServerOptions } from './fake-xiaozhi-server';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

describe('sim/DeviceSimulator', function () {
  let server: FakeXiaozhiServer | undefined;
  let sim: DeviceSimulator | undefined;
  let tmp: string;
  let speech: Int16Array | undefined;

  before(async function () {
    tmp = mkdtempSync(join(tmpdir(), 'xiaozhi-sim-test-'));
    try {
      speech = (await synthesizeSpeech('turn on the light')).pcm;
    } catch (err) {
      console.log(`    (espeak-ng unavailable, speech tests will skip: ${err instanceof Error ? err.message : String(err)})`);
    }
  });

  after(() => rmSync(tmp, { recursive: true, force: true }));

  afterEach(async () => {
    await sim?.close();
    sim = undefined;
    await server?.close();
    server = undefined;
  });

  async function startServer(opts: FakeServerOptions = {}): Promise<FakeXiaozhiServer> {
    server = new FakeXiaozhiServer(opts);
    await server.start();
    return server;
  }

  it('checks OTA like the firmware, then connects with its headers and hello', async () => {
    const srv = await startServer({ otaToken: 'tok123', otaVersion: 2 });
    sim = new DeviceSimulator({ otaUrl: srv.otaUrl, language: 'en-US' });
    const hello = await sim.connect();

    const ota = srv.otaRequests[0];
    assert.ok(ota, 'OTA request received');
    assert.equal(ota.headers['activation-version'], '1');
    assert.match(String(ota.headers['device-id']), MAC_RE);
    assert.match(String(ota.headers['client-id']), UUID_RE);
    assert.equal(ota.headers['user-agent'], 'sim-board/2.4.2');
    assert.equal(ota.headers['accept-language'], 'en-US');
    assert.equal(ota.headers['content-type'], 'application/json');
    assert.equal(ota.body.minimum_free_heap_size, '123456');
    assert.equal(ota.body.mac_address, sim.deviceId);
    assert.equal(ota.body.uuid, sim.clientId);
    assert.equal(ota.body.language, 'en-US');
    assert.equal((ota.body.application as { version: string }).version, '2.4.2');
    assert.equal((ota.body.board as { mac: string }).mac, sim.deviceId);

    const conn = await srv.nextConnection();
    assert.equal(conn.headers.authorization, 'Bearer tok123');
    assert.equal(conn.headers['protocol-version'], '2', 'OTA websocket.version selects the binary protocol');
    assert.equal(conn.headers['device-id'], sim.deviceId);
    assert.equal(conn.headers['client-id'], sim.clientId);
    assert.equal(conn.url, '/xiaozhi/v1/');
    assert.deepEqual(conn.clientHello, {
      type: 'hello',
      version: 2,
      features: { mcp: true, glyph_push: false },
      transport: 'websocket',
      audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
    });
    assert.equal(hello.sessionId, conn.sessionId);
    assert.equal(hello.sampleRateHz, 24000);
    assert.equal(hello.frameMs, 60);
    assert.equal(sim.protocolVersion, 2);
    assert.equal(sim.state, 'idle');
  });

  it('uses the browser query-string form when asked, with no headers', async () => {
    const srv = await startServer();
    sim = new DeviceSimulator({ wsUrl: `${srv.wsUrl}?x=1`, token: 'abc', useQueryAuth: true, deviceId: 'AA:BB:CC:DD:EE:01' });
    await sim.connect();
    const conn = await srv.nextConnection();
    const query = new URL(conn.url, 'http://h').searchParams;
    assert.equal(query.get('x'), '1', 'existing query kept');
    assert.equal(query.get('device-id'), 'aa:bb:cc:dd:ee:01', 'device id is lower case');
    assert.equal(query.get('client-id'), sim.clientId);
    assert.equal(query.get('authorization'), 'Bearer abc');
    assert.match(conn.url, /authorization=Bearer\+abc/, 'encoded like the web client');
    assert.equal(conn.headers['device-id'], undefined);
    assert.equal(conn.headers.authorization, undefined);
    assert.equal(conn.headers['protocol-version'], undefined);
  });

  it('sends a token that already has a space unchanged, and no Authorization without a token', async () => {
    const srv = await startServer();
    sim = new DeviceSimulator({ wsUrl: srv.wsUrl, token: 'Token xyz' });
    await sim.connect();
    assert.equal(srv.connections[0]?.headers.authorization, 'Token xyz');
    await sim.close();
    sim = new DeviceSimulator({ wsUrl: srv.wsUrl });
    await sim.connect();
    await until(() => srv.connections.length === 2, 'second connection');
    assert.equal(srv.connections[1]?.headers.authorization, undefined);
    assert.equal(srv.connections[1]?.headers['protocol-version'], '1');
  });

  it('answers the MCP handshake with paging, executes tool calls and returns FW errors', async () => {
    const srv = await startServer({
      toolCalls: [
        { name: 'self.audio_speaker.set_volume', arguments: { volume: 35 } },
        { name: 'self.light.turn_on' },
        { name: 'self.get_device_status' },
        { name: 'self.no_such_tool' },
        { name: 'self.audio_speaker.set_volume', arguments: {} },
      ],
    });
    // A small page budget makes the 4 default tools span several tools/list pages.
    sim = new DeviceSimulator({ wsUrl: srv.wsUrl, mcpPageBudgetBytes: 450 });
    await sim.connect();
    const conn = await srv.nextConnection();
    await until(() => conn.mcpReplies.length === 5, 'five tool-call replies');

    assert.ok(conn.toolPages.length >= 2, `expected paging, got ${conn.toolPages.length} page(s)`);
    assert.ok(conn.toolPages.slice(0, -1).every((p) => typeof p.nextCursor === 'string'));
    assert.equal(conn.toolPages[conn.toolPages.length - 1]?.nextCursor, undefined);
    assert.deepEqual(
      conn.tools.map((t) => t.name),
      ['self.get_device_status', 'self.audio_speaker.set_volume', 'self.light.turn_on', 'self.light.turn_off'],
    );
    assert.deepEqual(sim.mcp.vision, { url: 'http://127.0.0.1:9/vision', token: 'vtok' });

    const [vol, light, status, unknown, missing] = conn.mcpReplies;
    assert.deepEqual(vol, { jsonrpc: '2.0', id: 10, result: { content: [{ type: 'text', text: 'true' }], isError: false } });
    assert.equal(light?.id, 11);
    const statusText = (status?.result as { content: Array<{ text: string }> }).content[0]?.text ?? '';
    assert.deepEqual(JSON.parse(statusText).audio_speaker, { volume: 35 });
    assert.deepEqual(unknown, { jsonrpc: '2.0', id: 13, error: { message: 'Unknown tool: self.no_such_tool' } });
    assert.deepEqual(missing, { jsonrpc: '2.0', id: 14, error: { message: 'Missing valid argument: volume' } });
    assert.equal(sim.deviceState.volume, 35);
    assert.equal(sim.deviceState.lightOn, true);

    // Every MCP reply carries the session id, like everything FW sends after hello.
    const mcpSent = conn.texts.filter((m) => m.type === 'mcp');
    assert.ok(mcpSent.length >= 7);
    assert.ok(mcpSent.every((m) => m.session_id === conn.sessionId));

    // FW drops requests with non-numeric ids and notifications without answering.
    const before = conn.mcpReplies.length;
    conn.sendMcp({ jsonrpc: '2.0', id: 'str', method: 'tools/list' });
    conn.sendMcp({ jsonrpc: '2.0', method: 'notifications/initialized' });
    conn.sendMcp({ jsonrpc: '2.0', id: 99, method: 'ping' });
    await until(() => conn.mcpReplies.length > before, 'reply to id 99');
    assert.equal(conn.mcpReplies.length, before + 1);
    assert.deepEqual(conn.mcpReplies[before], { jsonrpc: '2.0', id: 99, error: { message: 'Method not implemented: ping' } });
  });

  it('runs a manual turn (v1): drops audio before tts start, records the reply, saves a decodable WAV', async function () {
    if (!speech) {
      console.log('    skipped: espeak-ng is not installed, no speech to send');
      this.skip();
    }
    const srv = await startServer({ framesBeforeTtsStart: 3, replyFrames: 12 });
    sim = new DeviceSimulator({ wsUrl: srv.wsUrl });
    const states: SimState[] = [];
    sim.on('state', (s) => states.push(s));
    await sim.connect();
    const conn = await srv.nextConnection();

    const turn = await sim.speakPcm(speech, { mode: 'manual', realtime: false });
    const ended = await sim.waitForTurnEnd(turn, 10000);
    assert.equal(ended, turn);

    // Uplink: listen start manual, every speech frame as raw Opus (v1), listen stop.
    const listens = conn.texts.filter((m) => m.type === 'listen');
    assert.deepEqual(listens, [
      { session_id: conn.sessionId, type: 'listen', state: 'start', mode: 'manual' },
      { session_id: conn.sessionId, type: 'listen', state: 'stop' },
    ]);
    assert.equal(conn.frames.length, Math.ceil(speech.length / 960));
    assert.ok(conn.frames.every((f) => f.decodedSamples === 960), 'each uplink frame is one 60 ms Opus packet at 16 kHz');
    assert.ok(conn.frames.some((f) => f.energy / 960 > 300), 'speech frames carry audio');
    assert.equal(turn.uplinkFrames, conn.frames.length);

    // Downlink: 3 early frames dropped (not speaking yet), 12 kept and decoded at 24 kHz.
    assert.equal(turn.sttText, 'turn on the light');
    assert.equal(turn.emotion, 'happy');
    assert.deepEqual(turn.sentences, ['Sure, done.', 'Anything else?']);
    assert.equal(turn.droppedAudioFrames, 3);
    assert.equal(sim.received.filter((r) => r.dropped).length, 3);
    assert.equal(turn.audioFrames, 12);
    assert.equal(turn.downlinkPcm.length, 12 * 1440);
    assert.equal(turn.audioDurationMs, 720);
    assert.equal(turn.frameArrivalMs.length, 12);
    assert.ok(turn.replyLatencyMs !== undefined && turn.replyLatencyMs >= 0);
    assert.ok(turn.frameGapStats());

    // Firmware state machine: listening -> idle (listen stop) -> speaking -> idle (manual).
    assert.deepEqual(states, ['connecting', 'idle', 'listening', 'idle', 'speaking', 'idle']);

    const wavPath = join(tmp, 'reply.wav');
    const saved = await sim.saveDownlinkWav(wavPath);
    assert.equal(saved.samples, 12 * 1440);
    const wav = readWav(readFileSync(wavPath));
    assert.equal(wav.sampleRateHz, 24000);
    assert.equal(wav.pcm.length, 12 * 1440);
    // The fake server sent a 440 Hz tone at amplitude 8000 (about -15 dBFS RMS).
    const level = rmsDbfs(wav.pcm.subarray(1440 * 2));
    assert.ok(level > -25 && level < -8, `tone level ${level.toFixed(1)} dBFS`);
  });

  it('speaks a WAV file in auto mode (v3) and re-sends listen start auto after tts stop', async function () {
    if (!speech) {
      console.log('    skipped: espeak-ng is not installed, no speech to send');
      this.skip();
    }
    const wavPath = join(tmp, 'speech-22k.wav');
    // A 22.05 kHz file exercises the resampling path of speakWav.
    writeFileSync(wavPath, readFileSync(await espeakWavFile(tmp)));
    const srv = await startServer({ autoReplyAfterFrames: 5, replyFrames: 4 });
    sim = new DeviceSimulator({ wsUrl: srv.wsUrl, protocolVersion: 3 });
    await sim.connect();
    const conn = await srv.nextConnection();
    const turn = await sim.speakWav(wavPath, { mode: 'auto', realtime: false, trailingSilenceMs: 600 });
    await sim.waitForTurnEnd(turn, 10000);
    assert.equal(turn.listenMode, 'auto');
    assert.equal(turn.sttText, 'what time is it');
    assert.equal(turn.audioFrames, 4);
    await until(() => conn.texts.filter((m) => m.type === 'listen' && m.state === 'start').length === 2, 'second listen start');
    const starts = conn.texts.filter((m) => m.type === 'listen');
    assert.ok(starts.every((m) => m.state === 'start' && m.mode === 'auto'), 'auto mode never sends listen stop');
    assert.equal(sim.state, 'listening');
    assert.equal(sim.turns.length, 2);
    assert.equal(sim.turns[1]?.trigger, 'listen');
    // v3 framing: 4-byte header, type 0, reserved 0, exact size (checked by the server's parser).
    assert.ok(conn.frames.length > 5);
    assert.ok(conn.frames.every((f) => f.version === 3 && f.type === 0 && f.reserved === 0 && f.decodedSamples === 960));
    // Speech plus trailing silence (10 frames) at most.
    const wav = readWav(readFileSync(wavPath));
    const speechFrames = Math.ceil((wav.pcm.length * 16000) / wav.sampleRateHz / 960);
    assert.ok(conn.frames.length <= speechFrames + 1 + 10, `${conn.frames.length} frames for ${speechFrames} speech frames`);
  });

  it('paces uplink frames in real time with v2 headers and consecutive timestamps', async () => {
    const srv = await startServer();
    sim = new DeviceSimulator({ wsUrl: srv.wsUrl, protocolVersion: 2 });
    await sim.connect();
    const conn = await srv.nextConnection();
    const frames = sim.encodeUplink(new Int16Array(960 * 8));
    sim.listen('realtime');
    const result = await sim.sendFrames(frames, { realtime: true });
    assert.equal(result.sent, 8);
    assert.equal(result.stoppedEarly, false);
    assert.deepEqual(result.timestampsMs, [0, 60, 120, 180, 240, 300, 360, 420]);
    await until(() => conn.frames.length === 8, 'eight frames at the server');
    assert.deepEqual(conn.frames.map((f) => f.timestampMs), result.timestampsMs);
    assert.ok(conn.frames.every((f) => f.headerVersion === 2 && f.type === 0 && f.reserved === 0 && f.decodedSamples === 960));
    // The uplink clock continues across calls instead of restarting at 0.
    const more = await sim.sendFrames(frames.slice(0, 2));
    assert.deepEqual(more.timestampsMs, [480, 540]);
    // Sent log: one entry per frame with its timestamp, in order.
    const audioSent = sim.sent.filter((s) => s.audioBytes !== undefined);
    assert.deepEqual(audioSent.map((s) => s.timestampMs), [...result.timestampsMs, 480, 540]);
    assert.ok(audioSent.every((s, i) => i === 0 || s.atMs >= (audioSent[i - 1]?.atMs ?? 0)));
  });

  it('aborts while speaking: stays speaking until tts stop, then returns to listening', async () => {
    const srv = await startServer({ replyFrames: 50, replyFrameIntervalMs: 20 });
    sim = new DeviceSimulator({ wsUrl: srv.wsUrl });
    await sim.connect();
    const conn = await srv.nextConnection();
    const turn = sim.detect('tell me a story');
    assert.equal(turn.trigger, 'detect');
    await new Promise<void>((resolve) => sim?.once('audio', () => resolve()));
    assert.equal(sim.state, 'speaking');
    const mark = sim.received.length;
    sim.abort();
    assert.equal(sim.state, 'speaking', 'FW stays speaking until tts stop');
    await sim.waitFor('tts:stop', 5000, { sinceIndex: mark });
    assert.ok(turn.completed);
    assert.ok(turn.abortedAtMs !== undefined);
    assert.ok(turn.audioFrames < 50, `abort cut the reply short (${turn.audioFrames} frames)`);
    assert.deepEqual(conn.texts.find((m) => m.type === 'abort'), { session_id: conn.sessionId, type: 'abort' });
    assert.deepEqual(conn.texts.find((m) => m.type === 'listen' && m.state === 'detect'), {
      session_id: conn.sessionId,
      type: 'listen',
      state: 'detect',
      text: 'tell me a story',
    });
    // Default listening mode is auto, so FW goes back to listening with a new listen start.
    assert.equal(sim.state, 'listening');
    await until(() => conn.texts.some((m) => m.type === 'listen' && m.state === 'start' && m.mode === 'auto'), 'listen start auto');
  });

  it('ignores tts stop when not speaking and drops audio without tts start', async () => {
    const srv = await startServer();
    sim = new DeviceSimulator({ wsUrl: srv.wsUrl });
    await sim.connect();
    const conn = await srv.nextConnection();
    const mark = sim.received.length;
    for (const p of srv.replyPackets(2)) conn.ws.send(p);
    conn.send({ type: 'stt', text: 'hi' });
    conn.send({ type: 'tts', state: 'stop' });
    await sim.waitFor('tts:stop', 5000, { sinceIndex: mark });
    assert.equal(sim.state, 'idle');
    const turn = sim.currentTurn;
    assert.equal(turn?.trigger, 'server');
    assert.equal(turn?.droppedAudioFrames, 2);
    assert.equal(turn?.audioFrames, 0);
    assert.equal(conn.texts.filter((m) => m.type === 'listen').length, 0, 'no re-listen from idle');
    // Non-JSON text and JSON without a type are recorded but otherwise ignored.
    conn.ws.send('认证失败');
    conn.send({ hello: 'no type' });
    conn.send({ type: 'alert', status: 'Warning', message: 'Battery low', emotion: 'sad' });
    await sim.waitFor('alert', 5000, { sinceIndex: mark });
    assert.ok(sim.received.some((r) => r.text === '认证失败'));
    assert.ok(sim.received.some((r) => r.text === '{"hello":"no type"}'));
  });

  it('fails with hello_timeout when the server never says hello, or says it for another transport', async () => {
    for (const opts of [{ noHello: true }, { helloTransport: 'udp' }] satisfies FakeServerOptions[]) {
      const srv = await startServer(opts);
      sim = new DeviceSimulator({ wsUrl: srv.wsUrl, helloTimeoutMs: 300 });
      await assert.rejects(sim.connect(), (err: unknown) => err instanceof SimError && err.code === 'hello_timeout');
      assert.equal(sim.state, 'idle');
      assert.equal(sim.connected, false);
      await srv.close();
      server = undefined;
    }
  });

  it('reports unreachable servers with typed errors', async () => {
    const port = await freePort();
    sim = new DeviceSimulator({ wsUrl: `ws://127.0.0.1:${port}/xiaozhi/v1/` });
    await assert.rejects(sim.connect(), (err: unknown) => err instanceof SimError && err.code === 'connect_failed');
    assert.equal(sim.state, 'idle');
    const ota = new DeviceSimulator({ otaUrl: `http://127.0.0.1:${port}/xiaozhi/ota/` });
    await assert.rejects(ota.connect(), (err: unknown) => err instanceof SimError && err.code === 'ota_unreachable');
    await assert.rejects(new DeviceSimulator().connect(), (err: unknown) => err instanceof SimError && err.code === 'no_server_url');
  });
});

/** A TCP port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** espeak-ng's own 22.05 kHz WAV of a short phrase, written by the test (no committed binaries). */
async function espeakWavFile(dir: string): Promise<string> {
  const speech = await synthesizeSpeech('what time is it', { sampleRateHz: 22050 });
  const path = join(dir, 'espeak-22k.wav');
  writeFileSync(path, writeWav(speech.pcm, speech.sampleRateHz));
  return path;
}
