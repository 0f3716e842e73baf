import assert from 'node:assert/strict';
import {
  AudioFrameParser,
  ProtocolError,
  decodeAudioFrame,
  decodeGatewayUplink,
  encodeAudioFrame,
  encodeGatewayDownlink,
} from '../../src/protocol';
import type { AudioFrame, ProtocolErrorCode } from '../../src/protocol';

function expectProtocolError(fn: () => unknown, code: ProtocolErrorCode, pattern?: RegExp): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProtocolError, `expected a ProtocolError, got ${String(caught)}`);
  assert.equal(caught.code, code, `wrong code; message was: ${caught.message}`);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

/** mulberry32: a tiny seeded PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

describe('protocol/framing: single frames', () => {
  const opus = Buffer.from('fc0102030405060708090a0b0c0d0e0f', 'hex');

  it('v1 is the payload itself, both ways', () => {
    assert.equal(encodeAudioFrame(1, opus, 123), opus);
    const frame = decodeAudioFrame(1, opus);
    assert.equal(frame.payload, opus);
    assert.equal(frame.timestampMs, 0);
  });

  it('v2 writes the 16-byte big-endian header of §3.2 and reads it back', () => {
    const frame = encodeAudioFrame(2, opus, 0x01020304);
    assert.equal(frame.length, 16 + opus.length);
    assert.equal(frame.subarray(0, 16).toString('hex'), '0002' + '0000' + '00000000' + '01020304' + '00000010');
    const decoded = decodeAudioFrame(2, frame);
    assert.deepEqual(decoded.payload, opus);
    assert.equal(decoded.timestampMs, 0x01020304);
    // The payload is a view into the frame, not a copy.
    assert.equal(decoded.payload.buffer, frame.buffer);
  });

  it('v2 timestamps wrap at 2^32 like the firmware counter', () => {
    assert.equal(decodeAudioFrame(2, encodeAudioFrame(2, opus, 2 ** 32 + 7)).timestampMs, 7);
  });

  it('v3 writes the 4-byte header of §3.2 and reads it back', () => {
    const frame = encodeAudioFrame(3, opus);
    assert.equal(frame.subarray(0, 4).toString('hex'), '00000010');
    const decoded = decodeAudioFrame(3, frame);
    assert.deepEqual(decoded.payload, opus);
    assert.equal(decoded.timestampMs, 0);
  });

  it('empty payloads round-trip in every version', () => {
    for (const v of [1, 2, 3] as const) assert.equal(decodeAudioFrame(v, encodeAudioFrame(v, Buffer.alloc(0))).payload.length, 0);
  });

  it('rejects short headers and payload_size mismatches with precise messages', () => {
    const v2 = encodeAudioFrame(2, opus);
    expectProtocolError(() => decodeAudioFrame(2, v2.subarray(0, 10)), 'bad_frame', /10 bytes, shorter than its 16-byte header/);
    expectProtocolError(() => decodeAudioFrame(2, v2.subarray(0, v2.length - 1)), 'bad_frame', /payload_size 16 but 15 bytes follow/);
    expectProtocolError(() => decodeAudioFrame(2, Buffer.concat([v2, Buffer.from([0])])), 'bad_frame', /payload_size 16 but 17 bytes follow/);
    const v3 = encodeAudioFrame(3, opus);
    expectProtocolError(() => decodeAudioFrame(3, v3.subarray(0, 3)), 'bad_frame', /shorter than its 4-byte header/);
    expectProtocolError(() => decodeAudioFrame(3, v3.subarray(0, 10)), 'bad_frame', /payload_size 16 but 6 bytes follow/);
    const wrongType = Buffer.from(v3);
    wrongType[0] = 1;
    expectProtocolError(() => decodeAudioFrame(3, wrongType), 'bad_frame', /type 1/);
  });

  it('rejects payloads over the limit as too_large', () => {
    const big = Buffer.alloc(5000);
    for (const v of [1, 2, 3] as const) expectProtocolError(() => decodeAudioFrame(v, encodeAudioFrame(v, big), 4096), 'too_large');
    expectProtocolError(() => encodeAudioFrame(3, Buffer.alloc(70000)), 'too_large');
    // A v2 header that lies about a huge size is refused before the size mismatch matters.
    const liar = Buffer.alloc(16);
    liar.writeUInt32BE(0xffffffff, 12);
    expectProtocolError(() => decodeAudioFrame(2, liar, 4096), 'too_large');
  });

  it('rejects an unknown version', () => {
    expectProtocolError(() => decodeAudioFrame(4 as 1, opus), 'bad_frame');
    expectProtocolError(() => encodeAudioFrame(0 as 1, opus), 'bad_frame');
  });
});

describe('protocol/framing: MQTT gateway forms (§3.4)', () => {
  it('encodeGatewayDownlink writes [1,0,len16,seq32,ts32,len32] then the packet', () => {
    const payload = Buffer.from([9, 8, 7]);
    const frame = encodeGatewayDownlink(payload, 5, 2 ** 32 + 60);
    assert.equal(frame.toString('hex'), '01' + '00' + '0003' + '00000005' + '0000003c' + '00000003' + '090807');
  });

  it('decodeGatewayUplink reads timestamp [8:12] and length [12:16] with zeros in 0-7', () => {
    const header = Buffer.alloc(16);
    header.writeUInt32BE(123456, 8);
    header.writeUInt32BE(2, 12);
    const frame = decodeGatewayUplink(Buffer.concat([header, Buffer.from([0xaa, 0xbb])]));
    assert.deepEqual(frame, { payload: Buffer.from([0xaa, 0xbb]), timestampMs: 123456 });
    expectProtocolError(() => decodeGatewayUplink(Buffer.concat([header, Buffer.from([0xaa])])), 'bad_frame');
    expectProtocolError(() => decodeGatewayUplink(header.subarray(0, 12)), 'bad_frame');
  });

  it('a v2 stream parser splits the gateway downlink form too', () => {
    const parser = new AudioFrameParser(2);
    const a = encodeGatewayDownlink(Buffer.from('first'), 1, 60);
    const b = encodeGatewayDownlink(Buffer.from('second'), 2, 120);
    const frames = parser.push(Buffer.concat([a, b]));
    assert.deepEqual(
      frames.map((f) => [f.payload.toString(), f.timestampMs]),
      [
        ['first', 60],
        ['second', 120],
      ],
    );
  });
});

describe('protocol/framing: AudioFrameParser', () => {
  it('returns the same frames for random concatenations in random chunk sizes (seeded)', function () {
    for (const version of [2, 3] as const) {
      for (let seed = 1; seed <= 150; seed++) {
        const rand = prng(seed * 7919 + version);
        const count = 1 + Math.floor(rand() * 25);
        const sent: AudioFrame[] = [];
        const wire: Buffer[] = [];
        for (let i = 0; i < count; i++) {
          // Mostly Opus-sized payloads, some empty, some at the limit.
          const r = rand();
          const size = r < 0.05 ? 0 : r < 0.1 ? 4096 : Math.floor(rand() * 400);
          const payload = randomBytes(rand, size);
          const timestampMs = version === 2 ? Math.floor(rand() * 2 ** 32) : 0;
          sent.push({ payload, timestampMs });
          wire.push(encodeAudioFrame(version, payload, timestampMs));
        }
        const stream = Buffer.concat(wire);
        const parser = new AudioFrameParser(version);
        const got: AudioFrame[] = [];
        let offset = 0;
        // Chunk sizes: single bytes, header-splitting sizes, or big runs of several frames.
        const style = Math.floor(rand() * 3);
        while (offset < stream.length) {
          const size = style === 0 ? 1 : style === 1 ? 1 + Math.floor(rand() * 20) : 1 + Math.floor(rand() * 3000);
          got.push(...parser.push(stream.subarray(offset, offset + size)));
          offset += size;
        }
        assert.equal(parser.pendingBytes, 0, `seed ${seed} v${version}: bytes left over`);
        assert.equal(got.length, sent.length, `seed ${seed} v${version}: frame count`);
        for (let i = 0; i < sent.length; i++) {
          assert.ok(got[i]!.payload.equals(sent[i]!.payload), `seed ${seed} v${version}: payload ${i}`);
          assert.equal(got[i]!.timestampMs, sent[i]!.timestampMs, `seed ${seed} v${version}: timestamp ${i}`);
        }
      }
    }
  });

  it('keeps a partial frame until the rest arrives', () => {
    const parser = new AudioFrameParser(3);
    const frame = encodeAudioFrame(3, Buffer.from('abcdef'));
    assert.deepEqual(parser.push(frame.subarray(0, 2)), []);
    assert.deepEqual(parser.push(frame.subarray(2, 7)), []);
    assert.equal(parser.pendingBytes, 7); // 4 header bytes + 3 of the payload
    const frames = parser.push(frame.subarray(7));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.payload.toString(), 'abcdef');
    assert.deepEqual(parser.push(Buffer.alloc(0)), []);
  });

  it('returns a view, not a copy, when a payload lies inside one chunk', () => {
    const chunk = Buffer.concat([encodeAudioFrame(2, Buffer.from('one')), encodeAudioFrame(2, Buffer.from('two'))]);
    const frames = new AudioFrameParser(2).push(chunk);
    assert.equal(frames.length, 2);
    for (const f of frames) assert.equal(f.payload.buffer, chunk.buffer);
  });

  it('throws too_large on an oversize header, then refuses input until reset()', () => {
    const parser = new AudioFrameParser(2, 100);
    const ok = encodeAudioFrame(2, Buffer.alloc(100, 1), 5);
    assert.equal(parser.push(ok).length, 1);
    const big = encodeAudioFrame(2, Buffer.alloc(101));
    expectProtocolError(() => parser.push(big.subarray(0, 16)), 'too_large', /101-byte payload, over the 100-byte limit/);
    expectProtocolError(() => parser.push(ok), 'bad_frame', /reset\(\)/);
    parser.reset();
    assert.equal(parser.pendingBytes, 0);
    const frames = parser.push(ok);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.timestampMs, 5);
  });

  it('v3 stream rejects a non-Opus type byte', () => {
    const bad = encodeAudioFrame(3, Buffer.from('x'));
    bad[0] = 2;
    expectProtocolError(() => new AudioFrameParser(3).push(bad), 'bad_frame', /type 2/);
  });

  it('refuses version 1 (a v1 stream has no frame boundaries)', () => {
    expectProtocolError(() => new AudioFrameParser(1 as 2), 'bad_frame');
  });
});
