import assert from 'node:assert/strict';
import { WebRtcVadModel } from '../../../src/providers/vad/webrtc-model';
import { concat, energyBounds, haveSpeechTools, noise, segment, silence, speak, summarize } from './fixtures';

describe('providers/vad WebRtcVadModel', function () {
  let model: WebRtcVadModel;

  before(async function () {
    model = await WebRtcVadModel.load();
  });

  after(async function () {
    await model?.close();
  });

  it('validates its options', async function () {
    await assert.rejects(WebRtcVadModel.load({ aggressiveness: 7 as 3 }), { code: 'failed' });
    await assert.rejects(WebRtcVadModel.load({ frameMs: 25 as 30 }), { code: 'failed' });
  });

  it('detects the same utterance as the energy ground truth, roughly', async function () {
    if (!haveSpeechTools()) {
      console.log('    skipped: espeak-ng or sox missing');
      this.skip();
    }
    const pcm = concat(silence(1000), speak('turn on the kitchen light please'), silence(1500));
    const truth = energyBounds(pcm)!;
    const events = await segment(model, pcm, 960);
    const ends = events.filter((e) => e.type === 'speech_end');
    assert.equal(ends.length, 1, summarize(events).join(', '));
    const end = ends[0]!;
    assert.ok(end.type === 'speech_end');
    assert.ok(Math.abs(end.startMs - truth.startMs) <= 250, `start ${end.startMs} vs ${truth.startMs}`);
    assert.ok(Math.abs(end.atMs - truth.endMs) <= 250, `end ${end.atMs} vs ${truth.endMs}`);
  });

  it('says 0 for digital silence and carries partial frames across windows', async function () {
    for (const frameMs of [10, 20, 30] as const) {
      const m = await WebRtcVadModel.load({ frameMs });
      const stream = m.createStream();
      for (let k = 0; k < 40; k++) assert.equal(await stream.process(new Int16Array(512)), 0);
      // 40 windows = 20,480 samples: every whole frame was run, none lost to window edges.
      assert.deepEqual(m.stats(), { windows: 40, frames: Math.floor(20480 / (16 * frameMs)) });
      stream.reset();
      await stream.process(new Int16Array(512));
      // reset() drops the carried remainder.
      assert.equal(m.stats().frames, Math.floor(20480 / (16 * frameMs)) + Math.floor(512 / (16 * frameMs)));
      stream.close();
      await m.close();
    }
  });

  it('returns fractions of voiced frames in 0..1 and resets', async function () {
    if (!haveSpeechTools()) {
      console.log('    skipped: espeak-ng or sox missing');
      this.skip();
    }
    const pcm = concat(silence(300), speak('hello world'), noise(300, 5));
    const stream = model.createStream();
    const run = async (): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i + 512 <= pcm.length; i += 512) out.push(await stream.process(pcm.subarray(i, i + 512)));
      return out;
    };
    const first = await run();
    stream.reset();
    const second = await run();
    stream.close();
    assert.deepEqual(second, first);
    assert.ok(first.every((p) => p >= 0 && p <= 1));
    assert.ok(first.some((p) => p === 1) && first.some((p) => p === 0));
    await assert.rejects(stream.process(new Int16Array(512)), { code: 'failed' });
  });

  it('rejects windows of the wrong size', async function () {
    const stream = model.createStream();
    await assert.rejects(stream.process(new Int16Array(100)), { code: 'failed' });
    stream.close();
  });
});
