import assert from 'node:assert/strict';
import { IntentMatcher, benchCatalogue, phrasesForGrammar } from '../../src/intents';
import { catalogueOf, homeEntities } from './fixtures';

describe('intents/grammar phrases', () => {
  it('expands the English templates with the catalogue names', () => {
    const matcher = new IntentMatcher({ languages: ['en', 'zh'], catalogue: catalogueOf(homeEntities()) });
    const phrases = phrasesForGrammar(matcher);
    for (const phrase of [
      'turn on the kitchen light',
      'turn off the kitchen light',
      'turn off the bedroom lights',
      'set the kitchen light to fifty percent',
      'open the garage door',
      'set the thermostat to twenty one degrees',
      'activate the movie scene',
      'is the kitchen light on',
      'set the volume to fifty',
      'louder',
      'turn on lamp two',
    ]) {
      assert.ok(phrases.includes(phrase), `missing "${phrase}"`);
    }
    // English only, spelled out, no symbols, no duplicates
    for (const phrase of phrases) assert.match(phrase, /^[a-z' ]+$/, phrase);
    assert.equal(new Set(phrases).size, phrases.length);
    // every phrase is one the matcher understands, and names fit their intents
    for (const phrase of phrases) assert.ok(matcher.match(phrase, 'en'), `"${phrase}" does not match`);
    assert.ok(!phrases.includes('open the kitchen light'));
  });

  it('stays bounded with a ~200-entity home and still covers every light by name', () => {
    const matcher = new IntentMatcher({ languages: ['en'], catalogue: benchCatalogue() });
    const phrases = phrasesForGrammar(matcher, { maxPhrases: 3000 });
    assert.equal(phrases.length, 3000);
    const englishLights = matcher.entities().filter((e) => e.domain === 'light' && /^[a-z ]+$/i.test(e.name));
    assert.ok(englishLights.length > 50);
    for (const light of englishLights) {
      assert.ok(phrases.includes(`turn on ${light.name.toLowerCase()}`) || phrases.includes(`turn on the ${light.name.toLowerCase()}`), light.name);
    }
    assert.equal(phrasesForGrammar(matcher, { maxPhrases: 10 }).length, 10);
    assert.deepEqual(phrasesForGrammar(matcher, { maxPhrases: 0 }), []);
  });

  it('is empty without English', () => {
    const matcher = new IntentMatcher({ languages: ['zh'], catalogue: catalogueOf(homeEntities()) });
    assert.deepEqual(phrasesForGrammar(matcher), []);
  });
});
