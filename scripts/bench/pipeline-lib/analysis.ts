/**
 * Joins what the devices saw (client clock) with what the hub's probe recorded (msg.timings, hub
 * clock; both are Date.now() on the same machine) and turns them into latency samples.
 */
import type { ProbeRow } from './flows';
import type { TurnSample } from './turn-runner';

/** Latencies of one turn, in ms. */
export interface TurnLatency {
  /** Hub: msg.timings.speechEnd (VAD decided) -> msg.timings.ttsFirstAudio (TTS emitted the first audio msg). */
  stageMs?: number;
  /** Hub: speechEnd -> the probe wired beside `xiaozhi out` received the first audio msg. */
  probeMs?: number;
  /** speechEnd -> first audio frame received by the device (pacer, socket, loopback delivery included). */
  deliveredMs?: number;
  /** Last voiced frame sent -> VAD decided, minus the silence window. */
  vadBeyondWindowMs?: number;
  /** Device view: last voiced frame sent -> first audio frame received, minus the silence window. */
  clientBeyondWindowMs?: number;
  asrMs?: number;
  llmFirstSentenceMs?: number;
  ttsMs?: number;
}

/** The probe row of a device turn: same device, VAD end between the last voiced frame and the first audio. */
function rowFor(sample: TurnSample, rows: ProbeRow[]): ProbeRow | undefined {
  const upper = sample.firstAudioMs ?? sample.lastVoicedSentMs + 10_000;
  let best: ProbeRow | undefined;
  for (const row of rows) {
    const end = row.timings.speechEnd;
    if (row.device !== sample.deviceId || end === undefined) continue;
    if (end < sample.lastVoicedSentMs - 200 || end > upper + 1) continue;
    if (!best || end < (best.timings.speechEnd ?? Infinity)) best = row;
  }
  return best;
}

const diff = (to: number | undefined, from: number | undefined): number | undefined =>
  to !== undefined && from !== undefined && Number.isFinite(to) && Number.isFinite(from) ? to - from : undefined;

/** Latencies of every successful turn (unmatched probe rows leave the hub-side fields empty). */
export function turnLatencies(samples: TurnSample[], rows: ProbeRow[], silenceMs: number): TurnLatency[] {
  const out: TurnLatency[] = [];
  for (const s of samples) {
    if (!s.ok || s.firstAudioMs === undefined || !Number.isFinite(s.lastVoicedSentMs)) continue;
    const row = rowFor(s, rows);
    const t = row?.timings ?? {};
    const lat: TurnLatency = {};
    const set = (key: keyof TurnLatency, value: number | undefined): void => {
      if (value !== undefined) lat[key] = value;
    };
    set('stageMs', diff(t.ttsFirstAudio, t.speechEnd));
    set('probeMs', diff(row?.probeMs, t.speechEnd));
    set('deliveredMs', diff(s.firstAudioMs, t.speechEnd));
    const vad = diff(t.speechEnd, s.lastVoicedSentMs);
    set('vadBeyondWindowMs', vad === undefined ? undefined : vad - silenceMs);
    set('clientBeyondWindowMs', (s.firstAudioMs - s.lastVoicedSentMs) - silenceMs);
    set('asrMs', diff(t.asrEnd, t.asrStart));
    set('llmFirstSentenceMs', diff(t.llmFirstSentence, t.llmStart));
    set('ttsMs', diff(t.ttsFirstAudio, t.llmFirstSentence ?? t.asrEnd));
    out.push(lat);
  }
  return out;
}

/** The defined values of one field. */
export function field(latencies: TurnLatency[], key: keyof TurnLatency): number[] {
  const values: number[] = [];
  for (const l of latencies) {
    const v = l[key];
    if (v !== undefined && Number.isFinite(v)) values.push(v);
  }
  return values;
}

/** Utterances of streaming devices: how many the VAD found, and how late. */
export interface StreamDetection {
  expected: number;
  detected: number;
  /** VAD decision - last voiced frame sent - silence window, per detected utterance. */
  lateMs: number[];
}

/** Match every whole utterance a client sent in [fromMs, toMs] with the VAD's `utterance` rows. */
export function streamDetections(ends: Map<string, number[]>, rows: ProbeRow[], silenceMs: number, fromMs: number, toMs: number, giveUpMs = 3000): StreamDetection {
  const byDevice = new Map<string, number[]>();
  for (const row of rows) {
    const end = row.timings.speechEnd;
    if (row.device === undefined || end === undefined) continue;
    let list = byDevice.get(row.device);
    if (!list) byDevice.set(row.device, (list = []));
    list.push(end);
  }
  for (const list of byDevice.values()) list.sort((a, b) => a - b);
  const result: StreamDetection = { expected: 0, detected: 0, lateMs: [] };
  for (const [device, sent] of ends) {
    const found = byDevice.get(device) ?? [];
    for (const end of sent) {
      if (end < fromMs || end > toMs) continue;
      result.expected++;
      const hit = found.find((t) => t > end - 100 && t <= end + silenceMs + giveUpMs);
      if (hit !== undefined) {
        result.detected++;
        result.lateMs.push(hit - end - silenceMs);
      }
    }
  }
  return result;
}
