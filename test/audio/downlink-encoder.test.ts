import assert from 'node:assert/strict';
import { encodePcmToOpusFrames, PcmToOpusEncoder } from '../../src/audio/downlink-encoder';
import { OpusFrameDecoder, opusPacketDurationMs } from '../../src/audio/opus';
import { concatInt16, durationMs, rmsDbfs } from '../../src/audio/pcm';
import { espeakPcm, hasEspeak, pearson, rmsEnvelope, sine, upwardZeroCrossings } from './fixtures';

describe('audio/downlink-encoder', () => {
  let speech: { pcm: Int16Array; sampleRateHz: number };

  before(function () {
    if (!hasEspeak()) {
      console.log('    espeak-ng not installed: using a 22050 Hz tone in place of speech');
      speech = { pcm: sine(220, 22050, 1.9, 9000), sampleRateHz: 22050 };
      return;
    }
    speech = espeakPcm('The living room lights are now off. Good night.');
  });

  it('chunked 22050 Hz input yields ceil(duration / 60 ms) packets, each decoding to 1440 samples at 24 kHz', async () => {
    const enc = await PcmToOpusEncoder.create();
    assert.equal(enc.frameSamples, 1440);
    const packets: Buffer[] = [];
    const sizes = [512, 1, 2205, 77, 4096, 300]; // TTS engines emit arbitrary chunk sizes
    let at = 0;
    for (let i = 0; at < speech.pcm.length; i++) {
      const n = sizes[i % sizes.length] ?? 512;
      packets.push(...(await enc.push(speech.pcm.subarray(at, at + n), speech.sampleRateHz)));
      at += n;
    }
    packets.push(...enc.flush());
    enc.close();

    const ms = durationMs(speech.pcm.length, speech.sampleRateHz);
    assert.equal(packets.length, Math.ceil(ms / 60), `${ms} ms of audio`);
    const dec = new OpusFrameDecoder(24000);
    const decoded = packets.map((p) => {
      assert.equal(opusPacketDurationMs(p), 60);
      const pcm = dec.decode(p);
      assert.equal(pcm.length, 1440);
      return pcm;
    });
    // The decoded audio follows the input's loudness contour (resampled, coded, decoded).
    const out = concatInt16(decoded);
    const inEnv = rmsEnvelope(speech.pcm, 2205); // 100 ms windows
    const outEnv = rmsEnvelope(out.subarray(156), 2400); // skip the Opus look-ahead (6.5 ms at 24 kHz)
    const corr = pearson(inEnv, outEnv.slice(0, inEnv.length));
    console.log(`    ${packets.length} packets for ${Math.round(ms)} ms, envelope correlation ${corr.toFixed(3)}, ${rmsDbfs(speech.pcm).toFixed(1)} -> ${rmsDbfs(out).toFixed(1)} dBFS`);
    assert.ok(corr > 0.95, `envelope correlation ${corr}`);
  });

  it('one-shot helper matches ceil(duration / frame) for several rates and frame lengths', async () => {
    const cases: Array<[number, number, number, number]> = [
      // [input rate, seconds, output rate, frameMs]
      [16000, 1.0, 24000, 60],
      [16000, 1.01, 16000, 60],
      [24000, 0.5, 24000, 20],
      [44100, 0.3, 24000, 60],
      [8000, 0.06, 24000, 60],
    ];
    for (const [inHz, seconds, outHz, frameMs] of cases) {
      const packets = await encodePcmToOpusFrames(sine(440, inHz, seconds, 8000), inHz, { outputRateHz: outHz, frameMs });
      const expected = Math.ceil(Math.round(seconds * inHz * 1000) / inHz / frameMs - 1e-9);
      assert.equal(packets.length, expected, `${inHz} Hz ${seconds} s -> ${outHz} Hz / ${frameMs} ms`);
      const dec = new OpusFrameDecoder(outHz);
      for (const p of packets) assert.equal(dec.decode(p).length, (outHz * frameMs) / 1000);
    }
    assert.deepEqual(await encodePcmToOpusFrames(new Int16Array(0), 16000), []);
  });

  it('a 440 Hz tone at 16 kHz comes out of the 24 kHz decoder at 440 Hz', async () => {
    const packets = await encodePcmToOpusFrames(sine(440, 16000, 1.2, 8000), 16000, { bitrate: 32000 });
    const dec = new OpusFrameDecoder(24000);
    const out = concatInt16(packets.map((p) => dec.decode(p)));
    const crossings = upwardZeroCrossings(out, 2400, 2400 + 24000); // one second, skipping the start
    assert.ok(Math.abs(crossings - 440) <= 3, `${crossings} crossings in one second`);
  });

  it('a change of input rate mid-stream keeps every sample; reset() drops pending audio', async () => {
    const enc = await PcmToOpusEncoder.create();
    const a = await enc.push(sine(300, 16000, 0.5), 16000); // 500 ms
    const b = await enc.push(sine(300, 22050, 0.5), 22050); // another 500 ms
    const tail = enc.flush();
    assert.equal(a.length + b.length + tail.length, Math.ceil(1000 / 60));

    await enc.push(sine(300, 16000, 0.1), 16000); // 100 ms: one packet out, 40 ms pending
    enc.reset();
    assert.deepEqual(enc.flush(), [], 'nothing pending after reset');
    const again = await enc.push(new Int16Array(960), 16000);
    assert.equal(again.length + enc.flush().length, 1);
    enc.close();
  });
});
