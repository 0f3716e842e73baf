/**
 * Spoken turns from DeviceSimulator devices, timed on the device side: the speech goes out in real
 * time (one 60 ms frame per 60 ms) followed by real-time silence, so the hub's VAD ends the
 * utterance after its silence window; the turn is timed from the last voiced frame sent to the
 * first downlink audio frame received, then barged in (abort) so the next turn needn't wait for
 * the whole reply to play out.
 */
import { DeviceSimulator } from '../../../src/sim/device-simulator';
import type { BenchSpeech } from './speech';
import { UPLINK_FRAME_MS } from './speech';

/** One timed turn. Times are epoch ms (same clock as the hub's Date.now(): same machine). */
export interface TurnSample {
  deviceId: string;
  /** Turn number within this device's run (1-based). */
  index: number;
  ok: boolean;
  error?: string;
  /** When the last voiced uplink frame left the device. */
  lastVoicedSentMs: number;
  /** When the first downlink audio frame arrived (decoded, device speaking). */
  firstAudioMs?: number;
  sttText?: string;
  /** Largest delay of a sent frame behind the device's real-time schedule in this turn. */
  senderLagMs?: number;
  /** First sentence the device was told about (tts sentence_start). */
  firstSentence?: string;
}

/** Options of runDeviceTurns. */
export interface TurnRunOptions {
  turns: number;
  /** Silence sent after the speech at most (the send stops once the device starts speaking). */
  trailingSilenceMs?: number;
  /** A turn without audio by then counts as failed. */
  firstAudioTimeoutMs?: number;
  /** Pause between turns. */
  pauseMs?: number;
  /** Stop early when this returns true (benchmark deadline). */
  shouldStop?: () => boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Connect a simulator directly to `wsUrl` (OTA is not what is measured). */
export async function connectSimulator(wsUrl: string, deviceId: string): Promise<DeviceSimulator> {
  const sim = new DeviceSimulator({ wsUrl, deviceId, channelTimeoutMs: 0 });
  await sim.connect();
  return sim;
}

/** Run `opts.turns` spoken turns on a connected simulator. Never throws for a failed turn. */
export async function runDeviceTurns(sim: DeviceSimulator, speech: BenchSpeech, opts: TurnRunOptions): Promise<TurnSample[]> {
  const samples: TurnSample[] = [];
  const silenceFrames = Math.ceil((opts.trailingSilenceMs ?? 2500) / UPLINK_FRAME_MS);
  const frames = [...speech.speechFrames, ...new Array<Buffer>(silenceFrames).fill(speech.silenceFrame)];
  const lastVoicedOffset = speech.speechFrames.length - 1;
  for (let index = 1; index <= opts.turns; index++) {
    if (opts.shouldStop?.()) break;
    if (!sim.connected) {
      samples.push({ deviceId: sim.deviceId, index, ok: false, error: 'disconnected', lastVoicedSentMs: Number.NaN });
      break;
    }
    if (sim.state !== 'listening' || sim.currentTurn?.completed !== false) sim.listen('auto');
    const turn = sim.currentTurn;
    if (!turn) throw new Error('unreachable: listen() made no turn');
    // The sim clock is performance.now()-based; map it to epoch ms once per turn (drift is negligible in seconds).
    const epochOffsetMs = Date.now() - sim.nowMs();
    const firstSentIndex = sim.sent.length;
    let firstAudioSimMs: number | undefined;
    const gotAudio = new Promise<'audio' | 'stop' | 'timeout'>((resolve) => {
      const timer = setTimeout(() => finish('timeout'), opts.firstAudioTimeoutMs ?? 10_000);
      const onAudio = (): void => {
        firstAudioSimMs = sim.nowMs();
        finish('audio');
      };
      const onStop = (): void => finish('stop');
      const onClosed = (): void => finish('stop');
      function finish(result: 'audio' | 'stop' | 'timeout'): void {
        clearTimeout(timer);
        sim.off('audio', onAudio);
        sim.off('tts-stop', onStop);
        sim.off('closed', onClosed);
        resolve(result);
      }
      sim.on('audio', onAudio);
      sim.on('tts-stop', onStop);
      sim.on('closed', onClosed);
    });
    // Speech and trailing silence in one real-time run: frame i leaves at start + i*60 ms, so the
    // silence after the last voiced frame is paced like a microphone's. It stops once the device speaks.
    const sending = sim.sendFrames(frames, { realtime: true }).catch((error: unknown) => error);
    const outcome = await gotAudio;
    const sample: TurnSample = { deviceId: sim.deviceId, index, ok: outcome === 'audio', lastVoicedSentMs: Number.NaN };
    // The send loop stops at its next frame now that the device speaks; only then barge in, or the
    // device would be listening again after the abort and the loop would send all its silence.
    if (outcome === 'audio') await sending;
    if (outcome === 'audio' && sim.connected) {
      sim.abort('bench_next_turn');
    } else if (outcome !== 'audio') {
      sample.error = outcome === 'timeout' ? 'no audio within the timeout' : 'turn ended without audio';
      if (outcome === 'timeout' && sim.connected) sim.abort('bench_timeout');
    }
    await sending;
    const audioSent = sim.sent.slice(firstSentIndex).filter((s) => s.audioBytes !== undefined);
    const lastVoiced = audioSent[lastVoicedOffset];
    if (lastVoiced) sample.lastVoicedSentMs = lastVoiced.atMs + epochOffsetMs;
    // How late the device's own real-time clock sent frames (a busy benchmark process delays the
    // silence the VAD waits for, which would look like VAD lateness).
    const firstFrame = audioSent[0];
    if (firstFrame) {
      let lagMs = 0;
      audioSent.forEach((f, i) => (lagMs = Math.max(lagMs, f.atMs - (firstFrame.atMs + i * UPLINK_FRAME_MS))));
      sample.senderLagMs = lagMs;
    }
    if (firstAudioSimMs !== undefined) sample.firstAudioMs = firstAudioSimMs + epochOffsetMs;
    try {
      if (sim.connected && !turn.completed) await sim.waitForTurnEnd(turn, 10_000);
    } catch (error) {
      sample.ok = false;
      sample.error ??= `no tts stop after abort: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (turn.sttText !== undefined) sample.sttText = turn.sttText;
    if (turn.sentences[0] !== undefined) sample.firstSentence = turn.sentences[0];
    samples.push(sample);
    await sleep(opts.pauseMs ?? 100);
  }
  return samples;
}
