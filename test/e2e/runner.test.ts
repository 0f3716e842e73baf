import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceSimulator, synthesizeSpeech } from '../../src/sim';
import { PocketsphinxAsr } from '../../src/providers/asr/pocketsphinx';
import { Zigbee2mqttPeer } from '../broker/catalogue-peers';

/** A free TCP port on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Start `npm start`'s program (the built runner) with its own data dir and ports. */
export async function startHub(flowFile?: string): Promise<{ child: ChildProcess; devicePort: number; editorPort: number; mqttPort: number; output: () => string; stop: () => Promise<void> }> {
  const runner = join(process.cwd(), 'dist', 'scripts', 'start.js');
  if (!existsSync(runner)) throw new Error(`${runner} is missing: run npm run build`);
  const dataDir = mkdtempSync(join(tmpdir(), 'xiaozhi-hub-'));
  const [editorPort, devicePort, mqttPort] = [await freePort(), await freePort(), await freePort()];
  const args = [runner, '--data', dataDir];
  if (flowFile) args.push('--flow', flowFile);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, NODE_RED_PORT: String(editorPort), XIAOZHI_PORT: String(devicePort), XIAOZHI_MQTT_PORT: String(mqttPort), XIAOZHI_LLM_BASE_URL: '', OPENAI_BASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!/xiaozhi devices: ws:\/\//.test(out)) {
    if (child.exitCode !== null) throw new Error(`hub exited early (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`hub did not start in 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { child, devicePort, editorPort, mqttPort, output: () => out, stop };
}

describe('npm start (embedded Node-RED) + the device simulator', function () {
  this.timeout(60_000);

  it('the parrot flow completes real turns: typed text, and a push-to-talk utterance played back', async () => {
    const hub = await startHub(join(process.cwd(), 'flows', 'parrot.json'));
    const sim = new DeviceSimulator({ otaUrl: `http://127.0.0.1:${hub.devicePort}/xiaozhi/ota/` });
    try {
      assert.match(hub.output(), /OTA URL\s+: http:\/\/[0-9.]+:\d+\/xiaozhi\/ota\//);
      assert.doesNotMatch(hub.output(), /0\.0\.0\.0/);
      const ota = await sim.checkOta();
      assert.equal(ota.websocket?.url, `ws://127.0.0.1:${hub.devicePort}/xiaozhi/v1/`);
      await sim.connect();
      const typed = await sim.waitForTurnEnd(sim.detect('hello there'), 10_000);
      assert.equal(typed.sttText, 'hello there');
      assert.deepEqual(typed.sentences, ['You typed: hello there']);

      // 1.2 s of a 300 Hz tone, spoken push-to-talk; the parrot plays it back.
      const pcm = new Int16Array(16000 * 1.2);
      for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 16000));
      const spoken = await sim.speakPcm(pcm, { mode: 'manual', realtime: false });
      const turn = await sim.waitForTurnEnd(spoken, 15_000);
      assert.match(turn.sttText ?? '', /1\.2 s of audio/);
      assert.ok(turn.audioFrames >= 19, `played back ${turn.audioFrames} frames`);
      assert.ok(Math.abs(turn.audioDurationMs - 1200) <= 120, `duration ${turn.audioDurationMs} ms`);
    } finally {
      await sim.close();
      await hub.stop();
    }
  });

  it('the default flow answers real speech offline: VAD -> pocketsphinx -> responder -> espeak -> device', async function () {
    if (!PocketsphinxAsr.available()) {
      console.log(`      skipped: ${PocketsphinxAsr.unavailableReason() ?? 'pocketsphinx decoder not built'}`);
      this.skip();
    }
    const hub = await startHub();
    const sim = new DeviceSimulator({ otaUrl: `http://127.0.0.1:${hub.devicePort}/xiaozhi/ota/` });
    try {
      await sim.checkOta();
      await sim.connect();
      const speech = await synthesizeSpeech('what time is it', { sampleRateHz: 16000 });
      assert.equal(speech.sampleRateHz, 16000);
      // Auto mode: the server's VAD finds the end of speech in the trailing silence.
      const spoken = await sim.speakPcm(speech.pcm, { mode: 'auto', realtime: true, trailingSilenceMs: 1500 });
      const turn = await sim.waitForTurnEnd(spoken, 20_000);
      assert.equal(turn.sttText, 'what time is it');
      assert.equal(turn.sentences.length, 1);
      assert.match(turn.sentences[0]!, /\d{1,2}:\d{2}/, `a time in "${turn.sentences[0]}"`);
      assert.ok(turn.audioFrames >= 5, `${turn.audioFrames} frames of reply audio`);
      assert.equal(turn.decodeErrors, 0);

      // Typed chat in the same session goes through the same chain without ASR.
      const typed = await sim.waitForTurnEnd(sim.detect('tell me a joke'), 20_000);
      assert.equal(typed.sttText, 'tell me a joke');
      assert.ok(typed.sentences.length >= 1);
      assert.ok(typed.audioFrames > 0);
      assert.match(hub.output(), /Started flows/);

      // The package is loaded like a palette install: its examples are under Import > Examples.
      const res = await fetch(`http://127.0.0.1:${hub.editorPort}/library/examples/flows/node-red-contrib-xiaozhi`);
      const examples = (await res.json()) as Array<{ fn: string }>;
      assert.ok(examples.some((e) => e.fn === '01 - Offline voice hub'), JSON.stringify(examples));
    } finally {
      await sim.close();
      await hub.stop();
    }
  });

  it('out of the box, a zigbee2mqtt light that appears on the embedded broker is switched by voice command', async () => {
    const hub = await startHub();
    const sim = new DeviceSimulator({ otaUrl: `http://127.0.0.1:${hub.devicePort}/xiaozhi/ota/` });
    let peer: Zigbee2mqttPeer | undefined;
    try {
      assert.match(hub.output(), /MQTT broker\s+: mqtt:\/\//);
      // zigbee2mqtt connects to the hub's broker after start: no flow editing, no restart.
      for (let i = 0; i < 100 && !/mqtt broker listening/.test(hub.output()); i++) await new Promise((r) => setTimeout(r, 100));
      peer = await Zigbee2mqttPeer.start(`mqtt://127.0.0.1:${hub.mqttPort}`);
      await sim.checkOta();
      await sim.connect();
      let turn = await sim.waitForTurnEnd(sim.detect('turn on the kitchen light'), 20_000);
      // The catalogue fills from retained messages within a moment of the peer's start.
      for (let i = 0; i < 10 && peer.received.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 300));
        turn = await sim.waitForTurnEnd(sim.detect('turn on the kitchen light'), 20_000);
      }
      assert.deepEqual(peer.received[0], { topic: 'zigbee2mqtt/kitchen light/set', payload: '{"state":"ON"}' });
      assert.deepEqual(turn.sentences, ['Turned on the kitchen light.']);
      assert.ok(turn.audioFrames > 0, 'spoken confirmation');
    } finally {
      await peer?.close();
      await sim.close();
      await hub.stop();
    }
  });
});
