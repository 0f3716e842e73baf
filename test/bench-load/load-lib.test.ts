import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Histogram, Registry } from 'prom-client';
import { OpusFrameEncoder } from '../../src/audio/opus';
import { DeviceGateway } from '../../src/gateway/device-gateway';
import type { Session } from '../../src/gateway/session';
import { DeviceFleet } from '../../scripts/bench/load-lib/device-fleet';
import { loadDeviceId, replyFrameStats, type TurnRecord } from '../../scripts/bench/load-lib/load-device';
import { writeModeSection } from '../../scripts/bench/load-lib/load-report';
import { buildLoadFlow } from '../../scripts/bench/load-lib/load-step';
import { machineBusyPercent, sampleMachineCpu } from '../../scripts/bench/load-lib/machine-cpu';
import { histogramDelta, quantileBound, readHistogram, shareAbove } from '../../scripts/bench/load-lib/prom-histogram';

/** 60 ms Opus frames of a 440 Hz tone (or silence) at `rateHz`. */
function opusFrames(count: number, rateHz: number, tone: boolean): Buffer[] {
  const encoder = new OpusFrameEncoder({ sampleRateHz: rateHz, frameMs: 60 });
  const frames: Buffer[] = [];
  for (let k = 0; k < count; k++) {
    const pcm = new Int16Array(encoder.frameSamples);
    if (tone) for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (k * pcm.length + i)) / rateHz));
    frames.push(encoder.encode(pcm));
  }
  return frames;
}

