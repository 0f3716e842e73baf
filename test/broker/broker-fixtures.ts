/**
 * Test fixtures for the broker tests: real redis-server and mosquitto processes on 127.0.0.1 in a
 * temp dir, mqtt.js client helpers, and the HubBroker contract that both broker kinds must pass.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import { BrokerError, type HubBroker } from '../../src/broker';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const MOSQUITTO = '/usr/sbin/mosquitto';

/** A free TCP port on 127.0.0.1 (bound and released; good enough for a test run). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolve when something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port}`);
    await sleep(30);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A child process on a random port, killed (and its temp dir removed) by stop(). */
export interface ManagedServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

async function spawnServer(command: string, args: string[], port: number, dir: string, url: string): Promise<ManagedServer> {
  const child: ChildProcess = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${command} did not start: ${(error as Error).message}\n${output}`);
  }
  return {
    port,
    url,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Start a throw-away redis-server (no disk persistence) on a random loopback port. */
export async function startRedis(): Promise<ManagedServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'xz-redis-'));
  return spawnServer(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], port, dir, `redis://127.0.0.1:${port}`);
}

/** Start Debian's mosquitto on a random loopback port, anonymous access allowed. */
export async function startMosquitto(): Promise<ManagedServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'xz-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(config, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nsys_interval 1\n`, { mode: 0o644 });
  return spawnServer(MOSQUITTO, ['-c', config], port, dir, `mqtt://127.0.0.1:${port}`);
}

/** Skip the current test (printing why) unless the binary exists. */
export function requireBinary(ctx: Mocha.Context, path: string): void {
  if (!existsSync(path)) {
    console.log(`      skipped: ${path} is not installed`);
    ctx.skip();
  }
}

/** Connect an mqtt.js client; rejects with the CONNACK error if refused. */
export async function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqttConnect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  client.on('error', () => undefined);
  return client;
}

/** Subscribe and return the SUBACK codes (128 = refused) instead of throwing on refusal. */
export async function grantedQos(client: MqttClient, topics: string | string[]): Promise<number[]> {
  try {
    const grants = await client.subscribeAsync(topics, { qos: 0 });
    return grants.map((g) => g.qos);
  } catch (error) {
    const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted) throw error;
    return granted;
  }
}

/** Collects messages a client receives. */
export function collect(client: MqttClient): Array<{ topic: string; payload: string; retain: boolean }> {
  const messages: Array<{ topic: string; payload: string; retain: boolean }> = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return messages;
}

/** Poll until `get` returns a value, or fail naming what was awaited. */
export async function waitFor<T>(get: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(15);
  }
}

/** What a contract run needs: a started broker and the URL an MQTT client reaches it on. */
export interface ContractSetup {
  broker: HubBroker;
  clientUrl: string;
  cleanup(): Promise<void>;
}

/**
 * The behaviour every HubBroker must show, whatever sits behind it. Called from the embedded and
 * the external test files with a factory for each.
 */
