import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AudioError } from '../../src/audio/errors';
import { readWav, writeWav } from '../../src/audio/wav';
import { espeakWavBytes, hasEspeak } from './fixtures';

const isAudioError = (code: string) => (e: unknown) => e instanceof AudioError && e.code === code;

interface WavSpec {
  formatTag: number;
  channels: number;
  sampleRateHz?: number;
  bitsPerSample: number;
  body: Buffer;
  extensible?: boolean;
  /** Chunks inserted between fmt and data (id, body). */
  extraChunks?: Array<[string, Buffer]>;
  /** Override the data chunk's size field. */
  dataSizeField?: number;
}

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

/** Build a WAV by hand, byte by byte, to exercise formats our own writer never produces. */
function buildWav(s: WavSpec): Buffer {
  const rate = s.sampleRateHz ?? 16000;
  const blockAlign = (s.channels * s.bitsPerSample) / 8;
  const fmt = Buffer.alloc(s.extensible ? 40 : 16);
  fmt.writeUInt16LE(s.extensible ? 0xfffe : s.formatTag, 0);
  fmt.writeUInt16LE(s.channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE(rate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(s.bitsPerSample, 14);
  if (s.extensible) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(s.bitsPerSample, 18); // valid bits
    fmt.writeUInt32LE(s.channels === 2 ? 3 : 4, 20); // channel mask
    // KSDATAFORMAT_SUBTYPE_{PCM,IEEE_FLOAT}: format tag then the fixed GUID tail.
    fmt.writeUInt16LE(s.formatTag, 24);
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(fmt, 26);
  }
  const data = chunk('data', s.body);
  if (s.dataSizeField !== undefined) data.writeUInt32LE(s.dataSizeField, 4);
  const parts = [chunk('fmt ', fmt), ...(s.extraChunks ?? []).map(([id, b]) => chunk(id, b)), data];
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...parts]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

function int16Body(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeInt16LE(v, i * 2));
  return b;
}

