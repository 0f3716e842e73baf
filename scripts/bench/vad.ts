#!/usr/bin/env node
/**
 * VAD cost benchmark: CPU per stream-second of audio for Silero v5 (batched across streams and one
 * window per inference), WebRTC VAD, and Silero behind the SpeechSegmenter fed 60 ms frames, with
 * the number of real-time streams one core could carry. Bounded to well under a minute.
 *
 *   node dist/scripts/bench/vad.js [--repeat 3] [--max-streams 1000]
 */
import { parseArgs } from 'node:util';
import type { VadModel } from '../../src/providers/types';
import { SileroVadModel } from '../../src/providers/vad/silero-model';
import { WebRtcVadModel } from '../../src/providers/vad/webrtc-model';
import { SpeechSegmenter } from '../../src/providers/vad/segmenter';

const SAMPLE_RATE_HZ = 16000;
const WINDOW_SAMPLES = 512;
const BUDGET_MS = 50_000;

interface Row {
  engine: string;
  streams: number;
  /** CPU (all threads of this process) per second of audio of one stream, in µs. */
  cpuUsPerStreamSecond: number;
  wallMsTotal: number;
  inferences?: number;
}

/** One second of deterministic speech-band noise with bursts (content hardly matters to the cost). */
function audio(seed: number, samples = SAMPLE_RATE_HZ): Int16Array {
  const out = new Int16Array(samples);
  let state = seed * 2654435761 || 1;
  for (let i = 0; i < samples; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    const envelope = Math.floor(i / 4000) % 2 === 0 ? 3000 : 200;
    out[i] = Math.round(((state / 0x100000000) * 2 - 1) * envelope);
  }
  return out;
}

/** Measure fn: best of `repeat` runs by CPU time. */
async function measure(repeat: number, fn: () => Promise<void>): Promise<{ cpuUs: number; wallMs: number }> {
  let best = { cpuUs: Infinity, wallMs: Infinity };
  for (let r = 0; r < repeat; r++) {
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    await fn();
    const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
    const used = process.cpuUsage(cpu);
    const cpuUs = used.user + used.system;
    if (cpuUs < best.cpuUs) best = { cpuUs, wallMs };
  }
  return best;
}

/** N streams each fed one second at once: every window is enqueued immediately. */
async function feedWindows(model: VadModel, inputs: Int16Array[]): Promise<void> {
  const streams = inputs.map(() => model.createStream());
  const pending: Promise<number>[] = [];
  inputs.forEach((pcm, i) => {
    for (let k = 0; k + WINDOW_SAMPLES <= pcm.length; k += WINDOW_SAMPLES) {
      pending.push(streams[i]!.process(pcm.subarray(k, k + WINDOW_SAMPLES)));
    }
  });
  await Promise.all(pending);
  streams.forEach((s) => s.close());
}

/** N segmenters fed 60 ms frames in lock step, as sessions receiving real-time device audio. */
async function feedFrames(model: VadModel, inputs: Int16Array[]): Promise<void> {
  const segmenters = inputs.map(() => new SpeechSegmenter(model.createStream(), model.windowSamples));
  const frameSamples = 960;
  for (let offset = 0; offset < SAMPLE_RATE_HZ; offset += frameSamples) {
    await Promise.all(segmenters.map((s, i) => s.push(inputs[i]!.subarray(offset, offset + frameSamples))));
  }
  segmenters.forEach((s) => s.close());
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { repeat: { type: 'string', default: '3' }, 'max-streams': { type: 'string', default: '1000' } },
  });
  const repeat = Math.max(1, Number(values.repeat));
  const maxStreams = Math.max(1, Number(values['max-streams']));
  const began = Date.now();
  const rows: Row[] = [];
  const inputsFor = (n: number): Int16Array[] => Array.from({ length: n }, (_, i) => audio(i + 1));
  const secondsPerStream = Math.floor(SAMPLE_RATE_HZ / WINDOW_SAMPLES) * WINDOW_SAMPLES / SAMPLE_RATE_HZ;

  const run = async (engine: string, model: VadModel, n: number, feed: typeof feedWindows, stats?: () => { inferences: number }): Promise<void> => {
    if (Date.now() - began > BUDGET_MS || n > maxStreams) return;
    const inputs = inputsFor(n);
    await feed(model, inputs.slice(0, Math.min(n, 8))); // warm-up
    const before = stats?.().inferences ?? 0;
    const { cpuUs, wallMs } = await measure(repeat, () => feed(model, inputs));
    const inferences = stats ? (stats().inferences - before) / repeat : undefined;
    rows.push({ engine, streams: n, cpuUsPerStreamSecond: cpuUs / (n * secondsPerStream), wallMsTotal: wallMs, inferences });
  };

  const batched = await SileroVadModel.load({ maxBatch: 512, intraOpThreads: 1 });
  for (const n of [1, 32, 256, 1000]) await run('silero batched', batched, n, feedWindows, () => batched.stats());
  for (const n of [32, 256]) await run('silero + segmenter, 60 ms frames', batched, n, feedFrames, () => batched.stats());
  await batched.close();

  const single = await SileroVadModel.load({ maxBatch: 1, intraOpThreads: 1 });
  for (const n of [1, 32, 256]) await run('silero unbatched', single, n, feedWindows, () => single.stats());
  await single.close();

  const webrtc = await WebRtcVadModel.load();
  for (const n of [1, 32, 256]) await run('webrtc (fvad wasm)', webrtc, n, feedWindows);
  await webrtc.close();

  const header = ['engine', 'streams', 'CPU µs / stream-s', 'windows / inference', 'streams at real time / core', 'wall ms'];
  const lines = rows.map((r) => [
    r.engine,
    String(r.streams),
    r.cpuUsPerStreamSecond.toFixed(0),
    r.inferences === undefined ? '-' : ((r.streams * Math.floor(SAMPLE_RATE_HZ / WINDOW_SAMPLES)) / r.inferences).toFixed(1),
    Math.floor(1e6 / r.cpuUsPerStreamSecond).toLocaleString('en-US'),
    r.wallMsTotal.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`VAD cost, Node ${process.version}, onnxruntime 1 intra-op thread, best of ${repeat}, 1 s of audio per stream`);
  console.log(format(header));
  for (const l of lines) console.log(format(l));
  console.log(`total ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
