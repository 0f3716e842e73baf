import assert from 'node:assert/strict';
import { IntentError, parseTemplate, tokenize } from '../../src/intents';
import { SkipWords } from '../../src/intents/normalize';
import { RuleSet, SlotListIndex, TokenTreeBuilder, compileTemplate, newMatchState, runTemplate } from '../../src/intents/template';

function setup(rules: Record<string, string> = {}, skipWords: string[] = ['the', 'please', '的']) {
  const skip = new SkipWords(skipWords);
  const ruleSet = new RuleSet(rules);
  const lists = new SlotListIndex(skip, ruleSet);
  lists.setList('color', { kind: 'values', values: [{ in: 'red', out: 'red' }, { in: '(sky blue|azure)', out: 'blue' }, { in: '红色', out: 'red' }] });
  lists.setList('brightness', { kind: 'range', from: 0, to: 100 });
  lists.setEntries('name', [
    { text: 'Kitchen Light', value: 'Kitchen Light', ids: ['a'] },
    { text: 'Kitchen', value: 'Kitchen', ids: ['b'] },
    { text: '客厅灯', value: '客厅灯', ids: ['c'] },
  ]);
  const builder = new TokenTreeBuilder(ruleSet, skip, (n) => lists.has(n));
  const match = (template: string, text: string) => {
    const compiled = compileTemplate(template, builder, lists);
    const tokens = skip.strip(tokenize(text));
    return runTemplate(compiled, newMatchState(tokens)).map((captures) =>
      Object.fromEntries(captures.map((c) => [c.slot, c.value])),
    );
  };
  return { match, builder, lists };
}

