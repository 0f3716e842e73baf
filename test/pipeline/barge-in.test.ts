import assert from 'node:assert/strict';
import { DeviceGateway, type Session } from '../../src/gateway';
import { LlmStage, type StageMessage } from '../../src/pipeline/llm-stage';
import { TtsStage } from '../../src/pipeline/tts-stage';
import { OpenAiChatLlm } from '../../src/providers/llm/openai-chat';
import { EspeakWasmTts } from '../../src/providers/tts/espeak-wasm';
import { DeviceSimulator } from '../../src/sim';
import { FakeOpenAiServer, textReply, type ScriptedReply } from '../providers/llm/fake-openai-server';

import { applyToSession } from '../../src/gateway/apply-msg';

const LONG_REPLY = Array.from({ length: 6 }, (_, i) => `This is sentence number ${i + 1} of a long answer that keeps the speaker busy.`);

/**
 * The barge-in matrix through the real chain (gateway -> LLM stage -> TTS stage -> out) with a
 * firmware-like client: an abort before the first audio, in the middle of the audio, and after
 * play-out. Each must be answered with exactly one `tts stop`, nothing of the old turn may reach
 * the device afterwards, and the next turn must work.
 */
describe('barge-in matrix (gateway + LLM + TTS stages + simulator)', function () {
  this.timeout(60_000);
  let gateway: DeviceGateway;
  let llmServer: FakeOpenAiServer;
  let llm: LlmStage;
  let tts: TtsStage;
  let sim: DeviceSimulator;
  let replies: ScriptedReply[];

  beforeEach(async () => {
    replies = [];
    llmServer = new FakeOpenAiServer(() => replies.shift() ?? textReply('Fine.'));
    const baseUrl = await llmServer.start();
    gateway = new DeviceGateway({ port: 0, host: '127.0.0.1' });
    await gateway.start();
    const out = (msg: StageMessage) => {
      const session = gateway.get(String(msg.session));
      if (session) applyToSession(session, msg);
    };
    tts = new TtsStage({ provider: new EspeakWasmTts(), send: out });
    llm = new LlmStage({
      llm: new OpenAiChatLlm({ baseUrl, model: 'test', firstTokenTimeoutMs: 20_000, idleTimeoutMs: 20_000 }),
      send: (msg) => void tts.handle(msg),
    });
    // The in node's mapping, for the events this test uses.
    gateway.on('session', (session: Session) => {
      const ids = { session: session.id, device: { id: session.deviceId, clientId: session.clientId } };
      session.on('listen', (e: { state: string; text?: string; turn: number }) => {
        if (e.state === 'detect') void llm.handle({ ...ids, topic: 'stt', turn: e.turn, payload: e.text });
      });
      session.on('abort', (e: { turn: number; reason: string }) => {
        const msg = { ...ids, topic: 'abort', turn: e.turn, payload: e.reason };
        void llm.handle(msg).then(() => tts.handle(msg));
      });
    });
    sim = new DeviceSimulator({ wsUrl: `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/` });
    await sim.connect();
  });

  afterEach(async () => {
    await sim.close();
    await llm.close();
    await tts.close();
    await gateway.close();
    await llmServer.close();
  });

  /** Frames and JSON of the old turn that arrived after the abort was sent. */
  function afterAbort(sinceIndex: number): string[] {
    return sim.received.slice(sinceIndex).map((r) => (r.json ? `${String(r.json.type)}:${String(r.json.state ?? '')}` : 'audio'));
  }

  it('abort before the first audio (the model is still thinking): one tts stop, the request is cancelled, nothing follows', async () => {
    replies.push({ kind: 'headers-only' }, textReply('Back again.'));
    const turn = sim.detect('what is the meaning of life');
    await sim.waitFor('stt');
    await new Promise((r) => setTimeout(r, 200));
    const mark = sim.received.length;
    sim.abort();
    await sim.waitFor('tts:stop', 5000, { sinceIndex: mark });
    await llmServer.requests[0]!.closed; // the stalled model request was closed
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(afterAbort(mark), ['tts:stop']);
    assert.equal(turn.audioFrames, 0);
    const next = await sim.waitForTurnEnd(sim.detect('hello'), 20_000);
    assert.deepEqual(next.sentences, ['Back again.']);
    assert.ok(next.audioFrames > 0);
  });

  it('abort in the middle of the audio: tts stop at once, no more frames of the old turn', async () => {
    replies.push(textReply(...LONG_REPLY), textReply('Yes?'));
    const turn = sim.detect('tell me a long story');
    await sim.waitFor((m) => m.type === 'tts' && m.state === 'start', 20_000);
    const deadline = Date.now() + 20_000;
    while (turn.audioFrames < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const mark = sim.received.length;
    sim.abort();
    await sim.waitFor('tts:stop', 5000, { sinceIndex: mark });
    const framesAtStop = turn.audioFrames;
    await new Promise((r) => setTimeout(r, 800));
    const late = afterAbort(mark).filter((x) => x !== 'tts:stop');
    // A frame already in flight on the socket may land; nothing paced after the stop.
    assert.ok(late.length <= 1, `after the abort: ${late.join(',')}`);
    assert.ok(turn.audioFrames - framesAtStop <= 1);
    assert.equal(sim.received.slice(mark).filter((r) => r.json?.type === 'tts' && r.json.state === 'stop').length, 1);
    const next = await sim.waitForTurnEnd(sim.detect('are you there'), 20_000);
    assert.deepEqual(next.sentences, ['Yes?']);
  });

  it('abort after play-out: answered with tts stop, and the session keeps working', async () => {
    replies.push(textReply('Short answer.'), textReply('Still here.'));
    const first = await sim.waitForTurnEnd(sim.detect('quick question'), 20_000);
    assert.deepEqual(first.sentences, ['Short answer.']);
    const mark = sim.received.length;
    sim.abort();
    await sim.waitFor('tts:stop', 5000, { sinceIndex: mark });
    const next = await sim.waitForTurnEnd(sim.detect('again'), 20_000);
    assert.deepEqual(next.sentences, ['Still here.']);
    assert.ok(next.audioFrames > 0);
  });
});