export function hubBrokerContract(setup: (ctx: Mocha.Context) => Promise<ContractSetup>): void {
  let env: ContractSetup;
  const clients: MqttClient[] = [];
  let n = 0;
  const topic = (name: string) => `contract/${process.pid}/${++n}/${name}`;

  beforeEach(async function () {
    env = await setup(this);
    clients.length = 0;
  });
  afterEach(async () => {
    for (const c of clients) c.end(true);
    if (env) await env.cleanup();
  });
  const client = async () => {
    const c = await connectClient(env.clientUrl);
    clients.push(c);
    return c;
  };

  it('reports connected and its kind', () => {
    assert.equal(env.broker.connected, true);
    assert.ok(env.broker.kind === 'embedded' || env.broker.kind === 'external');
  });

  it('delivers hub publishes to MQTT clients (text, bytes, JSON)', async () => {
    const c = await client();
    const got = collect(c);
    const t = topic('out');
    await c.subscribeAsync(`${t}/#`, { qos: 1 });
    await env.broker.publish(`${t}/text`, 'hello');
    await env.broker.publish(`${t}/bytes`, Buffer.from([0x41, 0x42]), { qos: 1 });
    await env.broker.publish(`${t}/json`, { state: 'ON', brightness: 128 });
    await waitFor(() => got.length >= 3 || undefined, '3 messages');
    const byTopic = Object.fromEntries(got.map((m) => [m.topic, m.payload]));
    assert.equal(byTopic[`${t}/text`], 'hello');
    assert.equal(byTopic[`${t}/bytes`], 'AB');
    assert.deepEqual(JSON.parse(byTopic[`${t}/json`] ?? ''), { state: 'ON', brightness: 128 });
  });

  it('delivers MQTT client publishes to hub subscribers, live ones with retain false', async () => {
    const c = await client();
    const t = topic('in');
    const got: Array<[string, string, boolean]> = [];
    const unsubscribe = await env.broker.subscribe(`${t}/+/set`, (tp, payload, info) => got.push([tp, payload.toString(), info.retain]));
    await c.publishAsync(`${t}/lamp/set`, '{"state":"ON"}', { qos: 1 });
    await c.publishAsync(`${t}/lamp/other`, 'ignored', { qos: 1 });
    await waitFor(() => got.length >= 1 || undefined, 'the /set message');
    assert.deepEqual(got[0], [`${t}/lamp/set`, '{"state":"ON"}', false]);
    await unsubscribe();
    await c.publishAsync(`${t}/lamp/set`, 'after unsubscribe', { qos: 1 });
    // A probe published after the message proves it was routed (the hub still hears the probe).
    const probe: string[] = [];
    const unprobe = await env.broker.subscribe(`${t}/probe`, (tp) => probe.push(tp));
    await c.publishAsync(`${t}/probe`, 'x', { qos: 1 });
    await waitFor(() => probe.length >= 1 || undefined, 'probe');
    await unprobe();
    assert.equal(got.length, 1, 'no delivery after unsubscribe');
  });

  it('keeps retained messages: snapshot, replay on subscribe, clear', async () => {
    const t = topic('ret');
    await env.broker.publish(`${t}/a/config`, { name: 'Kitchen light' }, { retain: true, qos: 1 });
    const c = await client();
    await c.publishAsync(`${t}/b/config`, '{"name":"Hall switch"}', { retain: true, qos: 1 });
    let retained = await env.broker.retained(`${t}/+/config`);
    for (let i = 0; i < 20 && retained.length < 2; i++) {
      await sleep(50);
      retained = await env.broker.retained(`${t}/+/config`);
    }
    assert.deepEqual(retained.map((m) => m.topic).sort(), [`${t}/a/config`, `${t}/b/config`]);
    assert.equal(JSON.parse(retained.find((m) => m.topic === `${t}/a/config`)?.payload.toString() ?? '').name, 'Kitchen light');

    // A new hub subscriber first gets the retained values, flagged retain.
    const got: Array<[string, boolean]> = [];
    const unsubscribe = await env.broker.subscribe(`${t}/#`, (tp, _p, info) => got.push([tp, info.retain]));
    await waitFor(() => got.length >= 2 || undefined, 'retained replay');
    assert.ok(got.every(([, retain]) => retain));
    // A second handler on the same filter gets its own replay.
    const second: string[] = [];
    const unsubscribe2 = await env.broker.subscribe(`${t}/#`, (tp, _p, info) => info.retain && second.push(tp));
    await waitFor(() => second.length >= 2 || undefined, 'retained replay to a second handler');

    // MQTT clients see them with the retain flag too.
    const c2 = await client();
    const seen = collect(c2);
    await c2.subscribeAsync(`${t}/+/config`, { qos: 1 });
    await waitFor(() => seen.length >= 2 || undefined, 'retained to an MQTT client');
    assert.ok(seen.every((m) => m.retain));

    // An empty retained payload clears the value.
    await env.broker.publish(`${t}/a/config`, '', { retain: true, qos: 1 });
    let after = await env.broker.retained(`${t}/+/config`);
    for (let i = 0; i < 20 && after.length !== 1; i++) {
      await sleep(50);
      after = await env.broker.retained(`${t}/+/config`);
    }
    assert.deepEqual(after.map((m) => m.topic), [`${t}/b/config`]);
    await unsubscribe();
    await unsubscribe2();
  });

  it('does not deliver $SYS topics to a # subscriber', async () => {
    const got: string[] = [];
    const unsubscribe = await env.broker.subscribe('#', (tp) => got.push(tp));
    // A client connecting and subscribing makes aedes publish $SYS/<id>/new/clients and /new/subscribes.
    const c = await client();
    await c.subscribeAsync(topic('sys-trigger'));
    const t = topic('plain');
    await env.broker.publish(t, 'x');
    await waitFor(() => got.includes(t) || undefined, 'the plain message');
    // Mosquitto publishes $SYS every second here (sys_interval 1).
    await sleep(env.broker.kind === 'external' ? 1200 : 100);
    assert.deepEqual(got.filter((x) => x.startsWith('$')), []);
    await unsubscribe();
  });

  it('refuses invalid topics with a bad_topic BrokerError', async () => {
    await assert.rejects(env.broker.publish('a/+/b', 'x'), (e: unknown) => e instanceof BrokerError && e.code === 'bad_topic');
    await assert.rejects(env.broker.subscribe('a/#/b', () => undefined), (e: unknown) => e instanceof BrokerError && e.code === 'bad_topic');
    await assert.rejects(env.broker.retained(''), (e: unknown) => e instanceof BrokerError && e.code === 'bad_topic');
  });

  it('counts messages and refuses work after close', async () => {
    const t = topic('count');
    const got: string[] = [];
    const unsubscribe = await env.broker.subscribe(t, (tp) => got.push(tp));
    await env.broker.publish(t, 'x');
    await waitFor(() => got.length >= 1 || undefined, 'the counted message');
    const s = env.broker.stats();
    assert.ok(s.messagesIn + s.messagesOut >= 1, JSON.stringify(s));
    await unsubscribe();
    await env.broker.close();
    assert.equal(env.broker.connected, false);
    await assert.rejects(env.broker.publish('a', 'b'), (e: unknown) => e instanceof BrokerError && e.code === 'closed');
    await env.broker.close(); // idempotent
  });
}