function expectIntentError(fn: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IntentError, `expected IntentError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

describe('intents/template', () => {
  it('tokenises case, punctuation, width and CJK without spaces the same way', () => {
    assert.deepEqual(tokenize('  Turn ON the   Kitchen-Light, please!! '), ['turn', 'on', 'the', 'kitchen', 'light', 'please']);
    assert.deepEqual(tokenize('打开客厅的灯。'), ['打', '开', '客', '厅', '的', '灯']);
    assert.deepEqual(tokenize('打开 客厅 的 灯'), tokenize('打开客厅的灯'));
    assert.deepEqual(tokenize('ＴＵＲＮ　ＯＮ'), ['turn', 'on']);
    assert.deepEqual(tokenize('50% 21.5°C what\'s'), ['50', '%', '21.5', '°', 'c', "what's"]);
  });

  it('parses alternatives, optional parts, slots, ranges and rules', () => {
    assert.deepEqual(parseTemplate('(a|b c) [d] {x} {y:z} {n:1-10} <r>'), [
      { kind: 'group', optional: false, options: [[{ kind: 'text', text: 'a' }], [{ kind: 'text', text: 'b c' }]] },
      { kind: 'text', text: ' ' },
      { kind: 'group', optional: true, options: [[{ kind: 'text', text: 'd' }]] },
      { kind: 'text', text: ' ' },
      { kind: 'slot', list: 'x', slot: 'x' },
      { kind: 'text', text: ' ' },
      { kind: 'slot', list: 'y', slot: 'z' },
      { kind: 'text', text: ' ' },
      { kind: 'slot', list: 'n', slot: 'n', range: { from: 1, to: 10 } },
      { kind: 'text', text: ' ' },
      { kind: 'rule', name: 'r' },
    ]);
  });

  it('matches alternatives and optional words with tolerance for fillers and punctuation', () => {
    const { match } = setup();
    const t = '(turn|switch) on [the] {name}';
    assert.deepEqual(match(t, 'turn on the kitchen light'), [{ name: 'Kitchen Light' }]);
    assert.deepEqual(match(t, 'Switch ON kitchen light, please!'), [{ name: 'Kitchen Light' }]);
    assert.deepEqual(match(t, 'turn on the the kitchen   light'), [{ name: 'Kitchen Light' }]);
    assert.deepEqual(match(t, 'turn off the kitchen light'), []);
    assert.deepEqual(match(t, 'turn on the kitchen light now'), []);
    assert.deepEqual(match('打开{name}', '打开客厅的灯'), [{ name: '客厅灯' }]);
  });

  it('folds glued groups into words: light[s], colo[u]r', () => {
    const { match } = setup();
    assert.equal(match('light[s] on', 'lights on').length, 1);
    assert.equal(match('light[s] on', 'light on').length, 1);
    assert.equal(match('light[s] on', 'light s on').length, 0);
    assert.equal(match('set colo[u]r', 'set colour').length, 1);
    assert.equal(match('set colo[u]r', 'set color').length, 1);
    assert.equal(match('set colo[u]r', 'set colo r').length, 0);
  });

  it('prefers the longest list value but backtracks to shorter ones', () => {
    const { match } = setup();
    assert.deepEqual(match('{name} light', 'kitchen light'), [{ name: 'Kitchen' }]);
    assert.deepEqual(match('{name}', 'kitchen light'), [{ name: 'Kitchen Light' }]);
  });

  it('fills value lists, list values that are templates, and renamed slots', () => {
    const { match } = setup();
    assert.deepEqual(match('make it {color}', 'make it red'), [{ color: 'red' }]);
    assert.deepEqual(match('make it {color}', 'make it azure'), [{ color: 'blue' }]);
    assert.deepEqual(match('make it {color}', 'make it sky blue'), [{ color: 'blue' }]);
    assert.deepEqual(match('make it {color:paint}', 'make it red'), [{ paint: 'red' }]);
    assert.deepEqual(match('调成{color}', '调成红色'), [{ color: 'red' }]);
    assert.deepEqual(match('make it {color}', 'make it green'), []);
  });

  it('reads numbers in digits, words and Chinese, and enforces ranges', () => {
    const { match } = setup();
    assert.deepEqual(match('to {brightness} percent', 'to 50 percent'), [{ brightness: 50 }]);
    assert.deepEqual(match('to {brightness} percent', 'to seventy five percent'), [{ brightness: 75 }]);
    assert.deepEqual(match('to {brightness} percent', 'to 150 percent'), []);
    assert.deepEqual(match('调到[百分之]{brightness}', '调到百分之五十'), [{ brightness: 50 }]);
    assert.deepEqual(match('调到[百分之]{brightness}', '调到五十'), [{ brightness: 50 }]);
    assert.deepEqual(match('level {level:1-10}', 'level seven'), [{ level: 7 }]);
    assert.deepEqual(match('level {level:1-10}', 'level eleven'), []);
  });

  it('expands rules, including nested ones', () => {
    const { match } = setup({ on: '(turn|switch) on', target: '[the] {name}', cmd: '<on> <target>' });
    assert.deepEqual(match('<cmd>', 'switch on the kitchen light'), [{ name: 'Kitchen Light' }]);
  });

  it('reports template errors with a code and a column', () => {
    const { builder } = setup({ loop: 'a <loop2>', loop2: 'b <loop>' });
    expectIntentError(() => parseTemplate('turn on (the light'), 'template_syntax', /never closed.*column 9/);
    expectIntentError(() => parseTemplate('turn on [the light'), 'template_syntax', /column 9/);
    expectIntentError(() => parseTemplate('turn on {name'), 'template_syntax', /column 9/);
    expectIntentError(() => parseTemplate('turn on the light)'), 'template_syntax', /unexpected "\)"/);
    expectIntentError(() => parseTemplate('set {brightness:100-0}'), 'template_syntax', /empty range/);
    expectIntentError(() => parseTemplate('a {} b'), 'template_syntax', /bad slot/);
    expectIntentError(() => builder.build('turn on {spaceship}'), 'unknown_list', /\{spaceship\}/);
    expectIntentError(() => builder.build('turn on <nothing>'), 'unknown_rule', /<nothing>/);
    expectIntentError(() => builder.build('<loop>'), 'rule_cycle', /<loop> -> <loop2> -> <loop>/);
  });

  it('stays bounded on pathological templates (step budget)', () => {
    const { builder, lists } = setup();
    // Nested optional groups: exponential paths without a budget.
    const template = compileTemplate(`${'[a] '.repeat(40)}b`, builder, lists);
    const st = newMatchState(tokenize(`${'a '.repeat(40)}c`), 5000);
    assert.deepEqual(runTemplate(template, st), []);
    assert.equal(st.aborted, true);
  });
});
