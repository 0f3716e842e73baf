import { strict as assert } from 'node:assert';
import { cleanTextForSpeech } from '../../../src/providers/tts/text-cleanup';

describe('cleanTextForSpeech', () => {
  const cases: Array<[string, string, string]> = [
    ['bold and italic', 'This is **very** important and *quite* __bold__ and _soft_.', 'This is very important and quite bold and soft.'],
    ['snake_case survives italic stripping', 'Set living_room_light to on.', 'Set living_room_light to on.'],
    ['inline code keeps its content', 'Run `npm start` now.', 'Run npm start now.'],
    ['headings', '# Weather\n## Today\nSunny.', 'Weather Today Sunny.'],
    ['bullets and numbered lists', '- apples\n* pears\n+ plums\n1. one\n2) two', 'apples pears plums one two'],
    ['links keep their text, images their alt text', 'See [the docs](https://example.com/x) and ![a cat](cat.png).', 'See the docs and a cat.'],
    ['strikethrough and block quotes', '> ~~old~~ new', 'old new'],
    ['emoji including sequences and flags', 'Good morning 😀👍🏽 👨‍👩‍👧 🇨🇳!', 'Good morning!'],
    ['Chinese with emoji and markdown', '**今天**天气很好😊，适合出门。', '今天天气很好，适合出门。'],
    ['tool_call markup', 'Sure.<tool_call>{"name":"light","arguments":{"on":true}}</tool_call> Done.', 'Sure. Done.'],
    ['function markup', 'Turning it on <function=set_light>{"on": true}</function> now', 'Turning it on now'],
    ['unterminated tool call swallows the rest', 'OK <tool_call>{"name":"x","argu', 'OK'],
    ['think blocks', '<think>The user wants the time.</think>It is noon.', 'It is noon.'],
    ['JSON call blob with nested braces and braces in strings', 'Here {"name": "say", "arguments": {"text": "a } b", "n": {"x": 1}}} you go', 'Here you go'],
    ['OpenAI style function JSON', '{"type":"function","function":{"name":"f","arguments":"{}"}}Hello', 'Hello'],
    ['ordinary braces stay', 'Use {curly} braces', 'Use {curly} braces'],
    ['fenced code block is dropped', 'Example:\n```js\nconsole.log(1)\n```\nThat is all.', 'Example: That is all.'],
    ['HTML tags and chat-template tokens', 'Line<br>next<|im_end|>', 'Line next'],
    ['table', '| a | b |\n|---|---|\n| 1 | 2 |', 'a b 1 2'],
    ['whitespace collapses', '  many\n\n\tspaces   here ', 'many spaces here'],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => assert.equal(cleanTextForSpeech(input), expected));
  }

  it("returns '' when nothing speakable remains", () => {
    assert.equal(cleanTextForSpeech(''), '');
    assert.equal(cleanTextForSpeech('😀🎉 !!'), '');
    assert.equal(cleanTextForSpeech('**  **'), '');
    assert.equal(cleanTextForSpeech('<tool_call>{"name":"x","arguments":{}}</tool_call>'), '');
    assert.equal(cleanTextForSpeech('---'), '');
  });

  it('keeps digits, math-free punctuation and plain text untouched', () => {
    assert.equal(cleanTextForSpeech('It is 21.5 degrees, 60% humidity.'), 'It is 21.5 degrees, 60% humidity.');
    assert.equal(cleanTextForSpeech('a < b and c > d'), 'a < b and c > d');
  });
});
