import assert from 'node:assert/strict';
import { DownlinkPacer, type PacerTimers } from '../../src/gateway/downlink-pacer';

/** A virtual clock: timers fire only when the test advances time. */
class VirtualClock implements PacerTimers {
  nowMs = 1000;
  private timers: Array<{ at: number; callback: () => void; id: number }> = [];
  private nextId = 1;
  /** Extra lateness added to every timer (a loaded event loop). */
  latenessMs = 0;

  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.nowMs + Math.max(0, delayMs) + this.latenessMs, callback, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Advance to `toMs`, firing due timers in order. */
  advanceTo(toMs: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > toMs) break;
      this.timers.shift();
      this.nowMs = Math.max(this.nowMs, next.at);
      next.callback();
    }
    this.nowMs = toMs;
  }

  advance(ms: number): void {
    this.advanceTo(this.nowMs + ms);
  }
}

type Event = { kind: 'audio'; id: number; atMs: number } | { kind: 'json'; message: Record<string, unknown>; atMs: number } | { kind: 'stopped'; atMs: number };

function setup(overrides: Partial<ConstructorParameters<typeof DownlinkPacer>[1]> = {}) {
  const clock = new VirtualClock();
  const events: Event[] = [];
  const pacer = new DownlinkPacer(
    {
      sendAudio: (frame) => events.push({ kind: 'audio', id: frame.readUInt16BE(0), atMs: clock.nowMs }),
      sendJson: (message) => events.push({ kind: 'json', message: message as Record<string, unknown>, atMs: clock.nowMs }),
      onStopped: () => events.push({ kind: 'stopped', atMs: clock.nowMs }),
    },
    { frameMs: 60, prerollFrames: 5, stopMarginMs: 60, maxQueuedFrames: 100, ...overrides },
    () => clock.nowMs,
    clock,
  );
  let nextFrameId = 0;
  const frames = (n: number) =>
    Array.from({ length: n }, () => {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(nextFrameId++);
      return b;
    });
  const audio = () => events.filter((e) => e.kind === 'audio') as Array<{ id: number; atMs: number }>;
  return { clock, events, pacer, frames, audio };
}

describe('DownlinkPacer', () => {
  it('releases the pre-roll at once, then one frame per 60 ms on the play-out clock', () => {
    const { clock, pacer, frames, audio } = setup();
    pacer.pushAudio(frames(20));
    assert.equal(audio().length, 5, 'pre-roll sent synchronously');
    clock.advance(59);
    assert.equal(audio().length, 5);
    clock.advance(1);
    assert.equal(audio().length, 6);
    clock.advance(60 * 14);
    assert.equal(audio().length, 20);
    const times = audio().map((a) => a.atMs - 1000);
    assert.deepEqual(times, [0, 0, 0, 0, 0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 660, 720, 780, 840, 900]);
  });

  it('does not accumulate timer lateness (drift-corrected)', () => {
    const { clock, pacer, frames, audio } = setup();
    clock.latenessMs = 7; // every timer fires 7 ms late
    pacer.pushAudio(frames(105 - 5));
    clock.advance(60 * 100);
    const last = audio().at(-1)!;
    // Frame k (k >= 5) is due at (k - 4) * 60; lateness stays bounded by one timer's delay.
    assert.ok(last.atMs - 1000 - (99 - 4) * 60 <= 7, `last frame ${last.atMs - 1000} ms`);
  });

  it('keeps the clock across sentences: a refill before the device runs dry continues the timeline', () => {
    const { clock, pacer, frames, audio } = setup();
    pacer.pushAudio(frames(10)); // plays 0..600 ms
    clock.advance(400); // frames 0..9 released by 300 ms; device still playing until 600
    assert.equal(audio().length, 10);
    pacer.pushAudio(frames(10));
    // Frame 10 was due at 360 ms (past): sent now; frame 11 at 420, and so on: no gap, no burst.
    assert.deepEqual(audio().slice(10).map((a) => a.atMs - 1000), [400]);
    clock.advance(20);
    assert.deepEqual(audio().slice(10).map((a) => a.atMs - 1000), [400, 420]);
    clock.advance(1000);
    assert.equal(audio().length, 20);
    assert.equal(pacer.stats.underruns, 0);
  });

  it('starts a new run with a fresh pre-roll after the device played everything', () => {
    const { clock, pacer, frames, audio } = setup();
    pacer.pushAudio(frames(5));
    clock.advance(2000);
    pacer.pushAudio(frames(10));
    assert.equal(audio().length, 10, 'second pre-roll burst');
    assert.equal(pacer.stats.underruns, 1);
  });

  it('times subtitles with their audio and sends stop after play-out', () => {
    const { clock, pacer, frames, events } = setup();
    pacer.pushJson({ text: 'one' });
    pacer.pushAudio(frames(10));
    pacer.pushJson({ text: 'two' });
    pacer.pushAudio(frames(10));
    pacer.finish({ stop: true });
    clock.advance(5000);
    const order = events.map((e) => (e.kind === 'audio' ? 'a' : e.kind === 'json' ? String(e.message.text ?? 'stop') : 'stopped'));
    // Audio runs 4 frames ahead of play-out; the subtitle waits for its frame to play.
    assert.deepEqual(order, ['one', ...'a'.repeat(14).split(''), 'two', ...'a'.repeat(6).split(''), 'stop', 'stopped']);
    const two = events.find((e) => e.kind === 'json' && e.message.text === 'two')!;
    assert.equal(two.atMs - 1000, 600, 'second subtitle when frame 10 starts playing (10 x 60 ms)');
    const stop = events.find((e) => e.kind === 'json' && e.message.stop)!;
    assert.equal(stop.atMs - 1000, 20 * 60 + 60, 'stop after the last frame played, plus the margin');
  });

  it('with earlyMs, a frame leaves up to that much before its due time (absorbing timer jitter), never earlier', () => {
    const { clock, pacer, frames, audio } = setup({ earlyMs: 4 });
    pacer.pushAudio(frames(8));
    assert.equal(audio().length, 5);
    clock.advance(55);
    assert.equal(audio().length, 5, 'not 5 ms early');
    clock.advance(1);
    assert.equal(audio().length, 6, 'frame 5 (due at 60 ms) left at 56 ms');
    clock.advance(60);
    assert.deepEqual(audio().map((a) => a.atMs - 1000).slice(5), [56, 116]);
  });

  it('a stop with nothing to play goes out after the margin (not postponed forever)', () => {
    const { clock, pacer, events } = setup();
    pacer.pushJson({ text: 'only a subtitle' });
    pacer.finish({ stop: true });
    clock.advance(59);
    assert.equal(events.filter((e) => e.kind === 'stopped').length, 0);
    clock.advance(1);
    assert.equal(events.filter((e) => e.kind === 'stopped').length, 1);
  });

  it('flush drops everything at once; a full queue refuses more', () => {
    const { clock, pacer, frames, audio, events } = setup({ maxQueuedFrames: 30 });
    pacer.pushAudio(frames(20));
    pacer.finish({ stop: true });
    assert.equal(pacer.pushAudio(frames(20)), false, 'over the limit');
    pacer.flush();
    clock.advance(5000);
    assert.equal(audio().length, 5);
    assert.equal(events.filter((e) => e.kind === 'json').length, 0);
    assert.equal(pacer.busy, false);
  });
});
