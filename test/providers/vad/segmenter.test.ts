import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { VadModelStream } from '../../../src/providers/types';
import { SpeechSegmenter, type SegmenterEvent, type SpeechEndEvent } from '../../../src/providers/vad/segmenter';
import { SileroVadModel, defaultSileroModelPath } from '../../../src/providers/vad/silero-model';
import {
  concat,
  energyBounds,
  energyBoundsAboveFloor,
  haveSpeechTools,
  noise,
  readAudio16k,
  segment,
  silence,
  speak,
  summarize,
} from './fixtures';

/**
 * A model stream whose probability for the k-th window comes from a script: it lets the state
 * machine be checked window by window (the Silero tests below check it on real audio).
 */
class ScriptedStream implements VadModelStream {
  windowsSeen = 0;
  resets = 0;
  closed = false;
  constructor(private readonly script: (windowIndex: number) => number) {}
  process(window: Int16Array): Promise<number> {
    assert.equal(window.length, 512);
    return Promise.resolve(this.script(this.windowsSeen++));
  }
  reset(): void {
    this.windowsSeen = 0;
    this.resets++;
  }
  close(): void {
    this.closed = true;
  }
}

/** PCM whose sample i is i mod 30000, so audio slices can be checked by position. */
function ramp(from: number, length: number): Int16Array {
  return Int16Array.from({ length }, (_, i) => (from + i) % 30000);
}

async function feed(segmenter: SpeechSegmenter, pcm: Int16Array, chunkSamples: number): Promise<SegmenterEvent[]> {
  const events: SegmenterEvent[] = [];
  for (let i = 0; i < pcm.length; i += chunkSamples) events.push(...(await segmenter.push(pcm.subarray(i, i + chunkSamples))));
  return events;
}

function ends(events: SegmenterEvent[]): SpeechEndEvent[] {
  return events.filter((e): e is SpeechEndEvent => e.type === 'speech_end');
}

