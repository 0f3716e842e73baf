import * as assert from 'node:assert/strict';
import { DeviceGateway } from '../../src/gateway/device-gateway';
import type { Session } from '../../src/gateway/session';
import { LlmStage, type LlmStageOptions, type LlmStageStatus, type StageMessage } from '../../src/pipeline/llm-stage';
import { OpenAiChatLlm } from '../../src/providers/llm/openai-chat';
import { RawClient } from '../helpers/raw-client';
import { FakeOpenAiServer, textChunk, textReply, toolCallReply, type RecordedRequest, type ScriptedReply } from '../providers/llm/fake-openai-server';

/** A device on a real gateway that answers MCP like the firmware, with a volume tool. */
interface FakeDevice {
  client: RawClient;
  session: Session;
  toolCalls: Array<{ name: string; arguments: Record<string, unknown> }>;
}

const VOLUME_TOOL = {
  name: 'self.audio_speaker.set_volume',
  description: 'Set the volume of the audio speaker (0-100).',
  inputSchema: { type: 'object', properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['volume'] },
};
const USER_ONLY_TOOL = {
  name: 'self.reboot',
  description: 'Reboot (user only).',
  inputSchema: { type: 'object', properties: {} },
  annotations: { audience: ['user'] },
};

async function connectDevice(gateway: DeviceGateway, deviceId: string): Promise<FakeDevice> {
  const url = `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`;
  const client = await RawClient.connect(url, { 'Device-Id': deviceId, 'Client-Id': '4a2c6f0e-0000-4000-8000-0000000000aa' });
  const toolCalls: FakeDevice['toolCalls'] = [];
  client.ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(data.toString()) as { type: string; payload?: { id: number; method: string; params?: { name: string; arguments: Record<string, unknown> } } };
    if (m.type !== 'mcp' || !m.payload) return;
    const { id, method, params } = m.payload;
    let result: unknown;
    if (method === 'initialize') result = { protocolVersion: '2024-11-05', capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1' } };
    else if (method === 'tools/list') result = { tools: [VOLUME_TOOL, USER_ONLY_TOOL] };
    else {
      toolCalls.push({ name: params!.name, arguments: params!.arguments });
      result = { content: [{ type: 'text', text: 'true' }], isError: false };
    }
    client.sendJson({ type: 'mcp', payload: { jsonrpc: '2.0', id, result } });
  });
  const sessionReady = new Promise<Session>((resolve) => {
    const onSession = (s: Session) => {
      if (s.deviceId !== deviceId) return;
      gateway.off('session', onSession);
      resolve(s);
    };
    gateway.on('session', onSession);
  });
  client.sendJson({ type: 'hello', version: 1, features: { mcp: true }, transport: 'websocket', audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 } });
  const session = await sessionReady;
  if (session.tools.length === 0) await new Promise((resolve) => session.once('tools', resolve));
  return { client, session, toolCalls };
}

