import * as assert from 'node:assert/strict';
import { SentenceSplitter, type SentenceSplitterOptions } from '../../src/pipeline/sentence-splitter';

/** Feed `text` in deltas of `step` code points (never splitting a character) and flush. */
function split(text: string, step = 3, options?: SentenceSplitterOptions): { sentences: string[]; splitter: SentenceSplitter } {
  const splitter = new SentenceSplitter(options);
  const chars = [...text];
  const sentences: string[] = [];
  for (let i = 0; i < chars.length; i += step) sentences.push(...splitter.push(chars.slice(i, i + step).join('')));
  sentences.push(...splitter.flush());
  return { sentences, splitter };
}

/** Feed the given deltas and flush; also returns what came out before the flush. */
function feed(deltas: string[], options?: SentenceSplitterOptions): { beforeFlush: string[]; sentences: string[] } {
  const splitter = new SentenceSplitter(options);
  const beforeFlush: string[] = [];
  for (const delta of deltas) beforeFlush.push(...splitter.push(delta));
  return { beforeFlush, sentences: [...beforeFlush, ...splitter.flush()] };
}

describe('pipeline/SentenceSplitter', function () {
  it('splits an English paragraph at sentence ends, whatever the delta size', function () {
    const text =
      'The weather in Berlin is mild today. Expect clouds in the afternoon! Will it rain? ' +
      'Probably not; take a jacket anyway.\nHave a good day';
    const expected = [
      'The weather in Berlin is mild today.',
      'Expect clouds in the afternoon!',
      'Will it rain?',
      'Probably not;',
      'take a jacket anyway.',
      'Have a good day',
    ];
    for (const step of [1, 2, 5, 17, 1000]) assert.deepEqual(split(text, step).sentences, expected, `step ${step}`);
  });

  it('splits a Chinese paragraph at CJK ends and full-width forms', function () {
    const text = '今天北京天气晴朗。下午可能有风！你要出门吗？记得带伞；晚上降温．明天见';
    for (const step of [1, 4, 100]) {
      assert.deepEqual(split(text, step).sentences, ['今天北京天气晴朗。', '下午可能有风！', '你要出门吗？', '记得带伞；', '晚上降温．', '明天见'], `step ${step}`);
    }
  });

  it('cuts the first sentence early at a comma once it is long enough, later ones only at ends', function () {
    assert.deepEqual(split('好的，我现在就帮你把音量调到五十，稍等一下。然后，我们再看看别的，好吗？').sentences, [
      '好的，我现在就帮你把音量调到五十，',
      '稍等一下。',
      '然后，我们再看看别的，好吗？',
    ]);
    assert.deepEqual(split('我觉得可以、你试试看，这样更好。').sentences, ['我觉得可以、', '你试试看，这样更好。']);
    assert.deepEqual(
      split('Sure, I will turn the lights off for you, and then, if you like, dim the hallway too.').sentences,
      ['Sure, I will turn the lights off for you,', 'and then, if you like, dim the hallway too.'],
    );
  });

  it('emits the early first sentence before the text is complete', function () {
    const { beforeFlush } = feed(['Certainly, my friend', ', here is the plan', ' for today']);
    assert.deepEqual(beforeFlush, ['Certainly, my friend,']);
  });

  it('does not cut at decimals, thousands, times, abbreviations, initials or URLs', function () {
    const text =
      'It is 3.5 degrees at 10:30 and 1,000 people came, e.g. Mr. Smith and J. K. Rowling from the U.S. office. ' +
      'See example.com/docs.html for details. Prices rose 2.75% vs. last year.';
    assert.deepEqual(split(text, 2).sentences, [
      'It is 3.5 degrees at 10:30 and 1,000 people came,',
      'e.g. Mr. Smith and J. K. Rowling from the U.S. office.',
      'See example.com/docs.html for details.',
      'Prices rose 2.75% vs. last year.',
    ]);
  });

  it('waits for the next delta before deciding about a dot at the end of a delta', function () {
    const { beforeFlush, sentences } = feed(['The answer is 3.', '14 exactly. Next']);
    assert.deepEqual(beforeFlush, ['The answer is 3.14 exactly.']);
    assert.deepEqual(sentences, ['The answer is 3.14 exactly.', 'Next']);
  });

  it('keeps list numbers with their item', function () {
    assert.deepEqual(split('Here is the list.\n1. Buy milk.\n2. Call mom.').sentences, ['Here is the list.', '1. Buy milk.', '2. Call mom.']);
  });

  it('forces a cut at the last comma or space past maxChars', function () {
    const long = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen';
    const { sentences } = split(`Hello there. ${long}, ${long} and so on.`, 4, { maxChars: 100 });
    assert.equal(sentences[0], 'Hello there.');
    assert.equal(sentences[1], `${long},`);
    assert.equal(sentences[2], `${long} and so on.`);
    for (const s of sentences) assert.ok(s.length <= 100, s);
    // CJK with no break at all is cut hard at the limit.
    const cjk = '我'.repeat(50);
    const hard = split(`好。${cjk}`, 3, { maxChars: 20 }).sentences;
    assert.deepEqual(hard.slice(1).map((s) => s.length), [20, 20, 10]);
  });

  for (const [label, deltas] of [
    ['<tool_call>', ['Let me check. <tool', '_call>{"name": "get_weather", "arg', 'uments": {"city": "Paris"}}</tool_', 'call> It is sunny.']],
    ['DeepSeek <｜tool▁call…｜>', ['Checking. <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city":"Paris"}\n```<｜tool▁call▁end｜><｜tool▁', 'calls▁end｜>', ' It is sunny.']],
    ['ASCII <|tool▁call…|>', ['Checking. <|tool▁call▁begin|>get_weather<|tool▁sep|>{"city":"Paris"}<|tool▁call▁', 'end|> It is sunny.']],
    ['<function=…>', ['One moment. <func', 'tion=get_weather>{"city": "Paris"}</fun', 'ction>It is sunny.']],
    ['fenced JSON', ['Sure. ``', '`json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n`', '``\nIt is sunny.']],
  ] as const) {
    it(`drops ${label} markup even when split across deltas`, function () {
      const { sentences } = feed([...deltas]);
      assert.equal(sentences.length, 2, JSON.stringify(sentences));
      assert.match(sentences[0]!, /^(Let me check|Checking|One moment|Sure)\.$/);
      assert.equal(sentences[1], 'It is sunny.');
      for (const s of sentences) assert.doesNotMatch(s, /tool|function|name|arguments|[<>{}`]/);
    });
  }

  it('drops unterminated markup at flush and keeps ordinary code blocks and "<" in prose', function () {
    assert.deepEqual(feed(['Done. <tool_call>{"name": "x", "argu']).sentences, ['Done.']);
    assert.deepEqual(feed(['Run ```sh\nls -l\n``` then relax.']).sentences, ['Run', 'ls -l', 'then relax.']);
    assert.deepEqual(feed(['If a <', ' b then b wins. <|im_end|>']).sentences, ['If a < b then b wins.']);
  });

  it('strips emoji from sentences and reports the first one that maps to an emotion', function () {
    const { sentences, splitter } = split('🤔 Let me think about that. 😆 Ha, got it!', 2);
    assert.deepEqual(sentences, ['Let me think about that.', 'Ha, got it!']);
    assert.deepEqual(splitter.leadingEmotion(), { emotion: 'thinking', emoji: '🤔' });

    const zh = split('好的😂，今天真开心🙂！', 1);
    assert.deepEqual(zh.sentences, ['好的，今天真开心！']);
    assert.deepEqual(zh.splitter.leadingEmotion(), { emotion: 'funny', emoji: '😂' });

    // Unmapped emoji are skipped; variation selectors and aliases still map.
    const alias = split('🚀 Off we go ❤️ with love.', 1);
    assert.deepEqual(alias.sentences, ['Off we go with love.']);
    assert.deepEqual(alias.splitter.leadingEmotion(), { emotion: 'loving', emoji: '😍' });
    assert.equal(split('No emoji here.').splitter.leadingEmotion(), undefined);
  });

  it('drops empty and punctuation-only sentences and markdown decoration', function () {
    assert.deepEqual(split('**Great question!** ... !!! \n\n 。。 \n- *Item* one.\n## Title\n😀').sentences, [
      'Great question!',
      'Item one.',
      'Title',
    ]);
  });

  it('flushes the remainder and can go on with the same turn afterwards', function () {
    const splitter = new SentenceSplitter();
    assert.deepEqual(splitter.push('Turning the light on'), []);
    assert.deepEqual(splitter.flush(), ['Turning the light on']);
    assert.equal(splitter.firstSentenceEmitted, true);
    // Not the first sentence any more: no early comma cut.
    assert.deepEqual(splitter.push('Done, the light is on, enjoy'), []);
    assert.deepEqual(splitter.flush(), ['Done, the light is on, enjoy']);
    assert.deepEqual(splitter.flush(), []);
    splitter.reset();
    assert.equal(splitter.firstSentenceEmitted, false);
  });
});