describe('providers/vad SpeechSegmenter (scripted probabilities)', function () {
  it('applies hysteresis: the grey zone keeps the previous decision', async function () {
    // Windows 0-4 voiced (0.6 then grey 0.4 keeps voice), then silence; grey after silence stays silence.
    const script = (k: number): number => (k === 0 ? 0.6 : k < 5 ? 0.4 : k < 40 ? 0.2 : 0.4);
    const segmenter = new SpeechSegmenter(new ScriptedStream(script), 512, { minSpeechMs: 0, silenceMs: 320 });
    const events = await feed(segmenter, ramp(0, 512 * 80), 960);
    assert.deepEqual(summarize(events), ['start 0', 'end 0-160 (silence, 5760 samples)']);
    const end = ends(events)[0]!;
    assert.equal(end.durationMs, 160);
    assert.equal(end.detectedAtMs, 480); // first window end >= 160 ms + 320 ms
  });

  it('needs votesNeeded voiced windows among the last windowsVoted', async function () {
    const alternating = (k: number): number => (k % 3 === 0 ? 0.9 : 0.1); // at most 2 of any 5
    const segmenter = new SpeechSegmenter(new ScriptedStream(alternating), 512, { minSpeechMs: 0 });
    assert.deepEqual(await feed(segmenter, ramp(0, 512 * 60), 512), []);
    const loose = new SpeechSegmenter(new ScriptedStream(alternating), 512, { minSpeechMs: 0, votesNeeded: 2 });
    const events = await feed(loose, ramp(0, 512 * 60), 512);
    assert.equal(events[0]?.type, 'speech_start');
  });

  it('puts preRollMs before the onset and postRollMs after the last voice into the audio', async function () {
    const voiced = (k: number): number => (k >= 40 && k < 60 ? 0.9 : 0.05);
    const segmenter = new SpeechSegmenter(new ScriptedStream(voiced), 512);
    const events = await feed(segmenter, ramp(0, 512 * 100), 960);
    assert.deepEqual(summarize(events), ['start 1280', 'end 1280-1920 (silence, 23040 samples)']);
    const start = events[0]!;
    assert.ok(start.type === 'speech_start');
    assert.equal(start.detectedAtMs, 1376); // third voiced window
    const end = ends(events)[0]!;
    assert.equal(end.durationMs, 640);
    assert.equal(end.reason, 'silence');
    assert.equal(end.detectedAtMs, 2432); // first window end >= 1920 + 500 ms
    // 600 ms before the onset (20480 - 9600) to 200 ms after the last voiced window (30720 + 3200).
    assert.deepEqual(end.audio, ramp(10880, 33920 - 10880));
  });

  it('limits the pre-roll to the audio that exists', async function () {
    const voiced = (k: number): number => (k >= 3 && k < 30 ? 0.9 : 0.05);
    const segmenter = new SpeechSegmenter(new ScriptedStream(voiced), 512);
    const end = ends(await feed(segmenter, ramp(0, 512 * 70), 4096))[0]!;
    assert.equal(end.startMs, 96);
    assert.deepEqual(end.audio.subarray(0, 10), ramp(0, 10));
  });

  it('discards speech shorter than minSpeechMs', async function () {
    const blip = (k: number): number => (k >= 20 && k < 25 ? 0.9 : 0.05); // 160 ms
    const segmenter = new SpeechSegmenter(new ScriptedStream(blip), 512, { minSpeechMs: 250 });
    const events = await feed(segmenter, ramp(0, 512 * 60), 960);
    assert.deepEqual(summarize(events), ['start 640', 'discarded too_short 160']);
  });

  it('ends an utterance by force at maxUtteranceMs and starts a new one if speech goes on', async function () {
    const segmenter = new SpeechSegmenter(new ScriptedStream(() => 0.9), 512, { maxUtteranceMs: 1000 });
    const events = await feed(segmenter, ramp(0, 512 * 40), 960);
    assert.deepEqual(summarize(events).slice(0, 3), ['start 0', 'end 0-1024 (max_length, 16384 samples)', 'start 1024']);
  });

  it('flush() ends the utterance in progress with the samples not yet in a window', async function () {
    const segmenter = new SpeechSegmenter(new ScriptedStream((k) => (k >= 5 ? 0.9 : 0.1)), 512, { preRollMs: 0 });
    const events = await feed(segmenter, ramp(0, 512 * 20 + 100), 960);
    assert.deepEqual(summarize(events), ['start 160']);
    assert.equal(segmenter.inSpeech, true);
    const flushed = await segmenter.flush();
    assert.equal(flushed.length, 1);
    const end = ends(flushed)[0]!;
    assert.equal(end.reason, 'flush');
    assert.deepEqual(end.audio, ramp(2560, 512 * 20 + 100 - 2560));
    assert.equal(segmenter.inSpeech, false);
    assert.deepEqual(await segmenter.flush(), []);
  });

  it('gives identical events for any chunking', async function () {
    const script = (k: number): number => [0.1, 0.9, 0.45, 0.2, 0.35][Math.floor(k / 17) % 5]!;
    const pcm = ramp(0, 512 * 300 + 77);
    const reference = await feed(new SpeechSegmenter(new ScriptedStream(script), 512, { silenceMs: 300 }), pcm, 512);
    assert.ok(ends(reference).length >= 2, summarize(reference).join(', '));
    for (const chunk of [1, 100, 960, 4096, 100000]) {
      const got = await feed(new SpeechSegmenter(new ScriptedStream(script), 512, { silenceMs: 300 }), pcm, chunk);
      assert.deepEqual(got, reference, `chunk ${chunk}`);
    }
  });

  it('serialises pushes that are not awaited one by one', async function () {
    const script = (k: number): number => (k >= 10 && k < 40 ? 0.9 : 0.1);
    const pcm = ramp(0, 512 * 80);
    const reference = await feed(new SpeechSegmenter(new ScriptedStream(script), 512), pcm, 960);
    const segmenter = new SpeechSegmenter(new ScriptedStream(script), 512);
    const pushes: Promise<SegmenterEvent[]>[] = [];
    for (let i = 0; i < pcm.length; i += 960) pushes.push(segmenter.push(pcm.subarray(i, i + 960)));
    assert.deepEqual((await Promise.all(pushes)).flat(), reference);
  });

  it('reset() drops pushes in flight and restarts positions; close() closes the stream', async function () {
    const stream = new ScriptedStream((k) => (k >= 3 ? 0.9 : 0.1));
    const segmenter = new SpeechSegmenter(stream, 512);
    const inFlight = segmenter.push(ramp(0, 512 * 10));
    segmenter.reset();
    assert.deepEqual(await inFlight, []);
    assert.equal(stream.resets, 1);
    assert.equal(segmenter.positionMs, 0);
    const events = await segmenter.push(ramp(0, 512 * 10));
    assert.deepEqual(summarize(events), ['start 96']);
    segmenter.close();
    assert.equal(stream.closed, true);
    await assert.rejects(segmenter.push(new Int16Array(512)), { code: 'failed' });
  });

  it('rejects the push when the model fails, without an unhandled rejection', async function () {
    const failing: VadModelStream = {
      process: () => Promise.reject(new Error('boom')),
      reset: () => undefined,
      close: () => undefined,
    };
    const segmenter = new SpeechSegmenter(failing, 512);
    await assert.rejects(segmenter.push(new Int16Array(2048)), /boom/);
    // The chain survives the failure.
    assert.deepEqual(await segmenter.push(new Int16Array(100)), []);
  });
});

