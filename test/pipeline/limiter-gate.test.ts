import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderLimiter } from '../../src/pipeline/limiter';
import { LimiterGate, STAGE_TOPICS, type Delivery, type GateMsg, type LimiterStamp } from '../../src/pipeline/limiter-gate';

/** Collects what the gate sends, and counts done() calls. */
function sink(): { out: GateMsg[]; done: number; delivery: () => Delivery } {
  const s = {
    out: [] as GateMsg[],
    done: 0,
    delivery: (): Delivery => ({ send: (m) => s.out.push(m), done: () => s.done++ }),
  };
  return s;
}

const BUSY = 'busy, try later';

describe('LimiterGate (msgs onto limiter slots)', function () {
  it('LLM stage: one slot per turn; the next session waits, goes on when reply.end frees the slot', async () => {
    const gate = new LimiterGate(new ProviderLimiter({ name: 'llm', maxConcurrent: 1, queueSize: 5 }));
    const s = sink();
    const opts = { topics: STAGE_TOPICS.llm, busyText: BUSY };
    gate.enter({ topic: 'stt', session: 's1', turn: 1, payload: 'hi' }, s.delivery(), opts);
    await sleep(0);
    assert.deepEqual((s.out[0]!.limiter as LimiterStamp), { name: 'llm', waitedMs: 0, queuePosition: 0 });
    gate.enter({ topic: 'stt', session: 's2', turn: 4, payload: 'hello' }, s.delivery(), opts);
    // Other topics pass untouched, also for the waiting session... unless they belong to its waiting turn.
    const other: GateMsg = { topic: 'emotion', session: 's3', payload: 'happy' };
    gate.enter(other, s.delivery(), opts);
    await sleep(0);
    assert.deepEqual(s.out.map((m) => m.topic), ['stt', 'emotion']);
    assert.equal(s.out[1], other);
    assert.equal(other.limiter, undefined);
    assert.deepEqual(gate.size, { holding: 1, waiting: 1, refused: 0 });
    // The LLM's stt passthrough is not an end; reply.end of s1 is.
    gate.leave({ topic: 'stt', session: 's1', turn: 1 }, s.delivery(), STAGE_TOPICS.llm);
    assert.deepEqual(gate.size, { holding: 1, waiting: 1, refused: 0 });
    gate.leave({ topic: 'reply.end', session: 's1', turn: 1 }, s.delivery(), STAGE_TOPICS.llm);
    await sleep(0);
    const s2 = s.out.find((m) => m.session === 's2' && m.topic === 'stt');
    assert.ok(s2, 's2 admitted');
    assert.equal((s2.limiter as LimiterStamp).queuePosition, 1);
    assert.equal(s.done, s.out.length, 'every msg finished exactly once');
  });

  it('refusal: the msg becomes a say busy reply with the ids kept; the rest of the TTS turn is dropped', async () => {
    const limiter = new ProviderLimiter({ name: 'tts', maxConcurrent: 1, queueSize: 0 });
    const gate = new LimiterGate(limiter);
    const s = sink();
    const busy: GateMsg[] = [];
    const opts = { topics: STAGE_TOPICS.tts, busyText: BUSY, onBusy: (_e: unknown, m: GateMsg) => busy.push(m) };
    gate.enter({ topic: 'sentence', session: 'a', turn: 1, payload: 'One.' }, s.delivery(), opts);
    await sleep(0);
    const device = { id: 'dev', clientId: 'c' };
    gate.enter({ topic: 'sentence', session: 'b', turn: 2, payload: 'Two.', device, timings: { llmStart: 1 }, _msgid: 'm1' }, s.delivery(), opts);
    await sleep(0);
    const reply = s.out.at(-1)!;
    assert.equal(reply.topic, 'say');
    assert.equal(reply.payload, BUSY);
    assert.deepEqual([reply.session, reply.turn, reply.device, reply.timings, reply._msgid], ['b', 2, device, { llmStart: 1 }, 'm1']);
    assert.equal((reply.limiter as LimiterStamp).busy, true);
    assert.equal((reply.limiter as LimiterStamp).code, 'queue_full');
    assert.equal(busy.length, 1);
    // A downstream limiter lets the busy reply through without a slot.
    const s2 = sink();
    gate.enter(reply, s2.delivery(), opts);
    assert.deepEqual(s2.out, [reply]);
    // The refused turn's later sentences and reply.end are dropped; its other msgs pass.
    const before = s.out.length;
    gate.enter({ topic: 'sentence', session: 'b', turn: 2, payload: 'Three.' }, s.delivery(), opts);
    gate.enter({ topic: 'reply.end', session: 'b', turn: 2 }, s.delivery(), opts);
    gate.enter({ topic: 'emotion', session: 'b', turn: 2 }, s.delivery(), opts);
    await sleep(0);
    assert.deepEqual(s.out.slice(before).map((m) => m.topic), ['emotion']);
    // A new turn of b asks again (and is refused again while a holds the slot).
    gate.enter({ topic: 'sentence', session: 'b', turn: 3, payload: 'Four.' }, s.delivery(), opts);
    await sleep(0);
    assert.equal(s.out.at(-1)!.topic, 'say');
    assert.equal(s.done, 6, "a, b (busy), three later msgs of turn 2, b turn 3 (busy)");
  });

  it('TTS: msgs of a waiting turn queue behind it in order and go on together', async () => {
    const gate = new LimiterGate(new ProviderLimiter({ name: 'tts2', maxConcurrent: 1, queueSize: 5 }));
    const s = sink();
    const opts = { topics: STAGE_TOPICS.tts, busyText: BUSY };
    gate.enter({ topic: 'sentence', session: 'a', turn: 1, payload: 'A.' }, s.delivery(), opts);
    for (const [topic, payload] of [['sentence', 'B1.'], ['sentence', 'B2.'], ['reply.end', 'B1. B2.']]) gate.enter({ topic, session: 'b', turn: 7, payload }, s.delivery(), opts);
    await sleep(0);
    assert.deepEqual(s.out.map((m) => m.payload), ['A.']);
    gate.leave({ topic: 'tts.stop', session: 'a', turn: 1 }, s.delivery(), STAGE_TOPICS.tts);
    await sleep(0);
    assert.deepEqual(s.out.map((m) => m.payload), ['A.', undefined, 'B1.', 'B2.', 'B1. B2.']);
    assert.equal((s.out[2]!.limiter as LimiterStamp).queuePosition, 1);
    assert.equal((s.out[3]!.limiter as LimiterStamp).queuePosition, 1);
    assert.equal(s.out[4]!.limiter, undefined, 'reply.end passes untouched');
  });

  it('abort / session.end free the slot and drop a waiting turn; a new turn frees the old one', async () => {
    const limiter = new ProviderLimiter({ name: 'asr', maxConcurrent: 1, queueSize: 5 });
    const gate = new LimiterGate(limiter);
    const s = sink();
    const opts = { topics: STAGE_TOPICS.asr, busyText: BUSY };
    gate.enter({ topic: 'utterance', session: 'a', turn: 1 }, s.delivery(), opts);
    gate.enter({ topic: 'utterance', session: 'b', turn: 1 }, s.delivery(), opts);
    await sleep(0);
    assert.equal(limiter.stats().queued, 1);
    gate.enter({ topic: 'abort', session: 'b' }, s.delivery(), opts);
    assert.equal(limiter.stats().queued, 0, 'the waiter left at once');
    await sleep(0);
    assert.deepEqual(s.out.map((m) => `${m.topic}:${String(m.session)}`), ['utterance:a', 'abort:b']);
    // a speaks again (turn 2): its turn-1 slot is freed and it takes a slot anew.
    gate.enter({ topic: 'utterance', session: 'a', turn: 2 }, s.delivery(), opts);
    await sleep(0);
    assert.equal(limiter.stats().running, 1);
    assert.equal(limiter.stats().acquired, 2);
    gate.leave({ topic: 'session.end', session: 'a' }, s.delivery(), STAGE_TOPICS.asr);
    assert.equal(limiter.stats().running, 0);
    assert.equal(s.done, 5);
    assert.deepEqual(gate.size, { holding: 0, waiting: 0, refused: 0 });
  });

  it('a slot whose end never comes back is freed by the run timeout', async () => {
    const limiter = new ProviderLimiter({ name: 'run', maxConcurrent: 1, queueSize: 5, runTimeoutMs: 30 });
    const gate = new LimiterGate(limiter);
    const s = sink();
    const expired: string[] = [];
    const opts = { topics: STAGE_TOPICS.llm, busyText: BUSY, onExpired: (session: string) => expired.push(session) };
    gate.enter({ topic: 'stt', session: 'x', turn: 1 }, s.delivery(), opts);
    gate.enter({ topic: 'stt', session: 'y', turn: 1 }, s.delivery(), opts);
    for (let i = 0; i < 100 && s.out.length < 2; i++) await sleep(10);
    assert.deepEqual(s.out.map((m) => m.session), ['x', 'y']);
    assert.deepEqual(expired, ['x']);
  });
});
