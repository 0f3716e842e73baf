import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpusFrameDecoder } from '../../src/audio/opus';
import { DeviceGateway } from '../../src/gateway/device-gateway';
import type { Session } from '../../src/gateway/session';
import type { StageMessage } from '../../src/pipeline/llm-stage';
import { TtsStage, TTS_AUDIO_FORMAT, type TtsStageOptions, type TtsStageStatus } from '../../src/pipeline/tts-stage';
import { EspeakWasmTts, shutdownEspeakWasm } from '../../src/providers/tts/espeak-wasm';
import { OpenAiSpeechTts } from '../../src/providers/tts/openai-speech';
import { RawClient } from '../helpers/raw-client';

function espeakInstalled(): boolean {
  try {
    require.resolve('@echogarden/espeak-ng-emscripten/espeak-ng.js');
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const topics = (msgs: StageMessage[]) => msgs.map((m) => m.topic);

describe('pipeline/TtsStage', function () {
  let gateway: DeviceGateway;
  const clients: RawClient[] = [];
  const stages: TtsStage[] = [];

  before(async function () {
    gateway = new DeviceGateway({ port: 0, host: '127.0.0.1' });
    await gateway.start();
  });
  after(async function () {
    await gateway.close();
    await shutdownEspeakWasm();
  });
  afterEach(async function () {
    for (const stage of stages.splice(0)) await stage.close();
    for (const client of clients.splice(0)) client.close();
  });

  /** A connected device whose current turn is 1 (it typed a question). */
  async function device(): Promise<{ client: RawClient; session: Session; base: StageMessage }> {
    const deviceId = `aa:bb:cc:00:01:${String(10 + clients.length)}`;
    const sessionReady = new Promise<Session>((resolve) => {
      const onSession = (s: Session) => {
        if (s.deviceId !== deviceId) return;
        gateway.off('session', onSession);
        resolve(s);
      };
      gateway.on('session', onSession);
    });
    const client = await RawClient.hello(`ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`, { deviceId });
    clients.push(client);
    const session = await sessionReady;
    client.sendJson({ type: 'listen', state: 'detect', text: 'hello' });
    await waitFor(() => session.turn === 1, 'turn 1');
    return { client, session, base: { session: session.id, turn: 1, device: { id: deviceId, clientId: session.clientId } } };
  }

  function stage(options: Omit<TtsStageOptions, 'send'>) {
    const out: StageMessage[] = [];
    const warnings: string[] = [];
    const statuses: TtsStageStatus[] = [];
    const s = new TtsStage({ ...options, send: (m) => out.push(m), warn: (w) => warnings.push(w), onStatus: (st) => statuses.push(st) });
    stages.push(s);
    return { stage: s, out, warnings, statuses };
  }

  /** Every packet of every audio msg decodes to one 60 ms frame at 24 kHz. */
  function assertOpusFrames(msgs: StageMessage[]): number {
    const decoder = new OpusFrameDecoder(24000);
    let packets = 0;
    for (const m of msgs.filter((x) => x.topic === 'audio')) {
      assert.deepEqual(m.audio, TTS_AUDIO_FORMAT);
      assert.ok(Array.isArray(m.payload) && m.payload.length > 0);
      for (const packet of m.payload as Buffer[]) {
        assert.ok(Buffer.isBuffer(packet));
        assert.equal(decoder.decode(packet).length, 1440);
        packets++;
      }
    }
    return packets;
  }

  describe('with espeak-ng (wasm)', function () {
    before(function () {
      if (!espeakInstalled()) {
        console.log('      skipped: optional package @echogarden/espeak-ng-emscripten is not installed');
        this.skip();
      }
    });

    it('two sentences + reply.end -> tts.sentence, audio, tts.sentence, audio, tts.stop', async function () {
      const tts = new EspeakWasmTts({ voice: 'en-us' });
      const { stage: s, out, statuses } = stage({ provider: tts });
      const { base } = await device();
      const timings = { llmStart: 1, llmFirstSentence: 2 };
      await s.handle({ ...base, topic: 'sentence', payload: 'Hello there, nice to meet you.', timings });
      await s.handle({ ...base, topic: 'sentence', payload: 'The weather is **fine** today.', timings });
      await s.handle({ ...base, topic: 'reply.end', payload: 'Hello there, nice to meet you. The weather is fine today.', timings });
      assert.deepEqual(topics(out), ['tts.sentence', 'audio', 'tts.sentence', 'audio', 'tts.stop']);
      assert.equal(out[0]!.payload, 'Hello there, nice to meet you.');
      assert.equal(out[2]!.payload, 'The weather is fine today.', 'markdown cleaned from the subtitle');
      for (const m of out) {
        assert.equal(m.session, base.session);
        assert.equal(m.turn, 1);
        assert.equal(m.timings!.llmStart, 1);
      }
      assert.equal(out[0]!.timings!.ttsFirstAudio, undefined);
      assert.equal(typeof out[1]!.timings!.ttsFirstAudio, 'number');
      assert.equal(out[3]!.timings!.ttsFirstAudio, out[1]!.timings!.ttsFirstAudio, 'set once, on the first audio');

      // The packets are exactly the two sentences' audio, continuous, resampled to 24 kHz.
      const packets = assertOpusFrames(out);
      const a = await tts.synthesize('Hello there, nice to meet you.');
      const b = await tts.synthesize('The weather is fine today.');
      const expectedFrames = ((a.pcm.length + b.pcm.length) * 24000) / a.sampleRateHz / 1440;
      assert.ok(Math.abs(packets - expectedFrames) <= 1.5, `${packets} packets for ${expectedFrames.toFixed(2)} frames of audio`);
      assert.deepEqual(statuses.map((st) => st.speaking), [1, 0]);
    });

    it('say: speaks a whole text as a reply and ends the turn', async function () {
      const { stage: s, out } = stage({ provider: new EspeakWasmTts() });
      const { base } = await device();
      await s.handle({ ...base, topic: 'say', payload: 'Sorry, the language model did not answer in time. Please try again.' });
      assert.deepEqual(topics(out), ['tts.sentence', 'audio', 'tts.sentence', 'audio', 'tts.stop']);
      assert.deepEqual([out[0]!.payload, out[2]!.payload], ['Sorry, the language model did not answer in time.', 'Please try again.']);
      assertOpusFrames(out);
    });

    it('say after sentences of the same turn (an LLM error) ends that reply', async function () {
      const { stage: s, out } = stage({ provider: new EspeakWasmTts() });
      const { base } = await device();
      await s.handle({ ...base, topic: 'sentence', payload: 'Sure thing.' });
      await s.handle({ ...base, topic: 'say', payload: 'Sorry, something went wrong with the language model.' });
      assert.deepEqual(topics(out), ['tts.sentence', 'audio', 'tts.sentence', 'audio', 'tts.stop']);
    });

    it('abort mid-way: nothing more of that turn is emitted, the abort is passed on', async function () {
      const { stage: s, out } = stage({ provider: new EspeakWasmTts() });
      const { client, session, base } = await device();
      await s.handle({ ...base, topic: 'sentence', payload: 'This is the first sentence of a long answer.' });
      await s.handle({ ...base, topic: 'sentence', payload: 'This is the second sentence, which nobody will hear.' });
      await waitFor(() => out.some((m) => m.topic === 'audio'), 'first audio');
      // The device aborts: the gateway stops speech and moves the session to a new turn.
      client.sendJson({ type: 'abort', reason: 'wake_word_detected' });
      await waitFor(() => session.turn === 2, 'turn 2');
      const abort = { ...base, turn: 2, topic: 'abort', payload: 'wake_word_detected' };
      await s.handle(abort);
      // Late msgs of the aborted turn arrive from the LLM stage.
      await s.handle({ ...base, topic: 'sentence', payload: 'A third sentence.' });
      await s.handle({ ...base, topic: 'reply.end', payload: '...' });
      await s.close();
      const afterAbort = out.slice(out.indexOf(abort));
      assert.deepEqual(topics(afterAbort), ['abort']);
      assert.ok(!out.some((m) => m.topic === 'tts.stop'), 'the gateway already sent tts stop');
      assert.ok(out.filter((m) => m.topic === 'tts.sentence').length <= 2);
    });

    it('a newer turn aborts the older one and is spoken in full', async function () {
      const { stage: s, out } = stage({ provider: new EspeakWasmTts() });
      const { client, session, base } = await device();
      await s.handle({ ...base, topic: 'sentence', payload: 'An answer to the old question.' });
      client.sendJson({ type: 'listen', state: 'detect', text: 'something else' });
      await waitFor(() => session.turn === 2, 'turn 2');
      await s.handle({ ...base, turn: 2, topic: 'say', payload: 'The new answer.' });
      await s.handle({ ...base, topic: 'reply.end', payload: 'stale' });
      const newTurn = out.filter((m) => m.turn === 2);
      assert.deepEqual(topics(newTurn), ['tts.sentence', 'audio', 'tts.stop']);
      assert.ok(!out.some((m) => m.turn === 1 && m.topic === 'tts.stop'), 'the old turn does not end a second time');
    });

    it('ends a reply whose upstream went quiet (no reply.end) after inputIdleTimeoutMs', async function () {
      const { stage: s, out, warnings } = stage({ provider: new EspeakWasmTts(), inputIdleTimeoutMs: 300 });
      const { base } = await device();
      await s.handle({ ...base, topic: 'sentence', payload: 'Only one sentence.' });
      await waitFor(() => out.some((m) => m.topic === 'tts.stop'), 'tts.stop');
      // The end came after the sentence was out, so the encoder's last partial frame follows alone.
      assert.deepEqual(topics(out), ['tts.sentence', 'audio', 'audio', 'tts.stop']);
      assert.ok((out[2]!.payload as Buffer[]).length <= 2, 'a partial frame and the resampler tail');
      assertOpusFrames(out);
      assert.match(warnings[0]!, /no sentence and no reply.end/);
    });
  });

  it('a failing provider (speech API answering 500): subtitles, no audio, then tts.stop', async function () {
    let requests = 0;
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'synthesis backend down' } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
      const { stage: s, out, warnings, statuses } = stage({ provider: new OpenAiSpeechTts({ baseUrl, apiKey: 'k' }) });
      const { base } = await device();
      await s.handle({ ...base, topic: 'sentence', payload: 'First sentence.' });
      await s.handle({ ...base, topic: 'sentence', payload: 'Second sentence.' });
      await s.handle({ ...base, topic: 'reply.end', payload: 'First sentence. Second sentence.' });
      assert.deepEqual(out.map((m) => [m.topic, m.payload]), [
        ['tts.sentence', 'First sentence.'],
        ['tts.sentence', 'Second sentence.'],
        ['tts.stop', undefined],
      ]);
      assert.equal(requests, 2);
      assert.equal(warnings.length, 2);
      assert.match(warnings[0]!, /First sentence.*500/);
      assert.equal(statuses.at(-1)!.lastError, 'unavailable');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('without a provider: subtitles only, and every reply still ends with tts.stop', async function () {
    const { stage: s, out } = stage({});
    await s.handle({ topic: 'sentence', payload: 'Hello.' });
    await s.handle({ topic: 'sentence', payload: '🙂' }); // nothing to show or say
    await s.handle({ topic: 'reply.end', payload: 'Hello.' });
    assert.deepEqual(out.map((m) => [m.topic, m.payload]), [['tts.sentence', 'Hello.'], ['tts.stop', undefined]]);
  });

  it('reply.end of an empty reply ends the turn; other msgs pass through unchanged; stale msgs are dropped', async function () {
    const { stage: s, out } = stage({});
    const { base } = await device();
    const passing: StageMessage[] = [
      { ...base, topic: 'stt', payload: 'hello' },
      { ...base, topic: 'emotion', payload: 'happy' },
      { ...base, topic: 'session.end', payload: { code: 1000 } },
    ];
    await s.handle(passing[0]!);
    await s.handle(passing[1]!);
    await s.handle({ ...base, topic: 'reply.end', payload: '' });
    await s.handle({ ...base, turn: 0, topic: 'say', payload: 'stale' });
    await s.handle({ ...base, session: 'no-such-session', topic: 'sentence', payload: 'gone' });
    await s.handle(passing[2]!);
    assert.deepEqual(topics(out), ['stt', 'emotion', 'tts.stop', 'session.end']);
    assert.equal(out[0], passing[0]);
    assert.equal(out[1], passing[1]);
    assert.equal(out[3], passing[2]);
  });
});