describe('providers/vad SpeechSegmenter on Silero with real audio', function () {
  let model: SileroVadModel;
  const toleranceMs = 250;

  before(async function () {
    if (!existsSync(defaultSileroModelPath())) {
      console.log(`    skipped: Silero model missing at ${defaultSileroModelPath()}`);
      this.skip();
    }
    if (!haveSpeechTools()) {
      console.log('    skipped: espeak-ng or sox missing');
      this.skip();
    }
    model = await SileroVadModel.load();
  });

  after(async function () {
    await model?.close();
  });

  it('finds one utterance within 250 ms of the true boundaries', async function () {
    const pcm = concat(noise(1000, 20, 1), speak('turn on the kitchen light please'), noise(1500, 20, 2));
    const truth = energyBounds(pcm)!;
    const events = await segment(model, pcm, 960);
    assert.equal(events.length, 2, summarize(events).join(', '));
    const [start, end] = events;
    assert.ok(start?.type === 'speech_start' && end?.type === 'speech_end');
    assert.ok(Math.abs(start.atMs - truth.startMs) <= toleranceMs, `start ${start.atMs} vs ${truth.startMs}`);
    assert.ok(Math.abs(end.atMs - truth.endMs) <= toleranceMs, `end ${end.atMs} vs ${truth.endMs}`);
    // The utterance holds the speech plus pre-roll and tail.
    assert.ok(end.audio.length >= Math.floor((truth.endMs - truth.startMs) * 16));
    assert.ok(end.detectedAtMs - end.atMs >= 500);
  });

  it('finds two utterances separated by 1.5 s of silence', async function () {
    const first = speak('what time is it');
    const second = speak('switch off the fan');
    const pcm = concat(silence(800), first, silence(1500), second, silence(1200));
    const firstTruth = energyBounds(concat(silence(800), first))!;
    const secondOffsetMs = ((800 * 16 + first.length + 1500 * 16) / 16) | 0;
    const secondTruth = energyBounds(second)!;
    const found = ends(await segment(model, pcm, 960));
    assert.equal(found.length, 2, found.map((e) => `${e.startMs}-${e.atMs}`).join(', '));
    assert.ok(Math.abs(found[0]!.startMs - firstTruth.startMs) <= toleranceMs);
    assert.ok(Math.abs(found[0]!.atMs - firstTruth.endMs) <= toleranceMs);
    assert.ok(Math.abs(found[1]!.startMs - (secondOffsetMs + secondTruth.startMs)) <= toleranceMs);
    assert.ok(Math.abs(found[1]!.atMs - (secondOffsetMs + secondTruth.endMs)) <= toleranceMs);
  });

  it('reports nothing for silence, low white noise and a 100 ms click (or discards it)', async function () {
    assert.deepEqual(await segment(model, silence(3000), 960), []);
    assert.deepEqual(await segment(model, noise(3000, 30, 7), 960), []);
    const click = concat(silence(1000), noise(100, 8000, 5), silence(1000));
    const events = await segment(model, click, 960);
    assert.ok(
      events.every((e) => e.type !== 'speech_end'),
      summarize(events).join(', '),
    );
    if (events.length > 0) assert.deepEqual(events.map((e) => e.type), ['speech_start', 'discarded']);
  });

  it('gives the same segments for 960-sample frames and 4096-sample chunks', async function () {
    const pcm = concat(silence(700), speak('set a timer for ten minutes'), silence(1500), speak('thank you'), silence(900));
    const frames = await segment(model, pcm, 960);
    const chunks = await segment(model, pcm, 4096);
    assert.ok(ends(frames).length >= 1);
    assert.deepEqual(summarize(chunks), summarize(frames));
    ends(frames).forEach((e, i) => assert.deepEqual(ends(chunks)[i]!.audio, e.audio));
  });

  it('gives each of 8 concurrent sessions on one model the events it gets alone', async function () {
    const phrases = ['hello', 'open the garage', 'lights off', 'volume up', 'what is the weather', 'good night', 'call mom', 'stop the music'];
    const inputs = phrases.map((text, i) => concat(silence(300 + 100 * i), speak(text), silence(1000)));
    const alone: string[][] = [];
    for (const pcm of inputs) alone.push(summarize(await segment(model, pcm, 960)));
    const before = model.stats();
    const together = await Promise.all(inputs.map((pcm) => segment(model, pcm, 960)));
    const after = model.stats();
    assert.deepEqual(together.map(summarize), alone);
    assert.ok(alone.every((s) => s.length === 2));
    // Sessions pushing in the same loop turn shared inferences.
    assert.ok(after.inferences - before.inferences < (after.windows - before.windows) / 4);
  });

  it('segments a real human recording (pocketsphinx-testdata)', function () {
    const path = '/usr/share/pocketsphinx/test/data/goforward.raw';
    if (!existsSync(path)) {
      console.log(`    skipped: ${path} missing (Debian package pocketsphinx-testdata)`);
      this.skip();
    }
    return (async () => {
      const recording = readAudio16k(path); // "go forward ten meters", 16 kHz s16le, headerless
      const truth = energyBoundsAboveFloor(recording)!;
      const pcm = concat(silence(1000), recording, silence(1500));
      const events = await segment(model, pcm, 960);
      const found = ends(events);
      assert.equal(found.length, 1, summarize(events).join(', '));
      assert.ok(Math.abs(found[0]!.startMs - (1000 + truth.startMs)) <= toleranceMs, `start ${found[0]!.startMs} vs ${1000 + truth.startMs}`);
      assert.ok(Math.abs(found[0]!.atMs - (1000 + truth.endMs)) <= toleranceMs, `end ${found[0]!.atMs} vs ${1000 + truth.endMs}`);
    })();
  });
});
