import assert from 'node:assert/strict';
import { IntentMatcher, benchCatalogue, benchSentences } from '../../src/intents';

describe('intents/bench sentences', () => {
  it('are reproducible, mixed, and matched as expected by the built-ins', () => {
    const a = benchSentences(2000, 3);
    assert.deepEqual(a, benchSentences(2000, 3));
    assert.notDeepEqual(a, benchSentences(2000, 4));
    const misses = a.filter((s) => s.expectIntent === undefined).length;
    const chinese = a.filter((s) => s.language === 'zh').length;
    assert.ok(misses > 400 && misses < 800, `misses ${misses}`);
    assert.ok(chinese > 800 && chinese < 1200, `chinese ${chinese}`);

    const catalogue = benchCatalogue();
    assert.ok(catalogue.entities().length >= 190, `entities ${catalogue.entities().length}`);
    const matcher = new IntentMatcher({ languages: ['en', 'zh'], catalogue });
    const wrong = a.filter((s) => matcher.match(s.text)?.intent !== s.expectIntent).map((s) => s.text);
    assert.deepEqual(wrong, []);
  });
});
