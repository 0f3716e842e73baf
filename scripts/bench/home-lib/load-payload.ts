/**
 * The benchmark message: a fixed-size payload whose first bytes carry the publish time and a
 * sequence number, so any subscriber (in this process or in the broker's process) can compute
 * publish -> receive latency and count deliveries per message.
 *
 * The time is process.hrtime.bigint(): CLOCK_MONOTONIC on Linux, one clock for every process of
 * the machine, so sender and receiver may live in different processes.
 */

/** Bytes used by the header (time, sequence, run id); the rest is filler. */
export const PAYLOAD_HEADER_BYTES = 16;

/** Build one payload of `bytes` (at least the header). */
export function makePayload(bytes: number, seq: number, runId: number): Buffer {
  const buf = Buffer.alloc(Math.max(bytes, PAYLOAD_HEADER_BYTES), 0x61);
  buf.writeUInt32LE(seq, 8);
  buf.writeUInt32LE(runId, 12);
  // Last, so the time is as late as possible before the client library takes the buffer.
  buf.writeBigUInt64LE(process.hrtime.bigint(), 0);
  return buf;
}

/** What a receiver reads back; undefined for a payload of another shape or another run. */
export function readPayload(payload: Buffer, runId: number): { sentNs: bigint; seq: number } | undefined {
  if (payload.length < PAYLOAD_HEADER_BYTES || payload.readUInt32LE(12) !== runId) return undefined;
  return { sentNs: payload.readBigUInt64LE(0), seq: payload.readUInt32LE(8) };
}

/**
 * Counts deliveries per message and latencies of every delivery for one run. A message is
 * complete when every subscriber has received it; the generator's window is in complete messages.
 */
export class DeliveryCounter {
  readonly latenciesMs: Float64Array;
  delivered = 0;
  completed = 0;
  duplicates = 0;
  lastDeliveryNs = 0n;
  private readonly counts: Uint8Array;

  constructor(
    readonly messages: number,
    readonly subscribers: number,
    readonly runId: number,
  ) {
    this.counts = new Uint8Array(messages);
    this.latenciesMs = new Float64Array(messages * subscribers);
  }

  /** Record one delivery; returns true when it completed its message. */
  record(payload: Buffer): boolean {
    const now = process.hrtime.bigint();
    const read = readPayload(payload, this.runId);
    if (!read || read.seq >= this.messages) return false;
    const count = this.counts[read.seq] ?? 0;
    if (count >= this.subscribers) {
      this.duplicates++;
      return false;
    }
    this.counts[read.seq] = count + 1;
    if (this.delivered < this.latenciesMs.length) this.latenciesMs[this.delivered] = Number(now - read.sentNs) / 1e6;
    this.delivered++;
    this.lastDeliveryNs = now;
    if (count + 1 === this.subscribers) {
      this.completed++;
      return true;
    }
    return false;
  }

  /** Latencies recorded so far. */
  latencies(): Float64Array {
    return this.latenciesMs.subarray(0, this.delivered);
  }
}
