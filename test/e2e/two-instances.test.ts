/**
 * Past one machine (docs/scaling.md): two hub instances (the real runner, dist/scripts/start.js, as
 * child processes) behind a WebSocket-aware proxy, sharing one real redis-server for conversation
 * history, the LLM limiter's count and the embedded MQTT broker's messages.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { DeviceSimulator } from '../../src/sim';
import { connectClient, freePort, REDIS_SERVER, startRedis, type ManagedServer } from '../broker/broker-fixtures';
import { WsProxy } from '../helpers/ws-proxy';
import { finishChunk, textChunk } from '../providers/llm/fake-openai-server';

const BUSY_TEXT = 'All lines are busy, try again soon.';

/**
 * An OpenAI-compatible chat endpoint on loopback that answers with the number of earlier user
 * messages it was sent, which makes the conversation history visible from outside. A message
 * containing "hold" is answered only once release() is called.
 */
class CountingLlm {
  readonly userMessages: string[][] = [];
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  private held: Array<() => void> = [];

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  release(): void {
    for (const go of this.held.splice(0)) go();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { messages: Array<{ role: string; content: string }> };
    const users = body.messages.filter((m) => m.role === 'user').map((m) => m.content);
    this.userMessages.push(users);
    if (/hold/.test(users[users.length - 1] ?? '')) await new Promise<void>((resolve) => this.held.push(resolve));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const prior = users.length - 1;
    for (const chunk of [textChunk(`I remember ${prior} earlier `), textChunk(`message${prior === 1 ? '' : 's'}.`), finishChunk('stop')]) {
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  }
}

/** Ports and URLs of one instance's flow. */
interface FlowSettings {
  devicePort: number;
  mqttPort: number;
  publicWsUrl: string;
  llmBaseUrl: string;
  redisUrl: string;
}

/**
 * The flow both instances run: server -> in -> VAD (typed text becomes stt) -> LLM limiter
 * (1 slot cluster-wide, no queue) -> LLM (history in Redis through XIAOZHI_REDIS_URL) -> release
 * -> TTS (espeak) -> out, plus an embedded MQTT broker clustered through Redis.
 */
function clusterFlow(s: FlowSettings): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'cluster test' },
    {
      id: 'srv', type: 'xiaozhi-server', name: 'xiaozhi', mode: 'own', port: String(s.devicePort), host: '127.0.0.1', path: '/xiaozhi/v1/',
      otaPath: '/xiaozhi/ota/', publicUrl: s.publicWsUrl, authEnabled: false, allowedDevices: '', maxSessions: 100, idleTimeoutSec: 120,
      maxFrameBytes: 4096, maxMessagesPerSecond: 100, mcpEnabled: false, toolTimeoutSec: 30, prerollFrames: 5,
    },
    { id: 'oai', type: 'xiaozhi-openai', name: 'fake LLM', baseUrl: s.llmBaseUrl },
    {
      id: 'mqtt', type: 'xiaozhi-broker', name: 'broker', mode: 'embedded', port: s.mqttPort, host: '127.0.0.1', wsMode: 'off',
      allowAnonymousLoopback: true, persistence: 'redis', redisUrl: s.redisUrl, maxClients: 100,
    },
    { id: 'in1', type: 'xiaozhi in', z: 'tab', server: 'srv', audio: 'pcm', events: true, wires: [['vad1']] },
    { id: 'vad1', type: 'xiaozhi vad', z: 'tab', engine: 'webrtc', silenceMs: 500, minSpeechMs: 250, maxUtteranceSec: 30, bargeIn: true, wires: [['lim1'], []] },
    {
      id: 'lim1', type: 'xiaozhi limiter', z: 'tab', limiter: 'llm', mode: 'acquire', stage: 'llm', limits: 'custom', maxConcurrent: 1, queueSize: 0,
      waitTimeoutSec: 1, runTimeoutSec: 30, queueEnabled: false, busyText: BUSY_TEXT, redisUrl: s.redisUrl, version: 1, wires: [['llm1']],
    },
    {
      id: 'llm1', type: 'xiaozhi llm', z: 'tab', endpoint: 'oai', model: 'counting-model', systemPrompt: 'test', maxHistory: 20,
      useDeviceTools: false, timeoutSec: 20, maxToolDepth: 1, history: 'redis', historyRedisUrl: '', wires: [['lim2']],
    },
    { id: 'lim2', type: 'xiaozhi limiter', z: 'tab', limiter: 'llm', mode: 'release', stage: 'llm', version: 1, wires: [['tts1']] },
    { id: 'tts1', type: 'xiaozhi tts', z: 'tab', provider: 'espeak', voice: 'en-us', rate: 175, concurrency: 2, timeoutSec: 10, wires: [['out1']] },
    { id: 'out1', type: 'xiaozhi out', z: 'tab', server: 'srv', toolTimeoutSec: 30, wires: [] },
  ];
}

