// VadStage with the real Silero model (the process-wide shared one) on espeak-ng speech fed as
// 60 ms frames, with real gateway sessions (so turns, barge-in and the registry are the real ones).
import assert from 'node:assert/strict';
import { int16ToBuffer } from '../../src/audio/pcm';
import { DeviceGateway, type Session } from '../../src/gateway';
import { VadStage, type PipelineMsg, type VadStageOptions } from '../../src/pipeline/vad-stage';
import { acquireSharedSileroModel, sharedSileroLeaseCount, type SharedSileroLease } from '../../src/providers/vad/shared-model';
import { SileroVadModel } from '../../src/providers/vad/silero-model';
import { WebRtcVadModel } from '../../src/providers/vad/webrtc-model';
import type { VadModel } from '../../src/providers/types';
import { RawClient } from '../helpers/raw-client';
import { concat, energyBounds, haveSpeechTools, silence, speak } from '../providers/vad/fixtures';

const FRAME_SAMPLES = 960; // 60 ms at 16 kHz, as the gateway decodes them

interface Out {
  output: 0 | 1;
  msg: PipelineMsg;
}

function frames(pcm: Int16Array): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < pcm.length; i += FRAME_SAMPLES) out.push(Buffer.from(int16ToBuffer(pcm.subarray(i, i + FRAME_SAMPLES))));
  return out;
}

