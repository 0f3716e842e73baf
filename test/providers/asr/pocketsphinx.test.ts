// Real decoding with Debian's pocketsphinx + pocketsphinx-en-us through the N-API addon, on
// speech made by espeak-ng at test time and on the human recordings of pocketsphinx-testdata.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav } from '../../../src/audio/wav';
import { PocketsphinxAsr } from '../../../src/providers/asr/pocketsphinx';
import { ProviderError, type AsrResult, type PcmAudio } from '../../../src/providers/types';

const COMMANDS = [
  'turn on the kitchen light',
  'turn off the kitchen light',
  'turn on the bedroom lamp',
  'turn off the bedroom lamp',
  'what time is it',
  'set the volume to 50',
  'set the volume to 20',
  'open the garage door',
  'close the garage door',
  'what is the weather like',
  'play some music',
  'stop the music',
  'turn up the heat',
  'turn down the heat',
  'lock the front door',
  'unlock the front door',
  'set a timer for 5 minutes',
  'cancel the timer',
  'good night',
  "what's the temperature in the living room",
];

/** Spoken in the tests (the normalised text the recogniser must return). */
const SPOKEN = [
  'turn on the kitchen light',
  'turn off the bedroom lamp',
  'what time is it',
  'set the volume to fifty',
  'open the garage door',
  'unlock the front door',
  'set a timer for five minutes',
  "what's the temperature in the living room",
];

const TESTDATA = '/usr/share/pocketsphinx/test/data';

function toolMissing(): string | undefined {
  if (!PocketsphinxAsr.available()) return PocketsphinxAsr.unavailableReason();
  for (const tool of ['/usr/bin/espeak-ng', '/usr/bin/sox']) if (!existsSync(tool)) return `${tool} missing (Debian packages espeak-ng, sox)`;
  return undefined;
}

/** espeak-ng speech converted by sox to 16 kHz mono 16-bit, plus the original 22,050 Hz file. */
function speak(dir: string, text: string, index: number): { pcm16k: PcmAudio; original: PcmAudio } {
  const raw = join(dir, `say-${index}.wav`);
  const converted = join(dir, `say-${index}-16k.wav`);
  execFileSync('espeak-ng', ['-w', raw, text], { stdio: 'ignore' });
  execFileSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', converted], { stdio: 'ignore' });
  const a = readWav(readFileSync(converted));
  const b = readWav(readFileSync(raw));
  return { pcm16k: { pcm: a.pcm, sampleRateHz: a.sampleRateHz }, original: { pcm: b.pcm, sampleRateHz: b.sampleRateHz } };
}

/** Children of this process right now (any thread), from /proc. */
function childProcessCount(): number {
  const taskDir = `/proc/${process.pid}/task`;
  if (!existsSync(taskDir)) return -1;
  let count = 0;
  for (const tid of readdirSync(taskDir)) {
    try {
      count += readFileSync(join(taskDir, tid, 'children'), 'utf8').trim().split(/\s+/).filter(Boolean).length;
    } catch {
      // thread ended while we looked
    }
  }
  return count;
}

async function streamInChunks(asr: PocketsphinxAsr, audio: PcmAudio, chunkMs: number): Promise<Array<AsrResult & { partial: boolean }>> {
  const stream = asr.createStream(audio.sampleRateHz);
  const chunk = Math.round((audio.sampleRateHz * chunkMs) / 1000);
  const results: Array<AsrResult & { partial: boolean }> = [];
  const reading = (async () => {
    for await (const r of stream.results()) results.push(r);
  })();
  for (let at = 0; at < audio.pcm.length; at += chunk) {
    stream.write(audio.pcm.subarray(at, at + chunk));
    // Let the decoder run between chunks, like frames arriving from a device.
    await new Promise((resolve) => setImmediate(resolve));
  }
  stream.end();
  await reading;
  return results;
}

