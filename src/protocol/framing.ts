/**
 * Binary audio framing (protocol.md §3.2 and §3.4). All multi-byte fields are big-endian.
 *
 * - v1: the WebSocket binary message is one raw Opus packet.
 * - v2: 16-byte header `u16 version | u16 type | u32 reserved | u32 timestamp_ms | u32 payload_size`.
 * - v3: 4-byte header `u8 type | u8 reserved | u16 payload_size`.
 * - MQTT gateway on the server WebSocket: uplink uses the v2 layout with bytes 0-7 zero;
 *   downlink has its own 16-byte header (see {@link encodeGatewayDownlink}).
 *
 * Pure: no I/O. Decoded payloads are views into the input (no copy) whenever possible.
 */
import { ProtocolError } from './errors';

/** Binary protocol version, chosen by the Protocol-Version header / hello version / OTA `websocket.version`. */
export type BinaryProtocolVersion = 1 | 2 | 3;

/** One decoded audio frame. `payload` may share memory with the buffer it was decoded from. */
export interface AudioFrame {
  payload: Buffer;
  /** v2 / gateway header timestamp (device playback time, for server-side AEC); 0 when the framing has none. */
  timestampMs: number;
}

/** Header size of v2 frames and of both MQTT-gateway forms. */
export const V2_HEADER_BYTES = 16;
/** Header size of v3 frames. */
export const V3_HEADER_BYTES = 4;
/** Largest payload a 16-bit size field can describe (v3, gateway downlink). */
export const MAX_U16_PAYLOAD_BYTES = 0xffff;
/** Default payload limit: a 60 ms Opus packet is a few hundred bytes; 4 KiB is generous. */
export const DEFAULT_MAX_AUDIO_PAYLOAD_BYTES = 4096;

function checkVersion(version: number): asserts version is BinaryProtocolVersion {
  if (version !== 1 && version !== 2 && version !== 3) {
    throw new ProtocolError('bad_frame', `binary protocol version must be 1, 2 or 3, got ${String(version)}`);
  }
}

/**
 * Frame one Opus packet for the device's binary protocol version.
 * v1 returns `payload` itself; v2 writes `timestampMs` (mod 2^32); v3 has no timestamp.
 * @throws ProtocolError('too_large') when a v3 payload exceeds 65535 bytes
 */
export function encodeAudioFrame(version: BinaryProtocolVersion, payload: Buffer, timestampMs = 0): Buffer {
  checkVersion(version);
  if (version === 1) return payload;
  if (version === 2) {
    if (payload.length > 0xffffffff) throw new ProtocolError('too_large', 'v2 audio payload exceeds 2^32-1 bytes');
    const frame = Buffer.allocUnsafe(V2_HEADER_BYTES + payload.length);
    frame.writeUInt16BE(2, 0); // version
    frame.writeUInt16BE(0, 2); // type 0 = OPUS
    frame.writeUInt32BE(0, 4); // reserved
    frame.writeUInt32BE(toU32(timestampMs), 8);
    frame.writeUInt32BE(payload.length, 12);
    payload.copy(frame, V2_HEADER_BYTES);
    return frame;
  }
  if (payload.length > MAX_U16_PAYLOAD_BYTES) {
    throw new ProtocolError('too_large', `v3 audio payload is ${payload.length} bytes, over the 65535-byte field limit`);
  }
  const frame = Buffer.allocUnsafe(V3_HEADER_BYTES + payload.length);
  frame.writeUInt8(0, 0); // type 0 = OPUS
  frame.writeUInt8(0, 1); // reserved
  frame.writeUInt16BE(payload.length, 2);
  payload.copy(frame, V3_HEADER_BYTES);
  return frame;
}

/** Timestamps are u32 milliseconds on the wire and wrap, as in FW and the gateway. */
function toU32(ms: number): number {
  if (!Number.isFinite(ms)) return 0;
  return Math.trunc(ms) >>> 0;
}

function checkPayloadLimit(size: number, maxPayloadBytes: number | undefined, what: string): void {
  if (maxPayloadBytes !== undefined && size > maxPayloadBytes) {
    throw new ProtocolError('too_large', `${what} payload is ${size} bytes, over the ${maxPayloadBytes}-byte limit`);
  }
}

