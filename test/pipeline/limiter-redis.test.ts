import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { RedisLimiter } from '../../src/pipeline/limiter-redis';
import { isLimiterError } from '../../src/pipeline/limiter-error';
import { freePort, REDIS_SERVER, startRedis, type ManagedServer } from '../broker/broker-fixtures';

/**
 * Jobs that count themselves in Redis while they hold a slot: INCR on entry, DECR on exit. The
 * count lives inside the lease (taken before, given back after), so its maximum is a lower bound
 * of the true overlap and must never pass the shared limit.
 */
async function countedJobs(limiter: RedisLimiter, redis: Redis, jobs: number, workMs: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: jobs }, () =>
      limiter
        .run(async () => {
          const n = await redis.incr('test:active');
          await sleep(workMs);
          await redis.decr('test:active');
          return n;
        })
        .then((r) => r.value),
    ),
  );
}

describe('RedisLimiter (real redis-server on loopback)', function () {
  this.timeout(30_000);
  let server: ManagedServer | undefined;
  const limiters: RedisLimiter[] = [];
  const clients: Redis[] = [];

  before(async function () {
    if (!existsSync(REDIS_SERVER)) {
      console.log(`      skipped: ${REDIS_SERVER} is not installed (apt-get install redis-server)`);
      this.skip();
    }
    server = await startRedis();
  });

  afterEach(async () => {
    for (const l of limiters.splice(0)) await l.close();
    for (const c of clients.splice(0)) c.disconnect();
  });

  after(async () => {
    await server?.stop();
  });

  function limiter(name: string, maxConcurrent: number, extra: Partial<ConstructorParameters<typeof RedisLimiter>[0]> = {}): RedisLimiter {
    const l = new RedisLimiter({ name, maxConcurrent, queueSize: 100, waitTimeoutMs: 20_000, redis: server!.url, ...extra });
    limiters.push(l);
    return l;
  }

  function client(): Redis {
    const c = new Redis(server!.url);
    clients.push(c);
    return c;
  }

  it('two limiters in one process never exceed the shared max together', async () => {
    const a = limiter('shared-2', 3);
    const b = limiter('shared-2', 3);
    await Promise.all([a.ready(), b.ready()]);
    const redis = client();
    await redis.del('test:active');
    const seen = (await Promise.all([countedJobs(a, redis, 8, 30), countedJobs(b, redis, 8, 30)])).flat();
    assert.equal(seen.length, 16);
    const max = Math.max(...seen);
    assert.ok(max <= 3, `overlap ${max} > 3`);
    assert.ok(max >= 2, 'the two limiters did run jobs side by side');
    assert.equal(await a.clusterRunning(), 0, 'every lease given back');
  });

  it('a limiter in a child process and one here share the max', async () => {
    const name = 'shared-child';
    const here = limiter(name, 2);
    await here.ready();
    const redis = client();
    await redis.del('test:active');
    // The child loads the same compiled module; it runs 6 counted jobs and prints their counts.
    const modulePath = require.resolve('../../src/pipeline/limiter-redis');
    const childCode = `
      const { RedisLimiter } = require(${JSON.stringify(modulePath)});
      const Redis = require('ioredis').default;
      (async () => {
        const redis = new Redis(${JSON.stringify(server!.url)});
        const limiter = new RedisLimiter({ name: ${JSON.stringify(name)}, maxConcurrent: 2, queueSize: 100, waitTimeoutMs: 20000, redis: ${JSON.stringify(server!.url)} });
        await limiter.ready();
        process.stdout.write('ready\\n');
        const seen = await Promise.all(Array.from({ length: 6 }, () => limiter.run(async () => {
          const n = await redis.incr('test:active');
          await new Promise((r) => setTimeout(r, 30));
          await redis.decr('test:active');
          return n;
        }).then((r) => r.value)));
        process.stdout.write(JSON.stringify(seen) + '\\n');
        await limiter.close();
        redis.disconnect();
      })().catch((e) => { console.error(e); process.exit(1); });
    `;
    const child = spawn(process.execPath, ['-e', childCode], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    for (let i = 0; i < 500 && !out.includes('ready'); i++) await sleep(20);
    assert.ok(out.includes('ready'), 'child connected to Redis');
    const mine = await countedJobs(here, redis, 6, 30);
    assert.equal(await exited, 0);
    const theirs = JSON.parse(out.trim().split('\n').at(-1)!) as number[];
    assert.equal(theirs.length, 6);
    const max = Math.max(...mine, ...theirs);
    assert.ok(max <= 2, `overlap ${max} > 2 across processes`);
  });

  it('a full cluster makes a waiter wait until a release elsewhere, and queue_full / wait_timeout still apply', async () => {
    const a = limiter('shared-wait', 1);
    const b = limiter('shared-wait', 1, { queueSize: 1, waitTimeoutMs: 150 });
    await Promise.all([a.ready(), b.ready()]);
    const held = await a.acquire();
    assert.equal(await b.clusterRunning(), 1);
    // b sees the slot taken by a, queues, and times out.
    await assert.rejects(b.acquire(), (e: unknown) => isLimiterError(e, 'wait_timeout'));
    const waiting = b.acquire();
    await assert.rejects(b.acquire(), (e: unknown) => isLimiterError(e, 'queue_full'));
    held.release();
    const slot = await waiting;
    assert.equal(slot.queuePosition, 1);
    assert.equal(b.stats().running, 1);
    assert.equal(a.stats().running, 0);
    slot.release();
  });

  it('a lease of a process that died expires, and its slot comes back', async () => {
    const dead = limiter('shared-lease', 1, { leaseMs: 1000, pollMs: 100 });
    await dead.ready();
    await dead.acquire();
    // Simulate a crash: drop the connection without releasing or renewing.
    const key = dead.key;
    (dead as unknown as { permits: { renewTimer: NodeJS.Timeout } }).permits.renewTimer.unref();
    clearInterval((dead as unknown as { permits: { renewTimer: NodeJS.Timeout } }).permits.renewTimer);
    const alive = limiter('shared-lease', 1, { leaseMs: 1000, pollMs: 100 });
    await alive.ready();
    const redis = client();
    assert.equal(await redis.zcard(key), 1);
    const slot = await alive.acquire();
    assert.ok(slot.waitedMs > 0);
    assert.equal(await alive.clusterRunning(), 1);
    slot.release();
  });

  it('reports the backend down: waiters time out, queueing off refuses with unavailable', async () => {
    const gone = new RedisLimiter({ name: 'down', maxConcurrent: 1, queueSize: 1, waitTimeoutMs: 200, redis: { port: await freePort(), host: '127.0.0.1', retryStrategy: () => 50 } });
    limiters.push(gone);
    const errors: Error[] = [];
    gone.on('backendError', (e: Error) => errors.push(e));
    await assert.rejects(gone.acquire(), (e: unknown) => isLimiterError(e, 'wait_timeout'));
    gone.configure({ queueEnabled: false });
    await assert.rejects(gone.acquire(), (e: unknown) => isLimiterError(e, 'unavailable'));
    assert.ok(errors.length > 0);
  });
});