describe('PocketsphinxAsr (native pocketsphinx, offline grammar)', function () {
  this.timeout(60_000);
  let dir = '';
  const speech = new Map<string, { pcm16k: PcmAudio; original: PcmAudio }>();
  let asr: PocketsphinxAsr;
  const decodeTimesMs: number[] = [];

  before(function () {
    const reason = toolMissing();
    if (reason) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'xz-sphinx-'));
    SPOKEN.forEach((text, i) => speech.set(text, speak(dir, text, i)));
    asr = new PocketsphinxAsr({ phrases: COMMANDS, poolSize: 2, onWarning: () => {} });
  });

  after(async () => {
    if (decodeTimesMs.length > 0) {
      const sorted = [...decodeTimesMs].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
      console.log(`      pocketsphinx decode after end of audio: median ${median.toFixed(1)} ms over ${sorted.length} utterances (max ${(sorted.at(-1) ?? 0).toFixed(1)} ms)`);
    }
    await asr?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function audioOf(text: string): { pcm16k: PcmAudio; original: PcmAudio } {
    const audio = speech.get(text);
    assert.ok(audio, `no fixture for ${text}`);
    return audio;
  }

  it('builds the grammar from all 20 commands', () => {
    assert.equal(asr.grammar.phrases.length, 20);
    assert.deepEqual(asr.grammar.missingWords, []);
    assert.ok(asr.grammar.phrases.includes('set the volume to fifty'));
  });

  it('recognises each spoken command exactly (whole utterance)', async () => {
    for (const text of SPOKEN) {
      const result = await asr.transcribe(audioOf(text).pcm16k);
      assert.equal(result.text, text);
      assert.equal(result.language, 'en');
      assert.equal(typeof result.extra?.score, 'number');
      decodeTimesMs.push(Number(result.extra?.decodeMs));
    }
  });

  it('gives the same text when the audio streams in 60 ms chunks, with one final after the partials', async () => {
    for (const text of SPOKEN.slice(0, 4)) {
      const results = await streamInChunks(asr, audioOf(text).pcm16k, 60);
      const finals = results.filter((r) => !r.partial);
      assert.equal(finals.length, 1);
      assert.equal(results.at(-1), finals[0], 'the final result comes last');
      assert.equal(finals[0]?.text, text);
      for (const p of results.filter((r) => r.partial)) assert.ok(p.text.length > 0);
      decodeTimesMs.push(Number(finals[0]?.extra?.decodeMs));
    }
  });

  it('resamples audio that is not 16 kHz (espeak-ng 22,050 Hz), batch and streamed', async () => {
    const { original } = audioOf('open the garage door');
    assert.notEqual(original.sampleRateHz, 16000);
    assert.equal((await asr.transcribe(original)).text, 'open the garage door');
    const streamed = await streamInChunks(asr, original, 60);
    assert.equal(streamed.at(-1)?.text, 'open the garage door');
  });

  it('rejects low-scoring hypotheses only when rejectBelowScorePerFrame asks for it', async () => {
    const audio = audioOf('what time is it').pcm16k;
    const plain = await asr.transcribe(audio);
    assert.equal(typeof plain.extra?.scorePerFrame, 'number');
    assert.ok((plain.extra?.scorePerFrame as number) < 0);
    const strict = new PocketsphinxAsr({ phrases: COMMANDS, poolSize: 1, rejectBelowScorePerFrame: 0, onWarning: () => {} });
    const lenient = new PocketsphinxAsr({ phrases: COMMANDS, poolSize: 1, rejectBelowScorePerFrame: -1e9, onWarning: () => {} });
    try {
      const rejected = await strict.transcribe(audio);
      assert.equal(rejected.text, '');
      assert.equal(rejected.extra?.rejected, true);
      assert.equal(rejected.extra?.rejectedText, 'what time is it');
      assert.equal((await lenient.transcribe(audio)).text, 'what time is it');
    } finally {
      await strict.close();
      await lenient.close();
    }
  });

  it('returns "" for silence', async () => {
    const silence = await asr.transcribe({ pcm: new Int16Array(16000), sampleRateHz: 16000 });
    assert.equal(silence.text, '');
    const empty = await asr.transcribe({ pcm: new Int16Array(0), sampleRateHz: 16000 });
    assert.equal(empty.text, '');
  });

  it('setPhrases switches the vocabulary; an utterance in progress keeps the grammar it started with', async () => {
    const local = new PocketsphinxAsr({ phrases: ['turn on the kitchen light', 'what time is it'], poolSize: 1, onWarning: () => {} });
    try {
      const garage = audioOf('open the garage door').pcm16k;
      const light = audioOf('turn on the kitchen light').pcm16k;
      assert.notEqual((await local.transcribe(garage)).text, 'open the garage door');

      // Started before the switch: decodes with the old grammar.
      const inProgress = local.createStream(16000);
      inProgress.write(light.pcm);
      const grammar = local.setPhrases(['open the garage door', 'close the garage door', 'blorptastic']);
      assert.deepEqual(grammar.phrases, ['open the garage door', 'close the garage door']);
      assert.deepEqual(grammar.missingWords, ['blorptastic']);
      inProgress.end();
      let oldText = '';
      for await (const r of inProgress.results()) if (!r.partial) oldText = r.text;
      assert.equal(oldText, 'turn on the kitchen light');

      assert.equal((await local.transcribe(garage)).text, 'open the garage door');
      const lightNow = (await local.transcribe(light)).text;
      assert.ok(['', 'open the garage door', 'close the garage door'].includes(lightNow), `got "${lightNow}" outside the new grammar`);
      assert.equal(local.poolStats.created, 1, 'one decoder served every grammar');

      // No phrase at all: every utterance ends cleanly with ''.
      local.setPhrases([]);
      assert.equal((await local.transcribe(garage)).text, '');
    } finally {
      await local.close();
    }
  });

  it('recognises human recordings (pocketsphinx-testdata) with a grammar holding their transcripts', async function () {
    const transcription = join(TESTDATA, 'librivox', 'transcription');
    const cards = join(TESTDATA, 'cards', 'cards.transcription');
    if (!existsSync(transcription) || !existsSync(cards)) {
      console.log('      skipped: pocketsphinx-testdata is not installed');
      this.skip();
    }
    const parse = (file: string): Array<{ text: string; id: string }> =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => {
          const m = /<s>(.*)<\/s>\s*\((.*)\)/.exec(line);
          assert.ok(m, `unexpected transcription line ${line}`);
          return { text: (m[1] ?? '').trim().replace(/\s+/g, ' '), id: m[2] ?? '' };
        });
    const librivox = parse(transcription).slice(1, 3); // two short sentences: keep the run short
    const card = parse(cards).slice(0, 2);
    const human = new PocketsphinxAsr({
      phrases: [...COMMANDS, ...librivox.map((t) => t.text), ...card.map((t) => t.text), 'ten of hearts', 'seven of spades'],
      poolSize: 1,
      onWarning: () => {},
    });
    try {
      for (const t of librivox) {
        const wav = readWav(readFileSync(join(TESTDATA, 'librivox', `${t.id}.wav`)));
        assert.equal((await human.transcribe({ pcm: wav.pcm, sampleRateHz: wav.sampleRateHz })).text, t.text);
      }
      for (const [i, t] of card.entries()) {
        const wav = readWav(readFileSync(join(TESTDATA, 'cards', `00${i + 1}.wav`)));
        assert.equal((await human.transcribe({ pcm: wav.pcm, sampleRateHz: wav.sampleRateHz })).text, t.text);
      }
    } finally {
      await human.close();
    }
  });

  it('decodes many sequential utterances on one decoder without spawning a process or leaking', async () => {
    const single = new PocketsphinxAsr({ phrases: COMMANDS, poolSize: 1, onWarning: () => {} });
    try {
      const audio = audioOf('what time is it').pcm16k;
      assert.equal((await single.transcribe(audio)).text, 'what time is it'); // warm: decoder loaded
      // Other suites may leave helper processes (redis, mosquitto) running: compare, don't assume 0.
      const childrenBefore = childProcessCount();
      const rssBefore = process.memoryUsage().rss;
      for (let i = 0; i < 40; i++) {
        const result = i % 2 === 0 ? await single.transcribe(audio) : (await streamInChunks(single, audio, 60)).at(-1);
        assert.equal(result?.text, 'what time is it', `utterance ${i}`);
      }
      const growthMb = (process.memoryUsage().rss - rssBefore) / 1e6;
      assert.equal(childProcessCount(), childrenBefore, 'no child process spawned for the utterances');
      assert.equal(single.poolStats.created, 1, 'the same decoder served all utterances');
      assert.ok(growthMb < 40, `RSS grew ${growthMb.toFixed(1)} MB over 40 utterances`);
    } finally {
      await single.close();
    }
  });

  it('serves concurrent utterances from a bounded pool', async () => {
    const texts = [SPOKEN[0], SPOKEN[2], SPOKEN[4], SPOKEN[6], SPOKEN[1]] as string[];
    const results = await Promise.all(texts.map((t) => asr.transcribe(audioOf(t).pcm16k)));
    assert.deepEqual(
      results.map((r) => r.text),
      texts,
    );
    assert.ok(asr.poolStats.created <= 2, `created ${asr.poolStats.created} decoders for a pool of 2`);
    assert.equal(asr.poolStats.waiting, 0);
  });

  it('honours AbortSignal: rejects with ProviderError(aborted) and returns the decoder to the pool', async () => {
    const local = new PocketsphinxAsr({ phrases: COMMANDS, poolSize: 1, onWarning: () => {} });
    try {
      const audio = audioOf('turn on the kitchen light').pcm16k;
      const controller = new AbortController();
      const stream = local.createStream(16000, { signal: controller.signal });
      stream.write(audio.pcm.subarray(0, 8000));
      const consumed = (async () => {
        for await (const r of stream.results()) void r;
      })();
      controller.abort();
      await assert.rejects(consumed, (err: unknown) => err instanceof ProviderError && err.code === 'aborted');

      // A waiter for a busy pool is released by its signal too.
      const holder = local.createStream(16000);
      holder.write(audio.pcm.subarray(0, 1600));
      const waiting = new AbortController();
      const blocked = local.transcribe(audio, { signal: waiting.signal });
      await new Promise((resolve) => setImmediate(resolve));
      waiting.abort();
      await assert.rejects(blocked, (err: unknown) => err instanceof ProviderError && err.code === 'aborted');
      holder.end();
      for await (const r of holder.results()) void r;

      await assert.rejects(
        local.transcribe(audio, { signal: AbortSignal.abort() }),
        (err: unknown) => err instanceof ProviderError && err.code === 'aborted',
      );
      assert.equal((await local.transcribe(audio)).text, 'turn on the kitchen light', 'decoder usable after aborts');
      assert.equal(local.poolStats.created, 1);
      assert.equal(local.poolStats.idle, 1);
    } finally {
      await local.close();
    }
  });

  it('reports a missing model as ProviderError(model_missing) instead of crashing', async () => {
    const broken = new PocketsphinxAsr({ phrases: COMMANDS, hmmDir: join(dir, 'no-model'), onWarning: () => {} });
    await assert.rejects(
      broken.transcribe(audioOf('what time is it').pcm16k),
      (err: unknown) => err instanceof ProviderError && err.code === 'model_missing' && /no-model/.test(err.message),
    );
  });
});