/** One hub instance: the built runner with its own data dir and ports. */
interface Instance {
  name: string;
  devicePort: number;
  mqttPort: number;
  child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

async function startInstance(name: string, settings: Omit<FlowSettings, 'devicePort' | 'mqttPort'>): Promise<Instance> {
  const runner = join(process.cwd(), 'dist', 'scripts', 'start.js');
  if (!existsSync(runner)) throw new Error(`${runner} is missing: run npm run build`);
  const dataDir = mkdtempSync(join(tmpdir(), `xz-cluster-${name}-`));
  const [editorPort, devicePort, mqttPort] = [await freePort(), await freePort(), await freePort()];
  const flowFile = join(dataDir, 'start-flow.json');
  writeFileSync(flowFile, JSON.stringify(clusterFlow({ ...settings, devicePort, mqttPort }), null, 1));
  const child = spawn(process.execPath, [runner, '--data', dataDir, '--flow', flowFile], {
    env: {
      ...process.env,
      NODE_RED_PORT: String(editorPort),
      XIAOZHI_PORT: String(devicePort),
      // The LLM node's history field is empty: the runner's environment supplies Redis.
      XIAOZHI_REDIS_URL: settings.redisUrl,
      XIAOZHI_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const instance: Instance = {
    name,
    devicePort,
    mqttPort,
    child,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  // Ready when the device port answers the OTA health check and the broker takes connections.
  const deadline = Date.now() + 40_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance ${name} exited early (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) {
      await instance.kill('SIGKILL');
      throw new Error(`instance ${name} did not start in 40 s:\n${out}`);
    }
    const ready = await fetch(`http://127.0.0.1:${devicePort}/xiaozhi/ota/`).then((r) => r.ok, () => false);
    if (ready) {
      const mqttUp = await connectClient(`mqtt://127.0.0.1:${mqttPort}`).then((c) => (c.end(true), true), () => false);
      if (mqttUp) return instance;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Wait until a condition holds. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('e2e: two instances behind a WebSocket proxy, sharing Redis', function () {
  this.timeout(120_000);
  let redis: ManagedServer | undefined;
  let llm: CountingLlm | undefined;
  let proxy: WsProxy | undefined;
  let proxyPort = 0;
  const instances: Instance[] = [];
  const sims: DeviceSimulator[] = [];
  const mqttClients: MqttClient[] = [];
  /** Device id -> instance index the proxy sends it to (else round-robin). */
  const routes = new Map<string, number>();

  const newSim = (deviceId: string): DeviceSimulator => {
    const sim = new DeviceSimulator({ otaUrl: `http://127.0.0.1:${proxyPort}/xiaozhi/ota/`, deviceId, language: 'en-US' });
    sims.push(sim);
    return sim;
  };
  const dump = (): string => instances.map((i) => `--- instance ${i.name}:\n${i.output()}`).join('\n');

  before(async function () {
    if (!existsSync(REDIS_SERVER)) {
      console.log(`      skipped: ${REDIS_SERVER} is not installed (apt-get install redis-server)`);
      this.skip();
    }
    redis = await startRedis();
    llm = new CountingLlm();
    const llmBaseUrl = await llm.start();
    // The proxy's port must be known before the instances start: their OTA answer hands it out.
    proxyPort = await freePort();
    const publicWsUrl = `ws://127.0.0.1:${proxyPort}/xiaozhi/v1/`;
    const started = await Promise.all(['A', 'B'].map((name) => startInstance(name, { publicWsUrl, llmBaseUrl, redisUrl: redis!.url })));
    instances.push(...started);
    proxy = new WsProxy({
      backends: instances.map((i) => ({ port: i.devicePort })),
      route: (req) => routes.get(String(req.headers['device-id'] ?? '').toLowerCase()),
    });
    await proxy.start(proxyPort);
  });

  after(async () => {
    await Promise.all(sims.map((s) => s.close().catch(() => undefined)));
    for (const c of mqttClients) c.end(true);
    await proxy?.close();
    await Promise.all(instances.map((i) => i.kill()));
    await llm?.close();
    await redis?.stop();
  });

  it('health checks answer on each instance, and the OTA answer through the proxy hands out the proxy address', async () => {
    for (const instance of instances) {
      const ota = await fetch(`http://127.0.0.1:${instance.devicePort}/xiaozhi/ota/`);
      assert.equal(ota.status, 200);
      const metrics = await fetch(`http://127.0.0.1:${instance.devicePort}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^# HELP /m);
    }
    const sim = newSim('02:00:00:00:00:0a');
    const ota = await sim.checkOta();
    assert.equal(ota.websocket?.url, `ws://127.0.0.1:${proxyPort}/xiaozhi/v1/`);
  });

  it('an MQTT message published on instance A reaches a subscriber on instance B (embedded brokers clustered through Redis)', async () => {
    const [a, b] = instances as [Instance, Instance];
    const subscriber = await connectClient(`mqtt://127.0.0.1:${b.mqttPort}`, { clientId: 'sub-on-b' });
    mqttClients.push(subscriber);
    await subscriber.subscribeAsync('cluster/test/#', { qos: 1 });
    const received = new Promise<{ topic: string; payload: string }>((resolve) =>
      subscriber.on('message', (topic, payload) => resolve({ topic, payload: payload.toString() })),
    );
    const publisher = await connectClient(`mqtt://127.0.0.1:${a.mqttPort}`, { clientId: 'pub-on-a' });
    mqttClients.push(publisher);
    await publisher.publishAsync('cluster/test/light', 'ON from A', { qos: 1 });
    const message = await Promise.race([received, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no message on B within 5 s')), 5000))]);
    assert.deepEqual(message, { topic: 'cluster/test/light', payload: 'ON from A' });
  });

  it("the LLM limiter's count is cluster-wide: a turn on B is refused while a turn on A holds the only slot", async () => {
    const holder = newSim('02:00:00:00:00:01');
    const other = newSim('02:00:00:00:00:02');
    routes.set(holder.deviceId, 0);
    routes.set(other.deviceId, 1);
    await holder.connect();
    await other.connect();
    const heldBefore = llm!.userMessages.length;
    const heldTurn = holder.detect('please hold the line');
    await until(() => llm!.userMessages.length > heldBefore, 'the held request at the LLM');

    try {
      // The refusal replaces the turn's stt: the device hears the busy reply and the turn ends.
      const refused = await other.waitForTurnEnd(other.detect('hello from B'), 20_000);
      assert.deepEqual(refused.sentences, [BUSY_TEXT], dump());
      assert.ok(refused.ttsStopAtMs !== undefined, 'the refused turn ended with tts stop');
      assert.equal(llm!.userMessages.length, heldBefore + 1, 'B did not call the LLM');
    } finally {
      llm!.release();
    }
    const held = await holder.waitForTurnEnd(heldTurn, 20_000);
    assert.deepEqual(held.sentences, ['I remember 0 earlier messages.']);
    // The slot is free again, for B too.
    const answered = await other.waitForTurnEnd(other.detect('hello again from B'), 20_000);
    assert.deepEqual(answered.sentences, ['I remember 0 earlier messages.'], 'the refused turn is not part of the history');
    const ws = proxy!.connections.filter((c) => c.kind === 'ws');
    assert.deepEqual(ws.slice(-2).map((c) => c.backend), [0, 1]);
    await holder.close();
    await other.close();
  });

  it('a device that reconnects to the other instance (A killed) keeps its conversation history', async () => {
    const sim = newSim('02:00:00:00:00:03');
    routes.set(sim.deviceId, 0);
    await sim.connect();
    const first = await sim.waitForTurnEnd(sim.detect('my name is Ada'), 20_000);
    assert.deepEqual(first.sentences, ['I remember 0 earlier messages.'], dump());
    assert.equal(proxy!.connections.filter((c) => c.kind === 'ws').at(-1)?.backend, 0);

    // Instance A dies (no goodbye); the device sees its channel close and reconnects through the
    // proxy, which still prefers A for it but fails over to B.
    const closed = new Promise<void>((resolve) => sim.once('closed', () => resolve()));
    await instances[0]!.kill('SIGKILL');
    await closed;
    await sim.connect();
    assert.equal(proxy!.connections.filter((c) => c.kind === 'ws').at(-1)?.backend, 1, 'reconnected to B');

    const second = await sim.waitForTurnEnd(sim.detect('what is my name'), 20_000);
    assert.equal(second.sttText, 'what is my name');
    assert.deepEqual(second.sentences, ['I remember 1 earlier message.'], dump());
    assert.deepEqual(llm!.userMessages.at(-1), ['my name is Ada', 'what is my name'], 'B sent the model the turn answered by A');
  });
});