/** A user utterance: the device starts a turn with typed text, the stage gets its `stt`. */
function sttFor(device: FakeDevice, text: string): StageMessage {
  device.client.sendJson({ type: 'listen', state: 'detect', text });
  return { topic: 'stt', payload: text, session: device.session.id, device: { id: device.session.deviceId, clientId: device.session.clientId } };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('pipeline/LlmStage', function () {
  let gateway: DeviceGateway;
  let server: FakeOpenAiServer | undefined;
  const clients: RawClient[] = [];
  const stages: LlmStage[] = [];

  before(async function () {
    gateway = new DeviceGateway({ port: 0, host: '127.0.0.1' });
    await gateway.start();
  });
  after(async function () {
    await gateway.close();
  });
  afterEach(async function () {
    for (const stage of stages.splice(0)) stage.close();
    for (const client of clients.splice(0)) client.close();
    await server?.close();
    server = undefined;
  });

  async function device(deviceId = `aa:bb:cc:00:00:${String(10 + clients.length)}`): Promise<FakeDevice> {
    const d = await connectDevice(gateway, deviceId);
    clients.push(d.client);
    return d;
  }

  /** A stage on a loopback OpenAI server following `script`; collects what it sends. */
  async function online(
    script: (request: RecordedRequest, index: number) => ScriptedReply,
    extra: Partial<LlmStageOptions> = {},
    llmTimeouts: { idleTimeoutMs?: number; timeoutMs?: number; baseUrl?: string } = {},
  ) {
    server = new FakeOpenAiServer(script);
    const baseUrl = llmTimeouts.baseUrl ?? (await server.start());
    const out: StageMessage[] = [];
    const warnings: string[] = [];
    const statuses: LlmStageStatus[] = [];
    const llm = new OpenAiChatLlm({ baseUrl, model: 'test-model', timeoutMs: llmTimeouts.timeoutMs ?? 5000, firstTokenTimeoutMs: 2000, idleTimeoutMs: llmTimeouts.idleTimeoutMs ?? 2000 });
    const stage = new LlmStage({ llm, systemPrompt: 'You are a test.', send: (m) => out.push(m), warn: (w) => warnings.push(w), onStatus: (s) => statuses.push(s), ...extra });
    stages.push(stage);
    return { stage, out, warnings, statuses, server: server! };
  }

  const topics = (msgs: StageMessage[]) => msgs.map((m) => m.topic);

  it('passes stt on first, then emotion, sentences as they stream and reply.end with the full text', async function () {
    const { stage, out, server, statuses } = await online(() => textReply('😊 Hello there, ', 'nice to meet you. How can I ', 'help today?'));
    const d = await device();
    const stt = sttFor(d, 'hi');
    await waitFor(() => d.session.turn === 1, 'turn 1');
    stt.turn = d.session.turn;
    stt.timings = { asrEnd: 1 };
    await stage.handle(stt);
    assert.deepEqual(topics(out), ['stt', 'emotion', 'sentence', 'sentence', 'reply.end']);
    assert.equal(out[0], stt, 'the stt msg itself goes on unchanged');
    assert.equal(out[1]!.payload, 'happy');
    assert.deepEqual(out.slice(2, 4).map((m) => m.payload), ['Hello there, nice to meet you.', 'How can I help today?']);
    assert.equal(out[4]!.payload, 'Hello there, nice to meet you. How can I help today?');
    for (const m of out.slice(1)) {
      assert.equal(m.session, d.session.id);
      assert.equal(m.turn, 1);
      assert.equal((m.device as { id: string }).id, d.session.deviceId);
      assert.equal(m.timings!.asrEnd, 1, 'timings accumulate along the chain');
      assert.equal(typeof m.timings!.llmStart, 'number');
    }
    assert.equal(typeof out[2]!.timings!.llmFirstSentence, 'number');
    assert.ok(out[2]!.timings!.llmFirstSentence! >= out[2]!.timings!.llmStart!);
    const body = server.requests[0]!.body as { messages: Array<{ role: string; content: string }>; tools?: Array<{ function: { name: string } }> };
    assert.deepEqual(body.messages.map((m) => m.role), ['system', 'user']);
    assert.equal(body.messages[0]!.content, 'You are a test.');
    assert.equal(body.messages[1]!.content, 'hi');
    assert.deepEqual(body.tools!.map((t) => t.function.name), ['self_audio_speaker_set_volume'], 'device tools offered, the user-only one not');
    assert.deepEqual(statuses.map((s) => s.running), [1, 0]);

    // The next turn of the same device carries the history.
    const second = sttFor(d, 'and again');
    await waitFor(() => d.session.turn === 2, 'turn 2');
    second.turn = 2;
    await stage.handle(second);
    const body2 = server.requests[1]!.body as { messages: Array<{ role: string; content: string }> };
    assert.deepEqual(body2.messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
    assert.equal(body2.messages[2]!.content, '😊 Hello there, nice to meet you. How can I help today?');
    assert.equal(stage.conversations, 1);
  });

  it('lets the model call a device MCP tool through the real gateway and speaks the answer', async function () {
    const { stage, out, server } = await online((_req, index) =>
      index === 0 ? toolCallReply('call_1', 'self_audio_speaker_set_volume', ['{"vol', 'ume": 30}']) : textReply('The volume is now 30.'),
    );
    const d = await device();
    const stt = sttFor(d, 'set the volume to 30');
    await waitFor(() => d.session.turn === 1, 'turn 1');
    await stage.handle({ ...stt, turn: 1 });
    assert.deepEqual(d.toolCalls, [{ name: 'self.audio_speaker.set_volume', arguments: { volume: 30 } }]);
    const second = server.requests[1]!.body as { messages: Array<{ role: string; content: string; tool_call_id?: string }> };
    const toolMessage = second.messages.find((m) => m.role === 'tool')!;
    assert.equal(toolMessage.tool_call_id, 'call_1');
    assert.equal(toolMessage.content, 'true');
    assert.deepEqual(topics(out), ['stt', 'emotion', 'sentence', 'reply.end']);
    assert.equal(out[2]!.payload, 'The volume is now 30.');
  });

  it('does not offer device tools when useDeviceTools is false', async function () {
    const { stage, server } = await online(() => textReply('Fine.'), { useDeviceTools: false });
    const d = await device();
    const stt = sttFor(d, 'hello');
    await waitFor(() => d.session.turn === 1, 'turn 1');
    await stage.handle({ ...stt, turn: 1 });
    assert.equal((server.requests[0]!.body as { tools?: unknown }).tools, undefined);
  });

  it('speaks a short error when the model stalls, after what was already said', async function () {
    const { stage, out, warnings, statuses } = await online(
      () => ({ kind: 'stream', chunks: [textChunk('Sure thing. Let me think about')], after: 'stall' }),
      {},
      { idleTimeoutMs: 300 },
    );
    const d = await device();
    const stt = sttFor(d, 'tell me a story');
    await waitFor(() => d.session.turn === 1, 'turn 1');
    await stage.handle({ ...stt, turn: 1 });
    assert.deepEqual(topics(out), ['stt', 'emotion', 'sentence', 'say']);
    assert.equal(out[2]!.payload, 'Sure thing.');
    assert.equal(out[3]!.payload, 'Sorry, the language model did not answer in time.');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /stalled/);
    assert.equal(statuses.at(-1)!.lastError, 'timeout');
    assert.equal(statuses.at(-1)!.running, 0);
  });

  it('says in Chinese that the API key was refused (HTTP 401)', async function () {
    const { stage, out } = await online(() => ({ kind: 'json', status: 401, body: { error: { message: 'Incorrect API key provided' } } }));
    await stage.handle({ topic: 'stt', payload: '你好' });
    assert.deepEqual(topics(out), ['stt', 'say']);
    assert.equal(out[1]!.payload, '抱歉，语言模型拒绝了 API 密钥。');
  });

  it('says it cannot reach an endpoint that is down', async function () {
    const probe = new FakeOpenAiServer(() => textReply('x'));
    const deadUrl = await probe.start();
    await probe.close(); // nothing listens on that port any more
    const { stage, out, warnings } = await online(() => textReply('unused'), {}, { baseUrl: deadUrl });
    await stage.handle({ topic: 'stt', payload: 'hello' });
    assert.deepEqual(topics(out), ['stt', 'say']);
    assert.equal(out[1]!.payload, 'Sorry, I cannot reach the language model right now.');
    assert.match(warnings[0]!, /cannot reach/);
  });

  it('emits nothing more after an abort mid-stream, and passes the abort on', async function () {
    const { stage, out, server } = await online(() => ({ kind: 'stream', chunks: [textChunk('First sentence here. And then')], after: 'stall' }));
    const d = await device();
    const stt = sttFor(d, 'go on');
    await waitFor(() => d.session.turn === 1, 'turn 1');
    const running = stage.handle({ ...stt, turn: 1 });
    await waitFor(() => out.some((m) => m.topic === 'sentence'), 'first sentence');
    const abort = { topic: 'abort', payload: 'wake_word_detected', session: d.session.id, turn: 1 };
    await stage.handle(abort);
    await running;
    await server.requests[0]!.closed; // the HTTP stream was cut, not left running
    assert.deepEqual(topics(out), ['stt', 'emotion', 'sentence', 'abort']);
    assert.equal(out[3], abort);
  });

  it('a newer utterance supersedes the run in progress; a stale stt is dropped', async function () {
    const { stage, out } = await online((_req, index) =>
      index === 0 ? { kind: 'stream', chunks: [textChunk('Slow answer')], after: 'stall' } : textReply('Fast answer.'),
    );
    const d = await device();
    const first = sttFor(d, 'first');
    await waitFor(() => d.session.turn === 1, 'turn 1');
    const firstRun = stage.handle({ ...first, turn: 1 });
    const second = sttFor(d, 'second');
    await waitFor(() => d.session.turn === 2, 'turn 2');
    await stage.handle({ ...second, turn: 2 });
    await firstRun;
    assert.deepEqual(topics(out), ['stt', 'stt', 'emotion', 'sentence', 'reply.end']);
    assert.ok(out.slice(2).every((m) => m.turn === 2));
    out.length = 0;
    await stage.handle({ ...first, turn: 1 }); // a late recognition of turn 1
    assert.deepEqual(out, []);
  });

  it('answers offline without an endpoint, setting the volume through the device tool', async function () {
    const out: StageMessage[] = [];
    const stage = new LlmStage({ send: (m) => out.push(m) });
    stages.push(stage);
    assert.equal(stage.online, false);
    const d = await device();
    const stt = sttFor(d, 'set the volume to 40');
    await waitFor(() => d.session.turn === 1, 'turn 1');
    await stage.handle({ ...stt, turn: 1 });
    assert.deepEqual(d.toolCalls, [{ name: 'self.audio_speaker.set_volume', arguments: { volume: 40 } }]);
    assert.deepEqual(out.map((m) => [m.topic, m.payload]), [
      ['stt', 'set the volume to 40'],
      ['emotion', 'cool'],
      ['sentence', 'Volume set to 40.'],
      ['reply.end', 'Volume set to 40.'],
    ]);
  });

  it('splits an offline answer into sentences, ends an empty utterance, passes other msgs through', async function () {
    const out: StageMessage[] = [];
    const stage = new LlmStage({ send: (m) => out.push(m), now: () => new Date('2026-03-05T15:05:00Z'), timeZone: 'UTC' });
    stages.push(stage);
    await stage.handle({ topic: 'stt', payload: 'what can you do' });
    assert.deepEqual(topics(out), ['stt', 'emotion', 'sentence', 'sentence', 'reply.end']);
    out.length = 0;
    await stage.handle({ topic: 'stt', payload: '  ' });
    assert.deepEqual(out.map((m) => [m.topic, m.payload]), [['stt', '  '], ['reply.end', '']]);
    out.length = 0;
    const others: StageMessage[] = [{ topic: 'listen.start', payload: 'start' }, { topic: 'session.end', payload: { code: 1000 } }, { topic: 'tts.stop' }];
    for (const m of others) await stage.handle(m);
    assert.deepEqual(out, others);
    assert.ok(out.every((m, i) => m === others[i]), 'the same objects, unchanged');
  });

  it('keeps history for a bounded number of devices, least recently heard forgotten first', async function () {
    const stage = new LlmStage({ send: () => undefined, maxConversations: 2 });
    stages.push(stage);
    const a = stage.history('a');
    stage.history('b');
    stage.history('a'); // a is now the most recent
    stage.history('c'); // b goes
    assert.equal(stage.conversations, 2);
    assert.equal(stage.history('a'), a, 'a kept');
    const b = stage.history('b');
    assert.equal(b.length, 0, 'b was forgotten and starts empty');
  });
});
