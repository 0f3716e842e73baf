import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { limiterRegistry } from '../../src/pipeline/limiter-registry';
import type { LimiterStamp } from '../../src/pipeline/limiter-gate';
import { RedisLimiter } from '../../src/pipeline/limiter-redis';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const limiterNode = require('../../nodes/xiaozhi-limiter/xiaozhi-limiter');

helper.init(require.resolve('node-red'));

type Msg = Record<string, unknown>;
interface Status {
  fill?: string;
  shape?: string;
  text?: string;
}

function flow(extra: Record<string, unknown> = {}): object[] {
  return [
    {
      id: 'acq',
      type: 'xiaozhi limiter',
      limiter: 'llm-node',
      mode: 'acquire',
      stage: 'llm',
      limits: 'custom',
      maxConcurrent: '1',
      queueSize: '1',
      waitTimeoutSec: '5',
      runTimeoutSec: '30',
      queueEnabled: true,
      wires: [['guarded']],
      ...extra,
    },
    { id: 'rel', type: 'xiaozhi limiter', limiter: 'llm-node', mode: 'release', stage: 'llm', wires: [['after']] },
    { id: 'guarded', type: 'helper' },
    { id: 'after', type: 'helper' },
  ];
}

async function waitFor<T>(get: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Node-RED node: xiaozhi limiter', function () {
  beforeEach((done) => {
    helper.startServer(done);
  });

  afterEach(async () => {
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  });

  async function load(extra: Record<string, unknown> = {}) {
    await helper.load(limiterNode, flow(extra));
    const guarded: Msg[] = [];
    const after: Msg[] = [];
    helper.getNode('guarded').on('input', (m: Msg) => guarded.push(m));
    helper.getNode('after').on('input', (m: Msg) => after.push(m));
    const acq = helper.getNode('acq');
    const statuses: Status[] = [];
    const warnings: string[] = [];
    const realStatus = acq.status as (s: Status) => void;
    acq.status = (s: Status) => {
      statuses.push(s);
      realStatus.call(acq, s);
    };
    acq.warn = (m: string) => warnings.push(m);
    return { acq, rel: helper.getNode('rel'), guarded, after, statuses, warnings };
  }

  it('admits one turn, queues the next, answers busy when full; release frees the slot for the queued turn', async () => {
    const { acq, rel, guarded, after, statuses, warnings } = await load();
    const device = { id: 'aa:bb', clientId: 'c1' };
    acq.receive({ topic: 'stt', session: 's1', turn: 1, payload: 'what time is it', device });
    const first = await waitFor(() => guarded[0], 's1 admitted');
    assert.deepEqual(first.limiter, { name: 'llm-node', waitedMs: (first.limiter as LimiterStamp).waitedMs, queuePosition: 0 });
    assert.equal(first.payload, 'what time is it');

    acq.receive({ topic: 'stt', session: 's2', turn: 3, payload: 'tell me a joke' });
    // Unrelated topics pass through untouched, even while a turn is queued.
    acq.receive({ topic: 'emotion', session: 's9', payload: 'happy' });
    await waitFor(() => guarded.find((m) => m.topic === 'emotion'), 'emotion passed through');
    assert.equal(guarded.find((m) => m.topic === 'emotion')!.limiter, undefined);
    await waitFor(() => statuses.find((s) => s.text === '1/1 busy, 1 queued'), 'queued status');
    assert.equal(statuses.find((s) => s.text === '1/1 busy, 1 queued')!.fill, 'yellow');

    acq.receive({ topic: 'stt', session: 's3', turn: 1, payload: 'and the weather?', device });
    const busy = await waitFor(() => guarded.find((m) => m.session === 's3'), 's3 busy reply');
    assert.equal(busy.topic, 'say');
    assert.equal(busy.payload, "Sorry, I'm busy right now, please try again in a moment.");
    assert.deepEqual(busy.device, device);
    assert.equal((busy.limiter as LimiterStamp).busy, true);
    assert.equal((busy.limiter as LimiterStamp).code, 'queue_full');
    assert.ok(warnings.some((w) => w.includes('queue_full')), warnings.join('\n'));
    const red = await waitFor(() => statuses.find((s) => s.fill === 'red'), 'red status after a refusal');
    assert.equal(red.text, '1/1 busy, 1 queued, 1 refused');

    // The LLM's reply.end comes back through the release node: it passes on and frees s1's slot.
    rel.receive({ topic: 'reply.end', session: 's1', turn: 1, payload: 'It is noon.' });
    const passed = await waitFor(() => after[0], 'reply.end passed on');
    assert.equal(passed.topic, 'reply.end');
    const second = await waitFor(() => guarded.find((m) => m.session === 's2'), 's2 admitted');
    assert.equal(second.topic, 'stt');
    assert.equal((second.limiter as LimiterStamp).queuePosition, 1);
    const stats = limiterRegistry.get('llm-node')!.limiter.stats();
    assert.equal(stats.running, 1);
    assert.equal(stats.queued, 0);
    assert.equal(stats.rejected, 1);
    await waitFor(() => (statuses.at(-1)?.text === '1/1 busy, 1 refused' ? true : undefined), 'status after release');
  });

  it('abort through the acquire node frees the session; queueing off refuses at once with the configured text', async () => {
    const { acq, guarded } = await load({ queueEnabled: false, busyText: 'Busy, sorry.' });
    acq.receive({ topic: 'stt', session: 'a', turn: 1, payload: 'one' });
    await waitFor(() => guarded[0], 'a admitted');
    acq.receive({ topic: 'stt', session: 'b', turn: 1, payload: 'two' });
    const busy = await waitFor(() => guarded.find((m) => m.session === 'b'), 'b refused');
    assert.equal(busy.topic, 'say');
    assert.equal(busy.payload, 'Busy, sorry.');
    acq.receive({ topic: 'abort', session: 'a', payload: 'wake word' });
    await waitFor(() => guarded.find((m) => m.topic === 'abort'), 'abort passed on');
    assert.equal(limiterRegistry.get('llm-node')!.limiter.stats().running, 0);
    acq.receive({ topic: 'stt', session: 'b', turn: 2, payload: 'two again' });
    const admitted = await waitFor(() => guarded.find((m) => m.session === 'b' && m.topic === 'stt'), 'b admitted on a new turn');
    assert.equal((admitted.limiter as LimiterStamp).queuePosition, 0);
  });

  it('frees the limiter on redeploy (close)', async () => {
    await load();
    assert.ok(limiterRegistry.get('llm-node'));
    await helper.unload();
    assert.equal(limiterRegistry.get('llm-node'), undefined);
  });

  it('with a Redis URL the limit is cluster-wide (real redis-server)', async function () {
    if (!existsSync('/usr/bin/redis-server')) {
      console.log('      skipped: /usr/bin/redis-server is not installed');
      this.skip();
    }
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    const dir = mkdtempSync(join(tmpdir(), 'xz-limiter-node-'));
    const redis = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    const other = new RedisLimiter({ name: 'llm-node', maxConcurrent: 1, redis: `redis://127.0.0.1:${port}` });
    try {
      await new Promise<void>((resolve, reject) => {
        let log = '';
        redis.stdout!.on('data', (d: Buffer) => {
          log += d.toString();
          if (log.includes('Ready to accept connections')) resolve();
        });
        redis.once('exit', () => reject(new Error(`redis-server exited: ${log}`)));
      });
      const { acq, rel, guarded, statuses } = await load({ redisUrl: `redis://127.0.0.1:${port}`, waitTimeoutSec: '10' });
      // "Another instance" holds the only cluster-wide slot: the node's turn must queue.
      await other.ready();
      const held = await other.acquire();
      acq.receive({ topic: 'stt', session: 'r1', turn: 1, payload: 'hello' });
      await waitFor(() => statuses.find((s) => s.text === '0/1 busy, 1 queued (cluster)'), 'queued behind the other instance');
      assert.equal(guarded.length, 0);
      held.release();
      const admitted = await waitFor(() => guarded[0], 'admitted after the other instance released');
      assert.equal((admitted.limiter as LimiterStamp).queuePosition, 1);
      assert.ok(limiterRegistry.get('llm-node')!.limiter instanceof RedisLimiter);
      rel.receive({ topic: 'reply.end', session: 'r1', turn: 1 });
      await waitFor(() => (limiterRegistry.get('llm-node')!.limiter.stats().running === 0 ? true : undefined), 'released');
      assert.equal(await other.clusterRunning(), 0);
    } finally {
      await other.close();
      await helper.unload();
      redis.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
