import assert from 'node:assert/strict';
import { IntentError, IntentMatcher, parseCustomSentences } from '../../src/intents';
import { catalogueOf, homeEntities, ids } from './fixtures';

const CUSTOM = `
language: en
expansion_rules:
  water: "(water|sprinkle)"
lists:
  plant:
    - roses
    - in: "(tomato|tomatoes)"
      out: tomato
  minutes:
    range: {from: 1, to: 60}
intents:
  WaterPlants:
    sentences:
      - "<water> [the] {plant} [for {minutes} minutes]"
    response: "Watering the {plant}"
    slots:
      kind: garden
  PartyMode:
    sentences:
      en: ["party time", "start the party in [the] {area}"]
      zh: ["开派对", "{area}开派对"]
    response:
      en: "Let's party"
      zh: "派对开始"
    requires:
      domain: light
      capability: color
    target: all
  HassTurnOn:
    data:
      - sentences: ["let there be light in [the] {area}"]
        response: "Light in the {area}"
        requires: {domain: light}
`;

function expectIntentError(fn: () => unknown, code: string, line?: number, pattern?: RegExp): IntentError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof IntentError, `expected IntentError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (line !== undefined) assert.equal(caught.line, line, caught.message);
  if (line !== undefined) assert.match(caught.message, new RegExp(`line ${line}\\b`));
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

describe('intents/custom YAML', () => {
  const matcher = new IntentMatcher({ languages: ['en', 'zh'], catalogue: catalogueOf(homeEntities()), custom: CUSTOM });

  it('matches custom intents with custom lists, ranges, rules and fixed slots', () => {
    const roses = matcher.match('water the roses');
    assert.equal(roses?.intent, 'WaterPlants');
    assert.deepEqual(roses?.slots, { kind: 'garden', plant: 'roses' });
    assert.deepEqual(roses?.entities, []);
    assert.equal(roses?.response, 'Watering the roses');
    const tomatoes = matcher.match('Sprinkle the tomatoes for ten minutes, please');
    assert.deepEqual(tomatoes?.slots, { kind: 'garden', plant: 'tomato', minutes: 10 });
    assert.equal(tomatoes?.response, 'Watering the tomatoes');
    assert.equal(matcher.match('water the cactus'), undefined);
    assert.equal(matcher.match('water the roses for 90 minutes'), undefined);
  });

  it('routes sentences and responses by language, and applies requires/target', () => {
    const party = matcher.match('party time');
    assert.equal(party?.intent, 'PartyMode');
    assert.equal(party?.response, "Let's party");
    assert.deepEqual(ids(party), ['light.kitchen', 'light.living_zh']); // the lights with colour
    const zh = matcher.match('客厅开派对');
    assert.equal(zh?.language, 'zh');
    assert.equal(zh?.response, '派对开始');
    assert.deepEqual(ids(zh), ['light.living_zh']);
    assert.deepEqual(ids(matcher.match('start the party in the kitchen')), ['light.kitchen']);
    assert.equal(matcher.match('start the party in the garage'), undefined);
  });

  it('adds sentences to built-in intents (HA data: form) and keeps the built-ins', () => {
    const light = matcher.match('let there be light in the bedroom');
    assert.equal(light?.intent, 'HassTurnOn');
    assert.equal(light?.response, 'Light in the Bedroom');
    assert.deepEqual(ids(light), ['light.bedroom_ceiling', 'light.bedroom_lamp']);
    assert.equal(matcher.match('turn on the kitchen light')?.intent, 'HassTurnOn');
  });

  it('lets a custom sentence win over a built-in one', () => {
    const custom = new IntentMatcher({
      languages: ['en'],
      catalogue: catalogueOf(homeEntities()),
      custom: 'intents:\n  KitchenScene:\n    sentences: ["turn on the kitchen light"]\n    response: "Kitchen scene"\n',
    });
    assert.equal(custom.match('turn on the kitchen light')?.intent, 'KitchenScene');
    assert.equal(custom.match('turn off the kitchen light')?.intent, 'HassTurnOff');
  });

  it('detects the language of each sentence when none is declared', () => {
    const parsed = parseCustomSentences('intents:\n  Hello:\n    sentences: ["hello there", "你好"]\n');
    assert.deepEqual(
      parsed.groups.map((g) => [g.language, g.group.sentences, g.lines]),
      [['en', ['hello there'], [3]], ['zh', ['你好'], [3]]],
    );
  });

  it('can run with custom sentences only', () => {
    const only = new IntentMatcher({ languages: ['en'], catalogue: catalogueOf(homeEntities()), custom: CUSTOM, noBuiltins: true });
    assert.equal(only.match('water the roses')?.intent, 'WaterPlants');
    assert.equal(only.match('turn on the kitchen light'), undefined);
  });

  it('reports bad YAML and bad entries with line numbers', () => {
    const make = (custom: string) => () => new IntentMatcher({ languages: ['en', 'zh'], catalogue: catalogueOf([]), custom });
    expectIntentError(make('intents:\n  A:\n    sentences: ["x"\n'), 'yaml_syntax', undefined, /custom sentences line \d+/);
    expectIntentError(make('intents:\n  A:\n    sentences:\n      - "turn on (the light"\n'), 'template_syntax', 4, /never closed/);
    expectIntentError(make('intents:\n  A:\n    sentences:\n      - "ok"\n      - "feed the {pet}"\n'), 'unknown_list', 5, /\{pet\}/);
    expectIntentError(make('intents:\n  A:\n    sentences: ["<nope> x"]\n'), 'unknown_rule', 3, /<nope>/);
    expectIntentError(make('expansion_rules:\n  a: "<b>"\n  b: "<a>"\nintents:\n  A:\n    sentences: ["<a>"]\n'), 'rule_cycle', 6);
    expectIntentError(make('intents:\n  A:\n    sentence: ["x"]\n'), 'yaml_schema', 3, /unknown key "sentence"/);
    expectIntentError(make('intents:\n  A:\n    response: "hi"\n'), 'yaml_schema', 3, /"sentences" is missing/);
    expectIntentError(make('intents:\n  A:\n    sentences: [["x"]]\n'), 'yaml_schema', 3, /non-empty string/);
    expectIntentError(make('intents:\n  A:\n    sentences: ["x"]\n    requires: {capability: flying}\n'), 'yaml_schema', 4, /capability must be one of/);
    expectIntentError(make('intents:\n  A:\n    sentences: ["x"]\n    target: everything\n'), 'yaml_schema', 4, /target must be/);
    expectIntentError(make('lists:\n  level:\n    range: {from: 10, to: 1}\n'), 'yaml_schema', 3, /from <= to/);
    expectIntentError(make('lists:\n  pets: []\n'), 'yaml_schema', 2, /empty/);
    expectIntentError(make('lists:\n  pets:\n    - in: "(cat|dog"\n'), 'template_syntax', 2, /list pets/);
    expectIntentError(make('language: fr\n'), 'yaml_schema', 1, /language must be/);
    expectIntentError(make('- just a list\n'), 'yaml_schema', 1, /expected a mapping/);
    expectIntentError(make('intentz: {}\n'), 'yaml_schema', 1, /unknown key "intentz"/);
  });

  it('rejects bad options', () => {
    assert.throws(() => new IntentMatcher({ languages: [], catalogue: catalogueOf([]) }), (e: unknown) => e instanceof IntentError && e.code === 'bad_option');
    assert.throws(
      () => new IntentMatcher({ languages: ['fr' as 'en'], catalogue: catalogueOf([]) }),
      (e: unknown) => e instanceof IntentError && e.code === 'bad_option',
    );
  });

  it('accepts empty custom YAML', () => {
    const empty = new IntentMatcher({ languages: ['en'], catalogue: catalogueOf(homeEntities()), custom: '# nothing yet\n' });
    assert.equal(empty.match('turn on the kitchen light')?.intent, 'HassTurnOn');
  });
});
