import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AudioError } from '../../src/audio/errors';
import { splitFrames } from '../../src/audio/frames';
import { OpusFrameDecoder, OpusFrameEncoder, opusPacketDurationMs } from '../../src/audio/opus';
import { concatInt16 } from '../../src/audio/pcm';
import { resample } from '../../src/audio/resample';
import { bestLagCorrelation, espeakPcm, hasEspeak, pearson, rmsEnvelope, sine } from './fixtures';

const isAudioError = (code: string) => (e: unknown) => e instanceof AudioError && e.code === code;

describe('audio/opus', () => {
  let speech16k: Int16Array;

  before(async function () {
    if (!hasEspeak()) {
      console.log('    espeak-ng not installed: using a synthetic vowel-like signal instead of speech');
      // Harmonics of 150 Hz with a slow amplitude envelope: speech-like enough for the codec checks.
      const n = 16000 * 2;
      speech16k = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        const t = i / 16000;
        let s = 0;
        for (let h = 1; h <= 12; h++) s += Math.sin(2 * Math.PI * 150 * h * t) / h;
        speech16k[i] = Math.round(4000 * s * (0.5 + 0.5 * Math.sin(2 * Math.PI * 2 * t)));
      }
      return;
    }
    const { pcm, sampleRateHz } = espeakPcm('Turn on the kitchen light and set the thermostat to twenty one degrees.');
    speech16k = await resample(pcm, sampleRateHz, 16000);
  });

  it('encodes speech at 16 kHz / 60 ms and decodes it back with exact sample counts and a matching waveform', () => {
    const enc = new OpusFrameEncoder({ sampleRateHz: 16000 });
    assert.equal(enc.frameSamples, 960);
    const dec = new OpusFrameDecoder(16000);
    const frames = splitFrames(speech16k, 960);
    const packets = frames.map((f) => enc.encode(f));
    const decoded = packets.map((p) => dec.decode(p));
    for (const d of decoded) assert.equal(d.length, 960);
    for (const p of packets) {
      assert.equal(opusPacketDurationMs(p), 60);
      assert.ok(p.length > 0 && p.length < 400, `packet of ${p.length} bytes`);
    }
    const out = concatInt16(decoded);
    assert.equal(out.length, frames.length * 960);
    // Opus delays the signal by its look-ahead (~6.5 ms = 104 samples at 16 kHz): search the lag.
    const { corr, lag } = bestLagCorrelation(speech16k, out, 400);
    const env = pearson(rmsEnvelope(speech16k, 320), rmsEnvelope(out.subarray(lag), 320));
    console.log(`    16 kHz/60 ms: ${packets.length} packets, mean ${Math.round(packets.reduce((s, p) => s + p.length, 0) / packets.length)} B, waveform corr ${corr.toFixed(3)} at lag ${lag}, envelope corr ${env.toFixed(3)}`);
    assert.ok(corr > 0.6, `waveform correlation ${corr}`);
    assert.ok(env > 0.95, `envelope correlation ${env}`);
  });

  it('decodes 20 ms and 40 ms packets, and 60 ms packets at 24 kHz', () => {
    for (const frameMs of [20, 40]) {
      const enc = new OpusFrameEncoder({ sampleRateHz: 16000, frameMs });
      const dec = new OpusFrameDecoder(16000);
      const frames = splitFrames(speech16k.subarray(0, 16000), enc.frameSamples);
      for (const f of frames) {
        const p = enc.encode(f);
        assert.equal(opusPacketDurationMs(p), frameMs);
        assert.equal(dec.decode(p).length, (16000 * frameMs) / 1000);
      }
    }
    const enc16 = new OpusFrameEncoder({ sampleRateHz: 16000 });
    const dec24 = new OpusFrameDecoder(24000);
    assert.equal(dec24.decode(enc16.encode(new Int16Array(960))).length, 1440, 'Opus packets decode at any rate');
  });

  it('a sine survives the codec at its frequency and level', () => {
    const tone = sine(440, 16000, 1.2, 8000);
    const enc = new OpusFrameEncoder({ sampleRateHz: 16000, bitrate: 32000 });
    const dec = new OpusFrameDecoder(16000);
    const out = concatInt16(splitFrames(tone, 960).map((f) => dec.decode(enc.encode(f))));
    const { corr } = bestLagCorrelation(tone.subarray(0, 16000), out, 400);
    assert.ok(corr > 0.9, `sine correlation ${corr}`);
  });

  it('rejects wrong frame sizes and unsupported settings with AudioError', () => {
    const enc = new OpusFrameEncoder({ sampleRateHz: 24000, frameMs: 60, bitrate: 24000, complexity: 10 });
    assert.equal(enc.frameSamples, 1440);
    assert.throws(() => enc.encode(new Int16Array(1439)), isAudioError('bad_frame_size'));
    assert.throws(() => enc.encode(new Int16Array(0)), isAudioError('bad_frame_size'));
    assert.throws(() => enc.encode(new Int16Array(960)), isAudioError('bad_frame_size'));
    assert.throws(() => new OpusFrameEncoder({ sampleRateHz: 22050 }), isAudioError('unsupported'));
    assert.throws(() => new OpusFrameEncoder({ sampleRateHz: 16000, frameMs: 30 }), isAudioError('unsupported'));
    assert.throws(() => new OpusFrameEncoder({ sampleRateHz: 16000, complexity: 11 }), isAudioError('unsupported'));
    assert.throws(() => new OpusFrameDecoder(44100), isAudioError('unsupported'));
    assert.equal(enc.encode(new Int16Array(1440)).length > 0, true, 'still usable after the errors');
  });

  it('garbage packets throw AudioError(bad_packet) and never crash the decoder', () => {
    const dec = new OpusFrameDecoder(16000);
    assert.throws(() => dec.decode(Buffer.alloc(0)), isAudioError('bad_packet'));
    // 10 KB behind a single-frame TOC: a frame may be at most 1275 bytes (RFC 6716 R2).
    const big = randomBytes(10240);
    big[0] = (11 << 3) | 0; // SILK WB 60 ms, code 0
    assert.throws(() => dec.decode(big), isAudioError('bad_packet'));
    // Code-3 packet announcing 0 frames (RFC 6716 R5).
    assert.throws(() => dec.decode(Buffer.from([(15 << 3) | 3, 0x00, 0x11, 0x22])), isAudioError('bad_packet'));
    // Code-3 packet announcing 48 x 20 ms = 960 ms (more than 120 ms, R5).
    assert.throws(() => dec.decode(Buffer.from([(15 << 3) | 3, 48, 1, 2, 3])), isAudioError('bad_packet'));
    // Random bytes: many are legal packets (any bytes after a code-0 TOC are), the rest must throw
    // AudioError. Either way the result is well-formed and the process survives.
    let threw = 0;
    let decoded = 0;
    for (let i = 0; i < 1500; i++) {
      const pkt = randomBytes(1 + ((i * 7919) % 1400));
      try {
        const pcm = dec.decode(pkt);
        assert.ok(pcm.length > 0 && pcm.length <= 1920 && pcm.length % 40 === 0, `decoded ${pcm.length} samples`);
        decoded++;
      } catch (e) {
        if (!(e instanceof AudioError) || e.code !== 'bad_packet') throw e;
        threw++;
      }
    }
    console.log(`    1500 random packets: ${decoded} decoded as (noise) Opus, ${threw} rejected with AudioError`);
    assert.ok(threw > 0);
    const enc = new OpusFrameEncoder({ sampleRateHz: 16000 });
    assert.equal(dec.decode(enc.encode(new Int16Array(960))).length, 960, 'decoder still works after garbage');
  });

  it('opusPacketDurationMs parses TOC codes 0-3 and rejects malformed headers', () => {
    assert.equal(opusPacketDurationMs(Buffer.from([(15 << 3) | 0])), 20); // hybrid FB 20 ms
    assert.equal(opusPacketDurationMs(Buffer.from([(11 << 3) | 2, 5])), 120); // SILK WB 60 ms x2 (code 2)
    assert.equal(opusPacketDurationMs(Buffer.from([(3 << 3) | 0])), 60); // SILK NB 60 ms
    assert.equal(opusPacketDurationMs(Buffer.from([(1 << 3) | 1, 0])), 40); // SILK NB 20 ms x2
    assert.equal(opusPacketDurationMs(Buffer.from([(31 << 3) | 3, 6])), 120); // CELT 20 ms x6
    assert.equal(opusPacketDurationMs(Buffer.from([(16 << 3) | 0])), 2.5);
    assert.throws(() => opusPacketDurationMs(Buffer.alloc(0)), isAudioError('bad_packet'));
    assert.throws(() => opusPacketDurationMs(Buffer.from([(31 << 3) | 3])), isAudioError('bad_packet'));
    assert.throws(() => opusPacketDurationMs(Buffer.from([(3 << 3) | 3, 3])), isAudioError('bad_packet'));
  });

  it('measures encode and decode speed (printed, not asserted)', () => {
    const frames = splitFrames(speech16k, 960).slice(0, 40);
    for (const rateHz of [16000, 24000]) {
      const enc = new OpusFrameEncoder({ sampleRateHz: rateHz });
      const input = rateHz === 16000 ? frames : frames.map(() => sine(300, 24000, 0.06));
      const rounds = 5;
      const packets: Buffer[] = [];
      let t0 = process.hrtime.bigint();
      for (let r = 0; r < rounds; r++) for (const f of input) packets.push(enc.encode(f));
      const encodeFps = (rounds * input.length) / (Number(process.hrtime.bigint() - t0) / 1e9);
      const dec = new OpusFrameDecoder(rateHz);
      t0 = process.hrtime.bigint();
      for (const p of packets) dec.decode(p);
      const decodeFps = packets.length / (Number(process.hrtime.bigint() - t0) / 1e9);
      console.log(`    ${rateHz / 1000} kHz 60 ms mono: encode ${Math.round(encodeFps)} frames/s, decode ${Math.round(decodeFps)} frames/s (${packets.length} frames)`);
      assert.equal(packets.length, rounds * input.length);
    }
  });
});
