import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderLimiter, type Slot } from '../../src/pipeline/limiter';
import { LimiterError, isLimiterError } from '../../src/pipeline/limiter-error';

/** Real async work: some hashing, then a timer. */
async function work(ms: number): Promise<string> {
  const digest = createHash('sha256').update(Buffer.alloc(64 * 1024, ms)).digest('hex');
  await sleep(ms);
  return digest;
}

async function rejectsWith(promise: Promise<unknown>, code: LimiterError['code']): Promise<LimiterError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isLimiterError(error), `expected a LimiterError, got ${String(error)}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected rejection with ${code}`);
}

describe('ProviderLimiter', function () {
  it('never runs more than maxConcurrent at once, and does run that many', async () => {
    const limiter = new ProviderLimiter({ name: 't', maxConcurrent: 3, queueSize: 100 });
    let active = 0;
    let maxActive = 0;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        limiter.run(async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          try {
            return await work(1 + (i % 7));
          } finally {
            active--;
          }
        }),
      ),
    );
    assert.equal(results.length, 30);
    assert.ok(maxActive <= 3, `max overlap ${maxActive}`);
    assert.equal(maxActive, 3, 'the first three start at once');
    assert.equal(results.filter((r) => r.queuePosition === 0).length, 3);
    const s = limiter.stats();
    assert.equal(s.running, 0);
    assert.equal(s.queued, 0);
    assert.equal(s.acquired, 30);
  });

  it('grants in FIFO order, higher priority first', async () => {
    const limiter = new ProviderLimiter({ name: 'fifo', maxConcurrent: 1, queueSize: 10 });
    const first = await limiter.acquire();
    const order: string[] = [];
    const waiters = ['a', 'b', 'c', 'd'].map((id) =>
      limiter.acquire().then((slot) => {
        order.push(id);
        slot.release();
        return slot;
      }),
    );
    const urgent = limiter.acquire({ priority: 5 }).then((slot) => {
      order.push('urgent');
      slot.release();
      return slot;
    });
    assert.equal(limiter.stats().queued, 5);
    first.release();
    const slots = await Promise.all([...waiters, urgent]);
    assert.deepEqual(order, ['urgent', 'a', 'b', 'c', 'd']);
    assert.deepEqual(
      slots.map((s) => s.queuePosition),
      [1, 2, 3, 4, 1],
      'queue position on arrival (urgent jumped to the head)',
    );
  });

  it('rejects with queue_full when the queue is full, and at once when queueing is off', async () => {
    const limiter = new ProviderLimiter({ name: 'q', maxConcurrent: 1, queueSize: 2 });
    const held = await limiter.acquire();
    const w1 = limiter.acquire();
    const w2 = limiter.acquire();
    await rejectsWith(limiter.acquire(), 'queue_full');
    assert.equal(limiter.stats().rejected, 1);
    held.release();
    (await w1).release();
    (await w2).release();

    const noQueue = new ProviderLimiter({ name: 'nq', maxConcurrent: 1, queueSize: 50, queueEnabled: false });
    const slot = await noQueue.acquire();
    await rejectsWith(noQueue.acquire(), 'queue_full');
    slot.release();
    (await noQueue.acquire()).release();
  });

  it('rejects a waiter with wait_timeout and removes it from the queue', async () => {
    const limiter = new ProviderLimiter({ name: 'w', maxConcurrent: 1, queueSize: 5, waitTimeoutMs: 40 });
    const held = await limiter.acquire();
    await rejectsWith(limiter.acquire(), 'wait_timeout');
    const s = limiter.stats();
    assert.equal(s.queued, 0);
    assert.equal(s.waitTimedOut, 1);
    assert.equal(s.timedOut, 1);
    held.release();
    assert.equal(limiter.stats().running, 0);
  });

  it('takes a slot back on run timeout: run() rejects, the work sees its signal abort, the next caller gets the slot', async () => {
    const limiter = new ProviderLimiter({ name: 'r', maxConcurrent: 1, queueSize: 5, runTimeoutMs: 40 });
    let sawAbort: unknown;
    const hung = limiter.run(
      (signal) =>
        new Promise<never>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            sawAbort = signal.reason;
            reject(new Error('provider gave up'));
          });
        }),
    );
    const next = limiter.run(async () => 'ok');
    await rejectsWith(hung, 'run_timeout');
    assert.ok(isLimiterError(sawAbort, 'run_timeout'));
    const r = await next;
    assert.equal(r.value, 'ok');
    assert.equal(r.queuePosition, 1);
    assert.equal(limiter.stats().runTimedOut, 1);

    // A held slot (acquire API) is taken back the same way.
    const slot = await limiter.acquire();
    await new Promise((resolve) => slot.signal.addEventListener('abort', resolve));
    assert.equal(slot.released, true);
    assert.equal(limiter.stats().running, 0);
    assert.equal(slot.release(), false);
  });

  it('an aborted waiter leaves the queue at once; aborting a holder frees its slot', async () => {
    const limiter = new ProviderLimiter({ name: 'a', maxConcurrent: 1, queueSize: 5 });
    const held = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    const behind = limiter.acquire();
    assert.equal(limiter.stats().queued, 2);
    controller.abort();
    assert.equal(limiter.stats().queued, 1, 'removed synchronously');
    await rejectsWith(waiting, 'aborted');
    held.release();
    const second = await behind;
    assert.equal(second.queuePosition, 2);

    const holder = new AbortController();
    second.release();
    const slot = await limiter.acquire({ signal: holder.signal });
    holder.abort();
    assert.equal(slot.released, true);
    assert.ok(isLimiterError(slot.signal.reason, 'aborted'));
    assert.equal(limiter.stats().running, 0);
    await rejectsWith(limiter.acquire({ signal: AbortSignal.abort() }), 'aborted');
    assert.equal(limiter.stats().aborted, 3);
  });

  it('releasing a slot twice frees one slot only', async () => {
    const limiter = new ProviderLimiter({ name: 'twice', maxConcurrent: 2, queueSize: 5 });
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    assert.equal(a.release(), true);
    assert.equal(a.release(), false);
    assert.equal(a.released, true);
    const c = await limiter.acquire();
    let dGranted = false;
    const d = limiter.acquire().then((slot) => {
      dGranted = true;
      return slot;
    });
    await sleep(10);
    assert.equal(dGranted, false, 'b and c hold both slots');
    assert.equal(limiter.stats().running, 2);
    assert.equal(limiter.stats().queued, 1);
    b.release();
    (await d).release();
    c.release();
    assert.equal(limiter.stats().running, 0);
  });

  it('reports stats, wait percentiles and change events', async () => {
    const limiter = new ProviderLimiter({ name: 'stats', maxConcurrent: 1, queueSize: 10, waitTimeoutMs: 5000 });
    const changes: Array<{ running: number; queued: number }> = [];
    limiter.on('change', (c: { running: number; queued: number }) => changes.push(c));
    const first = await limiter.acquire();
    const waiters = [limiter.acquire(), limiter.acquire()];
    await sleep(30);
    first.release();
    const s1 = await waiters[0]!;
    s1.release();
    (await waiters[1]!).release();
    const s = limiter.stats();
    assert.equal(s.name, 'stats');
    assert.equal(s.maxConcurrent, 1);
    assert.equal(s.queueSize, 10);
    assert.equal(s.acquired, 3);
    assert.equal(s.rejected, 0);
    assert.ok(s1.waitedMs >= 25, `waited ${s1.waitedMs} ms behind a 30 ms hold`);
    assert.ok(s.waitMsP50 >= 25, `p50 ${s.waitMsP50}`);
    assert.ok(s.waitMsP99 >= s.waitMsP50);
    assert.ok(changes.some((c) => c.queued === 2 && c.running === 1), 'a change showed two queued');
    assert.deepEqual(changes.at(-1), { running: 0, queued: 0 });
  });

  it('configure() raises the limit live; close() rejects waiters with closed', async () => {
    const limiter = new ProviderLimiter({ name: 'cfg', maxConcurrent: 1, queueSize: 10 });
    const a = await limiter.acquire();
    const b = limiter.acquire();
    limiter.configure({ maxConcurrent: 2 });
    const slotB = await b;
    assert.equal(limiter.stats().running, 2);
    const c = limiter.acquire();
    await limiter.close();
    await rejectsWith(c, 'closed');
    assert.equal(a.released, true);
    assert.equal(slotB.released, true);
    await rejectsWith(limiter.acquire(), 'closed');
    assert.throws(() => new ProviderLimiter({ name: 'bad', maxConcurrent: 0 }), (e: unknown) => isLimiterError(e, 'invalid_config'));
  });

  it('holds a slot across a streamed reply through acquire()/release()', async () => {
    const limiter = new ProviderLimiter({ name: 'stream', maxConcurrent: 1, queueSize: 1 });
    const slot: Slot = await limiter.acquire();
    const chunks: string[] = [];
    for (const sentence of ['Hello.', 'How are you?']) {
      await work(2);
      if (slot.signal.aborted) break;
      chunks.push(sentence);
    }
    assert.equal(limiter.stats().running, 1);
    slot.release();
    assert.deepEqual(chunks, ['Hello.', 'How are you?']);
    assert.equal(limiter.stats().running, 0);
  });

  it('keeps FIFO order through thousands of waiters with every other one aborted', async () => {
    const limiter = new ProviderLimiter({ name: 'many', maxConcurrent: 2, queueSize: 5000 });
    const held = [await limiter.acquire(), await limiter.acquire()];
    const controllers: AbortController[] = [];
    const granted: number[] = [];
    const waits = Array.from({ length: 3000 }, (_, i) => {
      const c = new AbortController();
      controllers.push(c);
      return limiter.acquire({ signal: c.signal, priority: i === 2999 ? 1 : 0 }).then(
        (slot) => {
          granted.push(i);
          slot.release();
        },
        (e: unknown) => assert.ok(isLimiterError(e, 'aborted')),
      );
    });
    controllers.forEach((c, i) => i % 2 === 1 && i !== 2999 && c.abort());
    assert.equal(limiter.stats().queued, 1501);
    for (const slot of held) slot.release();
    await Promise.all(waits);
    const expected = [2999, ...Array.from({ length: 1500 }, (_, k) => k * 2)];
    assert.deepEqual(granted, expected);
    assert.deepEqual([limiter.stats().running, limiter.stats().queued], [0, 0]);
  });
});