describe('audio/wav', () => {
  it('writeWav -> readWav is bit-exact and the header is canonical', () => {
    const pcm = Int16Array.from({ length: 1001 }, (_, i) => ((i * 7919) % 65536) - 32768);
    const file = writeWav(pcm, 24000);
    assert.equal(file.length, 44 + 2002);
    assert.equal(file.toString('latin1', 0, 4), 'RIFF');
    assert.equal(file.readUInt32LE(4), file.length - 8);
    assert.equal(file.readUInt32LE(28), 48000);
    const back = readWav(file);
    assert.equal(back.sampleRateHz, 24000);
    assert.equal(back.channels, 1);
    assert.equal(back.sourceChannels, 1);
    assert.deepEqual(Array.from(back.pcm), Array.from(pcm));
    assert.equal(readWav(writeWav(new Int16Array(0), 8000)).pcm.length, 0);
  });

  it('reads an espeak-ng WAV (22050 Hz mono PCM16)', function () {
    if (!hasEspeak()) {
      console.log('    espeak-ng not installed: skipping');
      this.skip();
    }
    const file = espeakWavBytes('Hello from the kitchen.');
    const wav = readWav(file);
    assert.equal(wav.sampleRateHz, 22050);
    assert.equal(wav.sourceChannels, 1);
    assert.ok(wav.pcm.length > 22050 * 0.5, `only ${wav.pcm.length} samples`);
    // Re-written with our writer, the samples survive unchanged.
    assert.deepEqual(Array.from(readWav(writeWav(wav.pcm, 22050)).pcm), Array.from(wav.pcm));
  });

  it('reads 8-bit unsigned stereo and averages the channels', () => {
    const wav = readWav(buildWav({ formatTag: 1, channels: 2, bitsPerSample: 8, body: Buffer.from([128, 128, 255, 255, 0, 0, 192, 64, 0]) }));
    assert.equal(wav.sourceChannels, 2);
    assert.deepEqual(Array.from(wav.pcm), [0, 127 * 256, -32768, 0]); // odd trailing byte ignored
  });

  it('reads 24-bit and 32-bit integer PCM', () => {
    const b24 = Buffer.from([0x56, 0x34, 0x12, 0x00, 0x00, 0x80, 0xff, 0xff, 0x7f]);
    assert.deepEqual(Array.from(readWav(buildWav({ formatTag: 1, channels: 1, bitsPerSample: 24, body: b24 })).pcm), [0x1234, -32768, 32767]);
    const b32 = Buffer.alloc(8);
    b32.writeInt32LE(0x40000000, 0);
    b32.writeInt32LE(-0x80000000, 4);
    assert.deepEqual(Array.from(readWav(buildWav({ formatTag: 1, channels: 1, bitsPerSample: 32, body: b32 })).pcm), [16384, -32768]);
  });

  it('reads float32 stereo and float64 mono, clamping overshoot', () => {
    const f32 = Buffer.alloc(4 * 6);
    [0.5, -0.5, 0.25, 0.25, 1.5, 1.5].forEach((v, i) => f32.writeFloatLE(v, i * 4));
    const stereo = readWav(buildWav({ formatTag: 3, channels: 2, bitsPerSample: 32, body: f32 }));
    assert.deepEqual(Array.from(stereo.pcm), [0, 8192, 32767]);
    const f64 = Buffer.alloc(16);
    f64.writeDoubleLE(-1, 0);
    f64.writeDoubleLE(NaN, 8);
    assert.deepEqual(Array.from(readWav(buildWav({ formatTag: 3, channels: 1, bitsPerSample: 64, body: f64 })).pcm), [-32768, 0]);
  });

  it('reads WAVE_FORMAT_EXTENSIBLE with PCM and float sub-formats', () => {
    const pcm = readWav(buildWav({ formatTag: 1, channels: 2, bitsPerSample: 16, extensible: true, body: int16Body([100, 300, -10, -30]) }));
    assert.deepEqual(Array.from(pcm.pcm), [200, -20]);
    const fb = Buffer.alloc(16);
    [0.5, 0.5, 0.5, 0.5].forEach((v, i) => fb.writeFloatLE(v, i * 4));
    const flt = readWav(buildWav({ formatTag: 3, channels: 4, bitsPerSample: 32, extensible: true, body: fb }));
    assert.equal(flt.sourceChannels, 4);
    assert.deepEqual(Array.from(flt.pcm), [16384]);
  });

  it('skips LIST and odd-sized chunks before data, honouring the pad byte', () => {
    const wav = buildWav({
      formatTag: 1,
      channels: 1,
      bitsPerSample: 16,
      body: int16Body([1, 2, 3]),
      extraChunks: [
        ['LIST', Buffer.from('INFOISFT\x05\x00\x00\x00abcd\x00', 'latin1')], // 17 bytes: padded
        ['odd ', Buffer.from([1, 2, 3])],
      ],
    });
    assert.deepEqual(Array.from(readWav(wav).pcm), [1, 2, 3]);
  });

  it('takes the rest of the file when the data size is unknown or too large (streaming writers)', () => {
    for (const size of [0xffffffff, 0, 1000]) {
      const wav = buildWav({ formatTag: 1, channels: 1, bitsPerSample: 16, body: int16Body([5, 6, 7]), dataSizeField: size });
      assert.deepEqual(Array.from(readWav(wav).pcm), [5, 6, 7], `data size field ${size}`);
    }
    // A cut-off stereo file keeps whole sample frames only.
    const cut = buildWav({ formatTag: 1, channels: 2, bitsPerSample: 16, body: int16Body([10, 20, 30, 40]) }).subarray(0, -2);
    assert.deepEqual(Array.from(readWav(cut).pcm), [15]);
  });

  it('throws AudioError(bad_wav) with a clear message for malformed files', () => {
    const good = buildWav({ formatTag: 1, channels: 1, bitsPerSample: 16, body: int16Body([1]) });
    const cases: Array<[string, Buffer, RegExp]> = [
      ['empty', Buffer.alloc(0), /too short/],
      ['not RIFF', Buffer.concat([Buffer.from('RIFX'), good.subarray(4)]), /not a RIFF/],
      ['not WAVE', Buffer.concat([good.subarray(0, 8), Buffer.from('AVI '), good.subarray(12)]), /not of type WAVE/],
      ['header only', good.subarray(0, 12), /no fmt chunk/],
      ['no data', good.subarray(0, 12 + 8 + 16), /no data chunk/],
      ['data before fmt', Buffer.concat([good.subarray(0, 12), chunk('data', int16Body([1])), chunk('fmt ', good.subarray(20, 36))]), /before the fmt/],
      ['short fmt', Buffer.concat([good.subarray(0, 12), chunk('fmt ', Buffer.alloc(10))]), /fmt chunk too short/],
      ['zero channels', buildWav({ formatTag: 1, channels: 0, bitsPerSample: 16, body: Buffer.alloc(0) }), /0 channels/],
    ];
    for (const [name, file, message] of cases) {
      assert.throws(() => readWav(file), (e: unknown) => e instanceof AudioError && e.code === 'bad_wav' && message.test(e.message), name);
    }
  });

  it('throws AudioError(unsupported) for valid encodings it does not decode', () => {
    assert.throws(() => readWav(buildWav({ formatTag: 7, channels: 1, bitsPerSample: 8, body: Buffer.alloc(4) })), isAudioError('unsupported'));
    assert.throws(() => readWav(buildWav({ formatTag: 2, channels: 1, bitsPerSample: 4, body: Buffer.alloc(4) })), isAudioError('unsupported'));
    assert.throws(() => readWav(buildWav({ formatTag: 1, channels: 1, bitsPerSample: 12, body: Buffer.alloc(4) })), isAudioError('unsupported'));
  });

  it('reads what sox writes: 24-bit stereo (extensible), float, 8-bit', function () {
    if (!existsSync('/usr/bin/sox') || !hasEspeak()) {
      console.log('    sox or espeak-ng not installed: skipping');
      this.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'xz-wav-'));
    try {
      const src = join(dir, 'src.wav');
      writeFileSync(src, espeakWavBytes('Lights off.'));
      const original = readWav(readFileSync(src));
      const variants: Array<[string, string[]]> = [
        ['s24-stereo.wav', ['-b', '24', '-c', '2']],
        ['f32.wav', ['-e', 'floating-point', '-b', '32']],
        ['u8.wav', ['-e', 'unsigned-integer', '-b', '8']],
      ];
      for (const [name, args] of variants) {
        const out = join(dir, name);
        execFileSync('sox', [src, ...args, out], { stdio: 'ignore' });
        const wav = readWav(readFileSync(out));
        assert.equal(wav.sampleRateHz, 22050, name);
        assert.equal(wav.pcm.length, original.pcm.length, name);
        // 24-bit and float carry the 16-bit samples exactly; 8-bit loses the low byte (sox dithers).
        let maxDiff = 0;
        for (let i = 0; i < wav.pcm.length; i++) maxDiff = Math.max(maxDiff, Math.abs((wav.pcm[i] ?? 0) - (original.pcm[i] ?? 0)));
        assert.ok(maxDiff <= (name === 'u8.wav' ? 768 : 1), `${name}: max sample difference ${maxDiff}`);
        if (name.includes('stereo')) assert.equal(wav.sourceChannels, 2);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