/**
 * Decode one WebSocket binary message (exactly one frame). FW checks `payload_size` exactly, so
 * we do too. v2 ignores the version/type/reserved words, as FW does (the MQTT gateway sends
 * zeros there); v3 requires type 0 (Opus).
 * @throws ProtocolError `bad_frame` (short header, size mismatch, v3 type not 0) or `too_large`
 */
export function decodeAudioFrame(version: BinaryProtocolVersion, frame: Buffer, maxPayloadBytes?: number): AudioFrame {
  checkVersion(version);
  if (version === 1) {
    checkPayloadLimit(frame.length, maxPayloadBytes, 'v1 audio');
    return { payload: frame, timestampMs: 0 };
  }
  if (version === 2) return decodeV2Layout(frame, maxPayloadBytes, 'v2 audio frame');
  if (frame.length < V3_HEADER_BYTES) {
    throw new ProtocolError('bad_frame', `v3 audio frame is ${frame.length} bytes, shorter than its 4-byte header`);
  }
  const type = frame.readUInt8(0);
  if (type !== 0) throw new ProtocolError('bad_frame', `v3 audio frame has type ${type}; only 0 (Opus) is supported`);
  const size = frame.readUInt16BE(2);
  checkPayloadLimit(size, maxPayloadBytes, 'v3 audio');
  if (V3_HEADER_BYTES + size !== frame.length) {
    throw new ProtocolError(
      'bad_frame',
      `v3 audio frame header says payload_size ${size} but ${frame.length - V3_HEADER_BYTES} bytes follow`,
    );
  }
  return { payload: frame.subarray(V3_HEADER_BYTES), timestampMs: 0 };
}

function decodeV2Layout(frame: Buffer, maxPayloadBytes: number | undefined, what: string): AudioFrame {
  if (frame.length < V2_HEADER_BYTES) {
    throw new ProtocolError('bad_frame', `${what} is ${frame.length} bytes, shorter than its 16-byte header`);
  }
  const size = frame.readUInt32BE(12);
  checkPayloadLimit(size, maxPayloadBytes, what);
  if (V2_HEADER_BYTES + size !== frame.length) {
    throw new ProtocolError(
      'bad_frame',
      `${what} header says payload_size ${size} but ${frame.length - V2_HEADER_BYTES} bytes follow`,
    );
  }
  return { payload: frame.subarray(V2_HEADER_BYTES), timestampMs: frame.readUInt32BE(8) };
}

/**
 * Server -> MQTT gateway frame (§3.4): `[0]=1 [1]=0 [2:4]=u16 len [4:8]=u32 sequence
 * [8:12]=u32 timestamp_ms [12:16]=u32 len`, then the Opus packet. The gateway reads only the
 * timestamp and the u32 length; the rest mirrors its own UDP header.
 * @throws ProtocolError('too_large') when the payload exceeds 65535 bytes (the u16 copy)
 */
export function encodeGatewayDownlink(payload: Buffer, sequence: number, timestampMs: number): Buffer {
  if (payload.length > MAX_U16_PAYLOAD_BYTES) {
    throw new ProtocolError('too_large', `gateway audio payload is ${payload.length} bytes, over the 65535-byte field limit`);
  }
  const frame = Buffer.allocUnsafe(V2_HEADER_BYTES + payload.length);
  frame.writeUInt8(1, 0);
  frame.writeUInt8(0, 1);
  frame.writeUInt16BE(payload.length, 2);
  frame.writeUInt32BE(toU32(sequence), 4);
  frame.writeUInt32BE(toU32(timestampMs), 8);
  frame.writeUInt32BE(payload.length, 12);
  payload.copy(frame, V2_HEADER_BYTES);
  return frame;
}

/**
 * Decode one MQTT gateway -> server frame (§3.4): bytes 8-11 timestamp, 12-15 Opus length.
 * @throws ProtocolError `bad_frame` (short header or length mismatch) or `too_large`
 */
export function decodeGatewayUplink(frame: Buffer, maxPayloadBytes?: number): AudioFrame {
  return decodeV2Layout(frame, maxPayloadBytes, 'gateway audio frame');
}

