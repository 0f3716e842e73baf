import assert from 'node:assert/strict';
import { LimiterRegistry } from '../../src/pipeline/limiter-registry';
import { isLimiterError } from '../../src/pipeline/limiter-error';

describe('LimiterRegistry (named limiters shared by nodes)', function () {
  it('shares one limiter per name, reconfigures live, flags conflicting settings, closes on the last leave', async () => {
    const registry = new LimiterRegistry();
    const release = {};
    const acquireA = {};
    const acquireB = {};
    // A release-side user may come first: it gets a placeholder the acquire side configures.
    const placeholder = registry.use(release, 'llm');
    assert.equal(placeholder.limiter.limits.maxConcurrent, 1);
    const a = registry.use(acquireA, 'llm', { name: 'llm', maxConcurrent: 2, queueSize: 4 });
    assert.equal(a.limiter, placeholder.limiter);
    assert.equal(a.gate, placeholder.gate);
    assert.equal(a.conflict, false);
    assert.equal(a.limiter.limits.maxConcurrent, 2);
    const b = registry.use(acquireB, 'llm', { name: 'llm', maxConcurrent: 3, queueSize: 4 });
    assert.equal(b.conflict, true);
    assert.equal(b.limiter.limits.maxConcurrent, 3, 'the last deployed settings apply');
    assert.notEqual(registry.use({}, 'tts', { name: 'tts', maxConcurrent: 1 }).limiter, a.limiter);

    const events: string[] = [];
    registry.on('acquired', (name: string, waitedMs: number) => events.push(`acquired ${name} ${waitedMs >= 0}`));
    registry.on('refused', (name: string, e: unknown) => events.push(`refused ${name} ${isLimiterError(e) ? e.code : '?'}`));
    const limiter = a.limiter;
    limiter.configure({ maxConcurrent: 1, queueSize: 0 });
    const slot = await limiter.acquire();
    await assert.rejects(limiter.acquire(), (e: unknown) => isLimiterError(e, 'queue_full'));
    assert.deepEqual(events, ['acquired llm true', 'refused llm queue_full']);

    await registry.leave(acquireA, 'llm');
    await registry.leave(release, 'llm');
    assert.ok(registry.get('llm'), 'still used by acquireB');
    assert.equal(slot.released, false);
    await registry.leave(acquireB, 'llm');
    assert.equal(registry.get('llm'), undefined);
    assert.equal(slot.released, true, 'closing took the slot back');
    assert.deepEqual(registry.list().map((l) => l.name), ['tts']);
  });
});
