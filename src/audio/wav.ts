import { AudioError } from './errors';

/** A decoded WAV file: always mono Int16 after downmix. */
export interface WavAudio {
  pcm: Int16Array;
  sampleRateHz: number;
  channels: 1;
  /** Channel count in the file before the downmix. */
  sourceChannels: number;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_ALAW = 0x0006;
const WAVE_FORMAT_MULAW = 0x0007;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Size fields that streaming writers (e.g. espeak-ng or sox writing to a pipe) leave unfilled. */
const UNKNOWN_SIZES = new Set([0, 0xffffffff, 0x7fffffff, 0x7ffff000]);

interface Format {
  formatTag: number;
  channels: number;
  sampleRateHz: number;
  blockAlign: number;
  bitsPerSample: number;
}

/**
 * Parse a RIFF/WAVE file into mono Int16 PCM.
 * Handles PCM 8/16/24/32-bit, IEEE float 32/64-bit, WAVE_FORMAT_EXTENSIBLE wrapping either,
 * any channel count (averaged to mono), chunks in any order before `data` (LIST, fact, ...), odd
 * chunk padding, and data sizes left at 0 or 0xFFFFFFFF by streaming writers (the rest of the file
 * is taken). A data chunk cut short is read up to its last whole sample frame.
 * Throws AudioError('bad_wav') for malformed files and AudioError('unsupported') for valid but
 * unhandled encodings (A-law, mu-law, ADPCM, ...).
 */
export function readWav(data: Buffer): WavAudio {
  if (data.length < 12) throw bad(`file too short for a RIFF header (${data.length} bytes)`);
  const riff = data.toString('latin1', 0, 4);
  if (riff === 'RF64') throw new AudioError('unsupported', 'RF64 (64-bit WAV) is not supported');
  if (riff !== 'RIFF') throw bad(`not a RIFF file (starts with ${JSON.stringify(riff)})`);
  if (data.toString('latin1', 8, 12) !== 'WAVE') throw bad('RIFF file is not of type WAVE');

  let format: Format | undefined;
  let at = 12;
  while (at + 8 <= data.length) {
    const id = data.toString('latin1', at, at + 4);
    const declared = data.readUInt32LE(at + 4);
    const bodyStart = at + 8;
    if (id === 'fmt ') {
      if (declared < 16 || bodyStart + 16 > data.length) throw bad(`fmt chunk too short (${declared} bytes)`);
      format = parseFormat(data, bodyStart, declared);
    } else if (id === 'data') {
      if (!format) throw bad('data chunk comes before the fmt chunk');
      const available = data.length - bodyStart;
      const size = UNKNOWN_SIZES.has(declared) || declared > available ? available : declared;
      return decodeSamples(data.subarray(bodyStart, bodyStart + size), format);
    }
    // RIFF pads every chunk to an even length; the pad byte is not counted in the size.
    at = bodyStart + declared + (declared & 1);
  }
  throw bad(format ? 'no data chunk' : 'no fmt chunk');
}

/** Encode mono Int16 PCM as a canonical 44-byte-header PCM16 WAV file. */
export function writeWav(pcm: Int16Array, sampleRateHz: number): Buffer {
  if (!Number.isInteger(sampleRateHz) || sampleRateHz <= 0) throw new RangeError(`bad sample rate ${sampleRateHz}`);
  const dataBytes = pcm.length * 2;
  const out = Buffer.alloc(44 + dataBytes);
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'latin1');
  out.write('fmt ', 12, 'latin1');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  out.writeUInt16LE(1, 22); // channels
  out.writeUInt32LE(sampleRateHz, 24);
  out.writeUInt32LE(sampleRateHz * 2, 28); // byte rate
  out.writeUInt16LE(2, 32); // block align
  out.writeUInt16LE(16, 34); // bits per sample
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i] ?? 0, 44 + i * 2);
  return out;
}

function parseFormat(data: Buffer, at: number, size: number): Format {
  let formatTag = data.readUInt16LE(at);
  const channels = data.readUInt16LE(at + 2);
  const sampleRateHz = data.readUInt32LE(at + 4);
  const blockAlign = data.readUInt16LE(at + 12);
  const bitsPerSample = data.readUInt16LE(at + 14);
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    // cbSize(2) validBits(2) channelMask(4) then a GUID whose first two bytes are the real format tag.
    if (size < 40 || at + 40 > data.length) throw bad('WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes');
    formatTag = data.readUInt16LE(at + 24);
  }
  if (channels < 1) throw bad('fmt chunk says 0 channels');
  if (sampleRateHz < 1) throw bad('fmt chunk says 0 Hz');
  if (formatTag === WAVE_FORMAT_ALAW || formatTag === WAVE_FORMAT_MULAW) {
    throw new AudioError('unsupported', `G.711 ${formatTag === WAVE_FORMAT_ALAW ? 'A-law' : 'mu-law'} WAV is not supported; convert to PCM`);
  }
  if (formatTag === WAVE_FORMAT_PCM) {
    if (![8, 16, 24, 32].includes(bitsPerSample)) throw new AudioError('unsupported', `${bitsPerSample}-bit integer PCM WAV is not supported`);
  } else if (formatTag === WAVE_FORMAT_IEEE_FLOAT) {
    if (bitsPerSample !== 32 && bitsPerSample !== 64) throw bad(`float WAV with ${bitsPerSample} bits per sample`);
  } else {
    throw new AudioError('unsupported', `WAV format tag 0x${formatTag.toString(16)} is not supported (only PCM and IEEE float)`);
  }
  const minAlign = channels * (bitsPerSample / 8);
  if (blockAlign < minAlign) throw bad(`block align ${blockAlign} is smaller than ${channels} x ${bitsPerSample} bits`);
  return { formatTag, channels, sampleRateHz, blockAlign, bitsPerSample };
}

function decodeSamples(body: Buffer, f: Format): WavAudio {
  const frames = Math.floor(body.length / f.blockAlign);
  const bytesPerSample = f.bitsPerSample / 8;
  const read = sampleReader(body, f);
  const pcm = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    const frameAt = i * f.blockAlign;
    let sum = 0;
    for (let c = 0; c < f.channels; c++) sum += read(frameAt + c * bytesPerSample);
    // Mean of channels (not sum) so the downmix never clips.
    const x = Math.round(sum / f.channels);
    pcm[i] = x > 32767 ? 32767 : x < -32768 ? -32768 : x;
  }
  return { pcm, sampleRateHz: f.sampleRateHz, channels: 1, sourceChannels: f.channels };
}

/**
 * Returns a reader of one sample at a byte offset, on the Int16 scale (-32768..32767, fractional
 * for deeper formats) so that 16-bit files pass through bit-exact.
 */
function sampleReader(b: Buffer, f: Format): (at: number) => number {
  if (f.formatTag === WAVE_FORMAT_IEEE_FLOAT) {
    const toInt16Scale = (x: number): number => (x === x ? (x < 0 ? x * 32768 : x * 32767) : 0);
    return f.bitsPerSample === 32 ? (at) => toInt16Scale(b.readFloatLE(at)) : (at) => toInt16Scale(b.readDoubleLE(at));
  }
  switch (f.bitsPerSample) {
    case 8:
      return (at) => ((b[at] ?? 128) - 128) * 256; // 8-bit WAV is unsigned with 128 as zero
    case 16:
      return (at) => b.readInt16LE(at);
    case 24:
      return (at) => b.readIntLE(at, 3) / 256;
    default:
      return (at) => b.readInt32LE(at) / 65536;
  }
}

function bad(message: string): AudioError {
  return new AudioError('bad_wav', `bad WAV: ${message}`);
}