/** States of {@link AudioFrameParser}: waiting for a header, for a payload, or dead after an error. */
type ParserState = 'header' | 'payload' | 'failed';

/**
 * Splits a byte stream into frames of the v2 layout (also the MQTT-gateway 16-byte forms, which
 * share the size field at offset 12) or the v3 layout. An explicit state machine over a queue of
 * chunks, so any chunking works: 1-byte chunks, headers split across chunks, many frames in one
 * chunk. A payload lying inside one chunk is returned as a view into it; one spanning chunks is
 * copied once.
 *
 * After an error (size over the limit, v3 type not 0) the parser refuses further input until
 * {@link AudioFrameParser.reset}: the stream position is lost, so the connection should close.
 * Frames completed earlier in the failing chunk are discarded with it.
 */
export class AudioFrameParser {
  private readonly headerBytes: number;
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private state: ParserState = 'header';
  private payloadBytes = 0;
  private timestampMs = 0;

  /**
   * @param version 2 (16-byte header, also the MQTT-gateway forms) or 3 (4-byte header)
   * @param maxPayloadBytes frames announcing a bigger payload are rejected before it is buffered
   */
  constructor(
    readonly version: 2 | 3,
    readonly maxPayloadBytes: number = DEFAULT_MAX_AUDIO_PAYLOAD_BYTES,
  ) {
    if (version !== 2 && version !== 3) {
      throw new ProtocolError('bad_frame', `stream framing exists only for versions 2 and 3, got ${String(version)}`);
    }
    this.headerBytes = version === 2 ? V2_HEADER_BYTES : V3_HEADER_BYTES;
  }

  /** Bytes received but not yet returned as frames (the header of a frame in progress counts). */
  get pendingBytes(): number {
    return this.bufferedBytes + (this.state === 'payload' ? this.headerBytes : 0);
  }

  /**
   * Feed the next chunk of the stream; returns the frames it completed (possibly none).
   * @throws ProtocolError `too_large` or `bad_frame`; the parser is then unusable until reset()
   */
  push(chunk: Buffer): AudioFrame[] {
    if (this.state === 'failed') {
      throw new ProtocolError('bad_frame', 'audio frame parser failed earlier; reset() it before pushing more data');
    }
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    const frames: AudioFrame[] = [];
    try {
      for (;;) {
        if (this.state === 'header') {
          if (this.bufferedBytes < this.headerBytes) break;
          this.readHeader(this.consume(this.headerBytes));
        } else {
          if (this.bufferedBytes < this.payloadBytes) break;
          frames.push({ payload: this.consume(this.payloadBytes), timestampMs: this.timestampMs });
          this.state = 'header';
        }
      }
    } catch (err) {
      this.state = 'failed';
      this.chunks = [];
      this.bufferedBytes = 0;
      throw err;
    }
    return frames;
  }

  /** Forget all buffered bytes and any earlier error; the next byte starts a new header. */
  reset(): void {
    this.chunks = [];
    this.bufferedBytes = 0;
    this.state = 'header';
    this.payloadBytes = 0;
    this.timestampMs = 0;
  }

  private readHeader(header: Buffer): void {
    let size: number;
    if (this.version === 2) {
      size = header.readUInt32BE(12);
      this.timestampMs = header.readUInt32BE(8);
    } else {
      const type = header.readUInt8(0);
      if (type !== 0) throw new ProtocolError('bad_frame', `v3 audio frame has type ${type}; only 0 (Opus) is supported`);
      size = header.readUInt16BE(2);
      this.timestampMs = 0;
    }
    if (size > this.maxPayloadBytes) {
      throw new ProtocolError(
        'too_large',
        `v${this.version} audio frame announces a ${size}-byte payload, over the ${this.maxPayloadBytes}-byte limit`,
      );
    }
    this.payloadBytes = size;
    this.state = 'payload';
  }

  /** Take exactly `n` buffered bytes (caller checked they exist): a view if one chunk holds them. */
  private consume(n: number): Buffer {
    this.bufferedBytes -= n;
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.chunks[0];
      if (chunk === undefined) break; // unreachable: bufferedBytes said the bytes are here
      const take = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, take);
      offset += take;
      if (take === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(take);
    }
    return out;
  }
}
