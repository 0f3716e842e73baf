import * as assert from 'node:assert/strict';
import { respond, SET_VOLUME_TOOL, DEVICE_STATUS_TOOL, type OfflineContext, type OfflineToolResult } from '../../src/pipeline/offline-responder';

/** A device stand-in: records every tool call, reports a volume of `volume`, answers `setResult`. */
function device(opts: { volume?: number; setResult?: OfflineToolResult | Error; tools?: string[] } = {}) {
  const calls: Array<{ name: string; args: Record<string, unknown> }> = [];
  const ctx: OfflineContext = {
    // Thursday 5 March 2026, 15:05 UTC.
    now: new Date('2026-03-05T15:05:00Z'),
    timeZone: 'UTC',
    tools: opts.tools ?? [SET_VOLUME_TOOL, DEVICE_STATUS_TOOL],
    callTool: async (name, args) => {
      calls.push({ name, args });
      if (name === DEVICE_STATUS_TOOL) return { text: JSON.stringify({ audio_speaker: { volume: opts.volume ?? 70 } }), isError: false };
      if (opts.setResult instanceof Error) throw opts.setResult;
      return opts.setResult ?? { text: 'true', isError: false };
    },
  };
  return { ctx, calls };
}

describe('pipeline/offline-responder', function () {
  describe('English', function () {
    it('tells the time and the date in the given time zone', async function () {
      const { ctx } = device();
      assert.equal((await respond('What time is it?', ctx)).reply, "It's 3:05 PM.");
      assert.equal((await respond('WHAT TIME IS IT', ctx)).reply, "It's 3:05 PM.", 'capitals from pocketsphinx');
      assert.equal((await respond("what's the date today", ctx)).reply, 'Today is Thursday, March 5, 2026.');
      assert.equal((await respond('what day is it', ctx)).reply, 'Today is Thursday, March 5, 2026.');
      const tokyo = await respond('what time is it', { ...ctx, timeZone: 'Asia/Tokyo' });
      assert.equal(tokyo.reply, "It's 12:05 AM.");
    });

    it('greets, introduces itself, thanks, says goodbye and tells a joke', async function () {
      const { ctx, calls } = device();
      assert.match((await respond('Hello', ctx)).reply, /^Hello!/);
      assert.equal((await respond('hello', ctx)).emotion, 'happy');
      assert.match((await respond('who are you?', ctx)).reply, /Xiaozhi.*time and date.*volume.*joke/);
      assert.match((await respond('what can you do', ctx)).reply, /Xiaozhi/);
      assert.equal((await respond('thank you', ctx)).reply, "You're welcome!");
      assert.match((await respond('goodbye', ctx)).reply, /^Goodbye/);
      const joke = await respond('tell me a joke', ctx);
      assert.equal(joke.emotion, 'laughing');
      assert.match(joke.reply, /\?/);
      const later = await respond('tell me a joke', { ...ctx, now: new Date(ctx.now.getTime() + 1000) });
      assert.notEqual(later.reply, joke.reply, 'another second, another joke');
      assert.equal(calls.length, 0, 'no tool calls for small talk');
    });

    it('sets the volume to a number (digits or words) through the device tool', async function () {
      const { ctx, calls } = device();
      assert.equal((await respond('Set the volume to 50.', ctx)).reply, 'Volume set to 50.');
      assert.equal((await respond('volume fifty five', ctx)).reply, 'Volume set to 55.');
      assert.equal((await respond('set the volume to 250', ctx)).reply, 'Volume set to 100.', 'clamped');
      assert.deepEqual(calls, [
        { name: SET_VOLUME_TOOL, args: { volume: 50 } },
        { name: SET_VOLUME_TOOL, args: { volume: 55 } },
        { name: SET_VOLUME_TOOL, args: { volume: 100 } },
      ]);
    });

    it('turns the volume up and down from the current volume', async function () {
      const { ctx, calls } = device({ volume: 70 });
      assert.equal((await respond('turn the volume up', ctx)).reply, 'Volume set to 80.');
      assert.equal((await respond('Turn it down please', ctx)).reply, 'Volume set to 60.');
      assert.deepEqual(calls, [
        { name: DEVICE_STATUS_TOOL, args: {} },
        { name: SET_VOLUME_TOOL, args: { volume: 80 } },
        { name: DEVICE_STATUS_TOOL, args: {} },
        { name: SET_VOLUME_TOOL, args: { volume: 60 } },
      ]);
      const atMax = device({ volume: 100 });
      assert.equal((await respond('louder', atMax.ctx)).reply, 'The volume is already at 100.');
      assert.deepEqual(atMax.calls.map((c) => c.name), [DEVICE_STATUS_TOOL]);
    });

    it('says so when the device has no volume tool, cannot read the volume, or refuses', async function () {
      const none = device({ tools: [] });
      assert.equal((await respond('set the volume to 30', none.ctx)).reply, "Sorry, I can't change the volume on this device.");
      assert.equal(none.calls.length, 0);
      const noCaller = await respond('set the volume to 30', { now: new Date(), tools: [SET_VOLUME_TOOL] });
      assert.match(noCaller.reply, /can't change the volume/);
      const noStatus = device({ tools: [SET_VOLUME_TOOL] });
      assert.match((await respond('volume up', noStatus.ctx)).reply, /can't read the current volume/);
      assert.equal(noStatus.calls.length, 0);
      const refused = device({ setResult: { text: 'volume out of range', isError: true } });
      assert.equal((await respond('set the volume to 30', refused.ctx)).reply, 'Sorry, the device did not accept the volume change.');
      const broken = device({ setResult: new Error('tool call timed out') });
      assert.equal((await respond('set the volume to 30', broken.ctx)).emotion, 'sad');
    });

    it('answers anything else honestly with what it heard', async function () {
      const { ctx } = device();
      const reply = await respond('What is the capital of France?', ctx);
      assert.equal(
        reply.reply,
        'I heard: What is the capital of France. I can tell the time and date, set the volume or tell a joke; connect a language model for anything else.',
      );
      assert.match((await respond('   ', ctx)).reply, /didn't catch that/);
    });
  });

  describe('Chinese', function () {
    it('tells the time and the date', async function () {
      const { ctx } = device();
      assert.equal((await respond('现在几点了？', ctx)).reply, '现在是下午3点05分。');
      assert.equal((await respond('今天星期几', ctx)).reply, '今天是2026年3月5日，星期四。');
      assert.equal((await respond('几点了', { ...ctx, now: new Date('2026-03-05T08:00:00Z') })).reply, '现在是上午8点整。');
    });

    it('greets, introduces itself, thanks, says goodbye and tells a joke', async function () {
      const { ctx } = device();
      assert.match((await respond('你好', ctx)).reply, /^你好！我是小智/);
      assert.match((await respond('你是谁', ctx)).reply, /^我是小智/);
      assert.equal((await respond('谢谢你', ctx)).reply, '不客气！');
      assert.match((await respond('再见', ctx)).reply, /^再见/);
      const joke = await respond('讲个笑话', ctx);
      assert.equal(joke.emotion, 'laughing');
      assert.match(joke.reply, /[\u4e00-\u9fff]/);
    });

    it('sets the volume from digits and Chinese numerals, and steps it', async function () {
      const { ctx, calls } = device({ volume: 40 });
      assert.equal((await respond('音量调到50', ctx)).reply, '音量已调到50。');
      assert.equal((await respond('把音量调到二十五', ctx)).reply, '音量已调到25。');
      assert.equal((await respond('音量百分之三十', ctx)).reply, '音量已调到30。');
      assert.equal((await respond('声音大一点', ctx)).reply, '音量已调到50。', '一 in 大一点 is not a number');
      assert.equal((await respond('小声一点', ctx)).reply, '音量已调到30。');
      assert.deepEqual(
        calls.filter((c) => c.name === SET_VOLUME_TOOL).map((c) => c.args.volume),
        [50, 25, 30, 50, 30],
      );
      const none = device({ tools: [] });
      assert.equal((await respond('音量调到50', none.ctx)).reply, '抱歉，这个设备不支持调节音量。');
    });

    it('answers anything else honestly in Chinese', async function () {
      const { ctx } = device();
      assert.equal(
        (await respond('北京明天天气怎么样？', ctx)).reply,
        '我听到的是：北京明天天气怎么样。我可以报时间和日期、调节音量或者讲笑话；更多功能请接入大模型。',
      );
    });
  });
});