describe('bench/load-lib', () => {
  describe('replyFrameStats', () => {
    it('leaves the pre-roll burst out of the gaps and finds a late frame the pre-roll could not cover', () => {
      // Frames 0-1 in a burst at 0, then one per 60 ms; frame 5 arrives 300 ms late.
      const arrivals = [0, 0, 60, 120, 180, 540, 600];
      const { gapsMs, underruns } = replyFrameStats(arrivals, arrivals.length, 2, 60);
      assert.deepEqual(gapsMs, [60, 60, 60, 360, 60]);
      // Played until 300 ms, frame 5 came at 540: one underrun.
      assert.equal(underruns, 1);
    });

    it('counts no underrun when the pre-roll absorbs a late frame', () => {
      // 5 frames of pre-roll = 300 ms of audio in hand; frame 5 is 100 ms late but audio lasts until 540.
      const arrivals = [0, 0, 0, 0, 0, 60, 220, 240];
      const { gapsMs, underruns } = replyFrameStats(arrivals, arrivals.length, 5, 60);
      assert.deepEqual(gapsMs, [60, 160, 20]);
      assert.equal(underruns, 0);
    });

    it('uses only the first `count` arrivals', () => {
      const arrivals = new Float64Array([0, 60, 120, 999_999]);
      assert.deepEqual(replyFrameStats(arrivals, 3, 1, 60), { gapsMs: [60, 60], underruns: 0 });
    });
  });

  describe('prom-histogram', () => {
    it('reads a prom-client histogram, subtracts two scrapes and finds the share above 65 ms', async () => {
      const registry = new Registry();
      const h = new Histogram({ name: 'xiaozhi_downlink_frame_gap_ms', help: 'gaps', buckets: [20, 60, 65, 70, 100], registers: [registry] });
      const lat = new Histogram({ name: 'xiaozhi_stage_latency_ms', help: 'lat', labelNames: ['stage'], buckets: [10, 100, 1000], registers: [registry] });
      for (const g of [60, 60, 80]) h.observe(g);
      lat.observe({ stage: 'asr' }, 5);
      const before = await registry.metrics();
      for (const g of [61, 62, 64, 66, 200, 60, 60, 60, 60, 60]) h.observe(g);
      for (const v of [50, 50, 500]) lat.observe({ stage: 'speech_end_to_first_audio' }, v);
      const after = await registry.metrics();

      const delta = histogramDelta(readHistogram(after, 'xiaozhi_downlink_frame_gap_ms'), readHistogram(before, 'xiaozhi_downlink_frame_gap_ms'));
      assert.ok(delta);
      assert.equal(delta.count, 10);
      assert.equal(delta.buckets.get(65), 8);
      assert.equal(shareAbove(delta, 65), 0.2);
      assert.ok(Number.isNaN(shareAbove(delta, 63)), 'a bound that is not a bucket is unknown, not guessed');

      const stage = readHistogram(after, 'xiaozhi_stage_latency_ms', { stage: 'speech_end_to_first_audio' });
      assert.ok(stage);
      assert.equal(stage.count, 3);
      assert.equal(stage.sum, 600);
      assert.equal(quantileBound(stage, 0.5), 100);
      assert.equal(quantileBound(stage, 0.99), 1000);
      assert.equal(readHistogram(after, 'xiaozhi_nope'), undefined);
    });
  });

  describe('machine-cpu', () => {
    it('turns two /proc/stat samples into % of one core', () => {
      assert.equal(machineBusyPercent({ totalTicks: 1000, idleTicks: 600 }, { totalTicks: 1200, idleTicks: 650 }, 2), 150);
      assert.ok(Number.isNaN(machineBusyPercent(undefined, { totalTicks: 1, idleTicks: 0 }, 2)));
      const sample = sampleMachineCpu();
      if (process.platform === 'linux') assert.ok(sample && sample.totalTicks >= sample.idleTicks);
    });
  });

  describe('buildLoadFlow', () => {
    it('derives both flows from flows/default.json without the pipeline benchmark probe', () => {
      for (const mode of ['instant', 'offline'] as const) {
        const { flow, silenceMs, prerollFrames } = buildLoadFlow(mode);
        assert.ok(silenceMs > 0 && prerollFrames >= 0);
        const ids = new Set(flow.map((n) => n.id));
        assert.ok(!ids.has('bench_probe') && !ids.has('bench_http_in'));
        for (const node of flow) for (const port of node.wires ?? []) for (const id of port) assert.ok(ids.has(id), `${node.id} is wired to missing ${id}`);
        const asr = flow.find((n) => n.id === 'asr1');
        assert.equal(asr?.provider, mode === 'instant' ? 'openai' : 'pocketsphinx');
      }
    });
  });

  describe('writeModeSection', () => {
    it('keeps the other mode when one mode is rewritten', () => {
      const dir = mkdtempSync(join(tmpdir(), 'bench-load-report-'));
      try {
        const file = join(dir, 'sub', 'load.md');
        writeModeSection(file, '# T', 'offline', 'offline one');
        writeModeSection(file, '# T', 'instant', 'instant one');
        writeModeSection(file, '# T', 'offline', 'offline two');
        const text = readFileSync(file, 'utf8');
        assert.ok(text.startsWith('# T\n'));
        assert.ok(text.includes('instant one') && text.includes('offline two') && !text.includes('offline one'));
        assert.ok(text.indexOf('instant one') < text.indexOf('offline two'));
        writeFileSync(file, 'garbage without markers');
        writeModeSection(file, '# T', 'instant', 'fresh');
        assert.equal(readFileSync(file, 'utf8'), '# T\n\n<!-- bench:load instant -->\nfresh\n<!-- /bench:load instant -->\n');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('DeviceFleet against the real DeviceGateway', function () {
    this.timeout(20_000);
    let gateway: DeviceGateway | undefined;

    afterEach(async () => {
      await gateway?.close();
      gateway = undefined;
    });

    it('does firmware-like turns: hello, MCP answers, listen start auto, uplink until tts start, reply, next turn', async () => {
      gateway = new DeviceGateway({ port: 0, host: '127.0.0.1', downlink: { prerollFrames: 2 } });
      await gateway.start();
      const speechFrames = opusFrames(6, 16_000, true);
      const [silenceFrame] = opusFrames(1, 16_000, false);
      assert.ok(silenceFrame);
      const reply = opusFrames(8, 24_000, true);
      const sessions: Session[] = [];
      const uplinkWhileSpeaking: number[] = [];
      const listenModes: string[] = [];
      const toolsSeen: string[][] = [];
      gateway.on('session', (session: Session) => {
        sessions.push(session);
        session.on('tools', (tools: { name: string }[]) => toolsSeen.push(tools.map((t) => t.name)));
        session.on('listen', (e: { state: string; mode: string }) => listenModes.push(`${e.state}/${e.mode}`));
        let voiced = 0;
        let silentAfterVoice = 0;
        let speakingSinceMs = 0;
        session.on('audio', (audio: { opus: Buffer }) => {
          if (session.speaking) {
            // A frame already on the wire when `tts start` left is not the device's fault: 150 ms of grace.
            if (Date.now() - speakingSinceMs > 150) uplinkWhileSpeaking.push(1);
            return;
          }
          // A "VAD" that knows the frames: the command's frames, then 3 silent ones end the utterance.
          if (speechFrames.some((f) => f.equals(audio.opus))) {
            voiced++;
            silentAfterVoice = 0;
            return;
          }
          if (voiced === 0) return;
          if (++silentAfterVoice === 3) {
            voiced = 0;
            const turn = session.turn;
            session.sendStt('what time is it', turn);
            session.startSpeaking(turn);
            speakingSinceMs = Date.now();
            session.queueSentence('It is ten.', turn);
            session.queueOpus(reply, turn);
            session.finishSpeaking(turn);
          }
        });
      });

      const turns: TurnRecord[] = [];
      const fleet = new DeviceFleet({
        url: `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`,
        speech: { speechFrames, silenceFrame },
        prerollFrames: 2,
        thinkMinMs: 200,
        thinkMaxMs: 300,
        turnTimeoutMs: 8000,
        firstTurnSpreadMs: 200,
      });
      try {
        const connected = await fleet.connect(2);
        assert.deepEqual({ connected: connected.connected, failed: connected.failed }, { connected: 2, failed: 0 });
        assert.deepEqual(fleet.devices.map((d) => d.deviceId).sort(), [loadDeviceId(0), loadDeviceId(1)]);
        fleet.start();
        // Two turns per device (bounded wait, no timing assertion).
        const until = Date.now() + 15_000;
        while (Date.now() < until && (fleet.turns.filter((t) => t.deviceIndex === 0).length < 2 || fleet.turns.filter((t) => t.deviceIndex === 1).length < 2)) {
          await new Promise((r) => setTimeout(r, 50));
        }
        fleet.drain();
        await fleet.settle(8000);
        turns.push(...fleet.turns);
      } finally {
        await fleet.close();
      }

      assert.ok(turns.length >= 4, `expected 2 turns per device, got ${turns.length}`);
      for (const t of turns) {
        assert.equal(t.ok, true, t.error);
        assert.equal(t.framesReceived, reply.length);
        assert.equal(t.sentences, 1);
        assert.equal(t.sttText, 'what time is it');
        assert.ok(t.lastVoicedMs > t.startedMs && t.firstAudioMs >= t.ttsStartMs && t.ttsStopMs > t.firstAudioMs);
        assert.equal(t.gapsMs.length, reply.length - 2);
      }
      // The gateway's MCP handshake got the device's tools; the device listened in auto mode again after each turn.
      assert.equal(toolsSeen.length, 2);
      for (const names of toolsSeen) assert.deepEqual(names, ['self.get_device_status', 'self.audio_speaker.set_volume']);
      assert.ok(listenModes.filter((m) => m === 'start/auto').length >= 4);
      assert.equal(uplinkWhileSpeaking.length, 0, 'the microphone must be off while the device speaks');
      assert.ok(sessions.every((s) => s.mcpReady));
    });

    it('fails a turn the server never answers, aborts it and keeps going', async () => {
      gateway = new DeviceGateway({ port: 0, host: '127.0.0.1' });
      await gateway.start();
      const aborts: string[] = [];
      gateway.on('session', (session: Session) => session.on('abort', () => aborts.push(session.id)));
      const speechFrames = opusFrames(3, 16_000, true);
      const [silenceFrame] = opusFrames(1, 16_000, false);
      assert.ok(silenceFrame);
      const fleet = new DeviceFleet({
        url: `ws://127.0.0.1:${gateway.port}/xiaozhi/v1/`,
        speech: { speechFrames, silenceFrame },
        prerollFrames: 2,
        thinkMinMs: 100,
        thinkMaxMs: 100,
        turnTimeoutMs: 600,
        firstTurnSpreadMs: 50,
      });
      try {
        await fleet.connect(1);
        fleet.start();
        const until = Date.now() + 10_000;
        while (Date.now() < until && fleet.turns.length < 2) await new Promise((r) => setTimeout(r, 50));
      } finally {
        await fleet.close();
      }
      assert.ok(fleet.turns.length >= 2);
      for (const t of fleet.turns) {
        assert.equal(t.ok, false);
        assert.equal(t.error, 'no reply audio within the turn timeout');
      }
      assert.ok(aborts.length >= 2, 'each timed-out turn sends an abort');
    });
  });
});