describe('VadStage (Silero on espeak-ng speech, real sessions)', function () {
  let gateway: DeviceGateway;
  let url: string;
  let lease: SharedSileroLease;
  let model: SileroVadModel;
  const clients: RawClient[] = [];
  const stages: VadStage[] = [];

  before(async function () {
    if (!haveSpeechTools()) {
      console.log('      skipped: espeak-ng and sox are needed (Debian packages espeak-ng, sox)');
      this.skip();
    }
    lease = acquireSharedSileroModel();
    try {
      model = await lease.model;
    } catch (error) {
      console.log(`      skipped: Silero VAD model cannot load: ${(error as Error).message}`);
      this.skip();
    }
    gateway = new DeviceGateway({ port: 0, host: '127.0.0.1' });
    await gateway.start();
    url = `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`;
  });

  after(async () => {
    lease?.release();
    await gateway?.close();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of stages.splice(0)) await s.close();
  });

  async function connect(deviceId = 'aa:bb:cc:dd:ee:10'): Promise<{ session: Session; client: RawClient }> {
    const sessionPromise = new Promise<Session>((resolve) => gateway.once('session', resolve));
    const client = await RawClient.hello(url, { deviceId });
    clients.push(client);
    const session = await sessionPromise;
    return { session, client };
  }

  function makeStage(options: VadStageOptions = {}, modelPromise: Promise<VadModel> = Promise.resolve(model)): { stage: VadStage; out: Out[]; warnings: string[] } {
    const out: Out[] = [];
    const warnings: string[] = [];
    const stage = new VadStage(modelPromise, { send: (output, msg) => out.push({ output, msg }), warn: (m) => warnings.push(m) }, options);
    stages.push(stage);
    return { stage, out, warnings };
  }

  function base(session: Session): PipelineMsg {
    return { session: session.id, turn: session.turn, device: { id: session.deviceId, clientId: session.clientId } };
  }

  async function feed(stage: VadStage, session: Session, pcm: Int16Array, mode = 'auto'): Promise<void> {
    for (const payload of frames(pcm)) {
      await stage.handle({
        ...base(session),
        topic: 'audio',
        mode,
        payload,
        audio: { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1, frameMs: 60 },
      });
    }
  }

  const topics = (out: Out[]) => out.map((o) => `${o.output}:${o.msg.topic}`);

  it('auto mode: one spoken sentence gives one speech.start and one utterance of plausible length', async () => {
    const { session } = await connect();
    const { stage, out } = makeStage();
    const speech = speak('what time is it');
    const bounds = energyBounds(speech)!;
    const speechMs = bounds.endMs - bounds.startMs;
    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'auto', payload: 'start' });
    await feed(stage, session, concat(silence(600), speech, silence(1200)));
    assert.deepEqual(topics(out), ['1:speech.start', '0:utterance'], 'audio is never passed on');
    const u = out[1]!.msg;
    assert.equal(u.session, session.id);
    assert.equal(u.turn, session.turn);
    assert.deepEqual(u.device, { id: session.deviceId, clientId: session.clientId });
    assert.deepEqual(u.audio, { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1 });
    assert.ok(Buffer.isBuffer(u.payload));
    assert.equal((u.payload as Buffer).length, Math.round(((u.durationMs as number) * 16000) / 1000) * 2);
    // Pre-roll (<= 600 ms) + speech + tail (<= 200 ms), give or take a window of onset error.
    const durationMs = u.durationMs as number;
    assert.ok(durationMs >= speechMs - 100 && durationMs <= speechMs + 900, `utterance ${durationMs} ms for ${speechMs} ms of speech`);
    assert.equal(typeof (u.timings as Record<string, number>).speechEnd, 'number');
    assert.equal(out[0]!.msg.session, session.id);
    assert.deepEqual(stage.stats(), { model: 'ready', sessions: 1, listening: 1, speaking: 0, utterances: 1 });
  });

  it('manual mode: buffers until listen.stop, then emits everything; an empty listen.stop ends the turn with tts.stop', async () => {
    const { session } = await connect();
    const { stage, out } = makeStage();
    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'manual', payload: 'start' });
    const audio = concat(silence(300), speak('tell me a joke'), silence(900));
    await feed(stage, session, audio, 'manual');
    assert.equal(out.length, 0, 'no VAD decision in manual mode');
    assert.equal(stage.stats().speaking, 1);
    await stage.handle({ ...base(session), topic: 'listen.stop', payload: 'stop' });
    assert.deepEqual(topics(out), ['0:utterance']);
    assert.equal((out[0]!.msg.payload as Buffer).length, audio.length * 2, 'every sample between start and stop');
    assert.equal(out[0]!.msg.durationMs, Math.round((audio.length * 1000) / 16000));

    // A very short press is still an utterance (no minimum in manual mode).
    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'manual', payload: 'start' });
    await feed(stage, session, silence(120), 'manual');
    await stage.handle({ ...base(session), topic: 'listen.stop', payload: 'stop' });
    assert.equal(out[1]!.msg.topic, 'utterance');
    assert.equal(out[1]!.msg.durationMs, 120);

    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'manual', payload: 'start' });
    await stage.handle({ ...base(session), topic: 'listen.stop', payload: 'stop' });
    assert.deepEqual(topics(out).slice(2), ['0:tts.stop']);
    assert.equal(out[2]!.msg.session, session.id);
  });

  it('listen.detect becomes stt with the text (empty text ends the turn)', async () => {
    const { session } = await connect();
    const { stage, out } = makeStage();
    await stage.handle({ ...base(session), topic: 'listen.detect', payload: ' what can you do ' });
    await stage.handle({ ...base(session), topic: 'listen.detect', payload: '' });
    assert.deepEqual(topics(out), ['0:stt', '0:tts.stop']);
    assert.equal(out[0]!.msg.payload, 'what can you do');
    assert.equal(out[0]!.msg.turn, session.turn);
  });

  it('abort resets the segmenter mid-utterance and is passed on; later speech is segmented afresh', async () => {
    const { session } = await connect();
    const { stage, out } = makeStage();
    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'auto', payload: 'start' });
    const speech = speak('what is the date');
    await feed(stage, session, concat(silence(300), speech.subarray(0, Math.floor(speech.length * 0.6))));
    assert.deepEqual(topics(out), ['1:speech.start']);
    assert.equal(stage.stats().speaking, 1);
    await stage.handle({ ...base(session), topic: 'abort', payload: 'wake_word_detected' });
    assert.equal(stage.stats().speaking, 0);
    await feed(stage, session, silence(1200));
    assert.deepEqual(topics(out), ['1:speech.start', '0:abort'], 'the cut-off speech gives no utterance');
    assert.equal(out[1]!.msg.payload, 'wake_word_detected');
    await feed(stage, session, concat(speech, silence(1200)));
    assert.deepEqual(topics(out).slice(2), ['1:speech.start', '0:utterance']);
  });

  it('passes unknown topics and msgs without a session through unchanged; frees a session on session.end', async () => {
    const { session } = await connect();
    const { stage, out } = makeStage();
    const custom = { ...base(session), topic: 'mcp.tools', payload: [{ name: 'x' }], extra: 1 };
    await stage.handle(custom);
    await stage.handle({ topic: 'anything', payload: 42 });
    await stage.handle({ topic: 'audio', payload: Buffer.alloc(1920) });
    assert.equal(out[0]!.msg, custom, 'the same msg object');
    assert.deepEqual(topics(out), ['0:mcp.tools', '0:anything']);
    assert.equal(stage.stats().sessions, 1);
    await stage.handle({ ...base(session), topic: 'session.end', payload: { code: 1000, reason: 'bye' } });
    assert.equal(stage.stats().sessions, 0);
    assert.deepEqual(topics(out).slice(2), ['0:session.end']);
  });

  it('warns once (not per frame) about audio that is not 16 kHz PCM', async () => {
    const { session } = await connect();
    const { stage, out, warnings } = makeStage();
    for (let i = 0; i < 5; i++) {
      await stage.handle({ ...base(session), topic: 'audio', payload: Buffer.alloc(40), audio: { encoding: 'opus', sampleRateHz: 16000 } });
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /16 kHz/);
    assert.equal(out.length, 0);
  });

  it('holds frames that arrive while the model loads and segments them once it is ready', async () => {
    const { session } = await connect();
    let resolveModel!: (m: VadModel) => void;
    const { stage, out } = makeStage({}, new Promise<VadModel>((resolve) => (resolveModel = resolve)));
    assert.equal(stage.stats().model, 'loading');
    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'auto', payload: 'start' });
    // 2.3 s of audio fits the 3 s hold.
    await feed(stage, session, concat(silence(200), speak('hello'), silence(1200)));
    assert.equal(out.length, 0);
    resolveModel(model);
    const deadline = Date.now() + 5000;
    while (out.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(topics(out), ['1:speech.start', '0:utterance']);
    assert.equal(stage.stats().model, 'ready');
  });

  it('a model that fails to load turns the stage red and utterances still end on listen.stop', async () => {
    const { session } = await connect();
    const failing = SileroVadModel.load({ modelPath: '/nonexistent/silero_vad.onnx' });
    const { stage, out, warnings } = makeStage({}, failing);
    await failing.catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    const stats = stage.stats();
    assert.equal(stats.model, 'failed');
    assert.match(stats.modelError ?? '', /not found/);
    assert.match(warnings[0] ?? '', /failed to load/);
    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'auto', payload: 'start' });
    await feed(stage, session, silence(600));
    assert.equal(out.length, 0);
    await stage.handle({ ...base(session), topic: 'listen.stop', payload: 'stop' });
    assert.deepEqual(topics(out), ['0:utterance']);
    assert.equal(out[0]!.msg.durationMs, 600);
  });

  it('realtime barge-in: speech while the device speaks aborts its speech (tts stop, new turn)', async () => {
    const { session, client } = await connect();
    const { stage, out } = makeStage();
    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'realtime', payload: 'start' });
    assert.ok(session.startSpeaking(session.turn));
    assert.equal(session.speaking, true);
    const turnBefore = session.turn;
    await feed(stage, session, concat(silence(300), speak('stop'), silence(200)), 'realtime');
    const start = out.find((o) => o.msg.topic === 'speech.start');
    assert.ok(start, 'speech.start emitted');
    assert.equal(start.msg.bargeIn, true);
    assert.equal(session.turn, turnBefore + 1, 'a new turn began');
    assert.equal(session.speaking, false);
    await client.waitJson((m) => m.type === 'tts' && m.state === 'stop');
  });

  it('no barge-in in auto mode or when switched off', async () => {
    const { session } = await connect();
    const { stage, out } = makeStage({ bargeIn: false });
    await stage.handle({ ...base(session), topic: 'listen.start', mode: 'realtime', payload: 'start' });
    session.startSpeaking(session.turn);
    const turnBefore = session.turn;
    await feed(stage, session, concat(silence(300), speak('stop'), silence(200)), 'realtime');
    assert.equal(out.find((o) => o.msg.topic === 'speech.start')?.msg.bargeIn, false);
    assert.equal(session.turn, turnBefore);
    assert.equal(session.speaking, true);
  });

  it('frees state of sessions that left the registry (sweep)', async () => {
    const { stage } = makeStage({ sweepIntervalMs: 50 });
    await stage.handle({ session: 'gone-session', turn: 1, topic: 'listen.start', mode: 'auto' });
    assert.equal(stage.stats().sessions, 1);
    const deadline = Date.now() + 3000;
    while (stage.stats().sessions > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.equal(stage.stats().sessions, 0);
  });

  it('windows of two sessions go through shared batched inferences', async () => {
    const a = await connect('aa:bb:cc:dd:ee:21');
    const b = await connect('aa:bb:cc:dd:ee:22');
    const { stage, out } = makeStage();
    for (const s of [a.session, b.session]) await stage.handle({ ...base(s), topic: 'listen.start', mode: 'auto' });
    const before = model.stats();
    const pcm = concat(silence(200), speak('goodbye'), silence(1200));
    const pcmFrames = frames(pcm);
    for (const payload of pcmFrames) {
      // Both sessions' frames in the same loop turn, as when two devices' packets arrive together.
      await Promise.all(
        [a.session, b.session].map((s) => stage.handle({ ...base(s), topic: 'audio', mode: 'auto', payload, audio: { encoding: 'pcm_s16le', sampleRateHz: 16000 } })),
      );
    }
    const after = model.stats();
    const windows = after.windows - before.windows;
    const inferences = after.inferences - before.inferences;
    assert.equal(windows, 2 * Math.floor(pcm.length / 512));
    assert.ok(inferences <= windows / 2, `${inferences} inferences for ${windows} windows`);
    assert.deepEqual(out.filter((o) => o.msg.topic === 'utterance').map((o) => o.msg.session).sort(), [a.session.id, b.session.id].sort());
  });

  it('the WebRTC engine segments the same way (one utterance for one sentence)', async () => {
    const { session } = await connect();
    const webrtc = await WebRtcVadModel.load();
    try {
      const { stage, out } = makeStage({}, Promise.resolve(webrtc));
      await stage.handle({ ...base(session), topic: 'listen.start', mode: 'auto', payload: 'start' });
      await feed(stage, session, concat(silence(600), speak('who are you'), silence(1200)));
      assert.deepEqual(topics(out), ['1:speech.start', '0:utterance']);
      await stage.close();
    } finally {
      await webrtc.close();
    }
  });

  it('shared model: leases are counted and the model is reused', () => {
    const count = sharedSileroLeaseCount();
    const second = acquireSharedSileroModel();
    assert.equal(sharedSileroLeaseCount(), count + 1);
    assert.equal(second.model, lease.model, 'the same load is shared');
    second.release();
    second.release();
    assert.equal(sharedSileroLeaseCount(), count);
  });
});
