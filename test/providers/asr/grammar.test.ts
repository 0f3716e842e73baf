import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { buildJsgf, expandTemplates, normalisePhrase } from '../../../src/providers/asr/grammar';
import { DEFAULT_DICT_PATH, PronunciationDictionary } from '../../../src/providers/asr/grammar-dictionary';
import { GrammarError } from '../../../src/providers/asr/grammar-error';
import { spellNumber } from '../../../src/providers/asr/grammar-numbers';

/** A tiny dictionary in the Sphinx format, so these tests run without pocketsphinx-en-us. */
const SMALL_DICT = PronunciationDictionary.parse(
  [
    'turn T ER N',
    'on AA N',
    'on(2) AO N',
    'off AO F',
    'the DH AH',
    'the(2) DH IY',
    'kitchen K IH CH AH N',
    'light L AY T',
    'set S EH T',
    'volume V AA L Y UW M',
    'to T UW',
    'fifty F IH F T IY',
    'twenty T W EH N T IY',
    'one W AH N',
    'living L IH V IH NG',
    'room R UW M',
    "what's W AH T S",
    'wi-fi W AY F AY',
  ].join('\n'),
);

describe('grammar: spellNumber', () => {
  it('spells 0-100 the way people say them', () => {
    const expected: Record<number, string> = {
      0: 'zero',
      7: 'seven',
      13: 'thirteen',
      20: 'twenty',
      21: 'twenty one',
      50: 'fifty',
      99: 'ninety nine',
      100: 'one hundred',
    };
    for (const [n, words] of Object.entries(expected)) assert.equal(spellNumber(Number(n)), words);
  });

  it('spells hundreds and thousands, and reads huge numbers digit by digit', () => {
    assert.equal(spellNumber(250), 'two hundred fifty');
    assert.equal(spellNumber(1999), 'one thousand nine hundred ninety nine');
    assert.equal(spellNumber(12000), 'twelve thousand');
    assert.equal(spellNumber(1234567), 'one two three four five six seven');
  });
});

describe('grammar: normalisePhrase', () => {
  it('lower-cases, strips punctuation and spells numbers', () => {
    assert.deepEqual(normalisePhrase('Set the volume to 50!'), ['set', 'the', 'volume', 'to', 'fifty']);
    assert.deepEqual(normalisePhrase('Dim to 21%, please.'), ['dim', 'to', 'twenty', 'one', 'percent', 'please']);
    assert.deepEqual(normalisePhrase('lights & music'), ['lights', 'and', 'music']);
    assert.deepEqual(normalisePhrase('7.5 degrees'), ['seven', 'point', 'five', 'degrees']);
  });

  it("keeps apostrophes; keeps a hyphenated word the dictionary has, splits one it lacks", () => {
    assert.deepEqual(normalisePhrase("What's the Wi-Fi in the living-room?", SMALL_DICT), [
      "what's",
      'the',
      'wi-fi',
      'in',
      'the',
      'living',
      'room',
    ]);
  });

  it('returns no words for punctuation only', () => {
    assert.deepEqual(normalisePhrase(' ?! -- '), []);
  });
});

describe('grammar: buildJsgf', () => {
  it('builds a JSGF grammar of the normalised phrases, without duplicates', () => {
    const grammar = buildJsgf(['Turn on the kitchen light', 'turn on the kitchen light.', 'Set the volume to 50'], {
      dictionary: SMALL_DICT,
      name: 'my grammar',
    });
    assert.deepEqual(grammar.phrases, ['turn on the kitchen light', 'set the volume to fifty']);
    assert.deepEqual(grammar.words, ['fifty', 'kitchen', 'light', 'on', 'set', 'the', 'to', 'turn', 'volume']);
    assert.deepEqual(grammar.missingWords, []);
    assert.deepEqual(grammar.dropped, []);
    assert.match(grammar.jsgf, /^#JSGF V1\.0;\ngrammar my_grammar;\npublic <command> =/);
    assert.ok(grammar.jsgf.includes('turn on the kitchen light\n  | set the volume to fifty;'));
  });

  it('drops phrases with unknown words, reports the words and warns once per phrase', () => {
    const warnings: string[] = [];
    const grammar = buildJsgf(['turn on the kitchen light', 'turn on the zorbulator', 'frobnicate the light'], {
      dictionary: SMALL_DICT,
      onWarning: (m) => warnings.push(m),
    });
    assert.deepEqual(grammar.phrases, ['turn on the kitchen light']);
    assert.deepEqual(grammar.missingWords, ['frobnicate', 'zorbulator']);
    assert.deepEqual(grammar.dropped, ['turn on the zorbulator', 'frobnicate the light']);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] ?? '', /zorbulator/);
  });

  it('counts extraWords as known', () => {
    const grammar = buildJsgf(['turn on the zorbulator'], { dictionary: SMALL_DICT, extraWords: { Zorbulator: 'Z AO R B Y AH L EY T ER' } });
    assert.deepEqual(grammar.phrases, ['turn on the zorbulator']);
    assert.deepEqual(grammar.missingWords, []);
  });

  it('gives an empty grammar (jsgf "") when no phrase survives, never an exception', () => {
    const grammar = buildJsgf(['blorp blorp', '', '  ?? '], { dictionary: SMALL_DICT });
    assert.equal(grammar.jsgf, '');
    assert.deepEqual(grammar.phrases, []);
    assert.deepEqual(grammar.missingWords, ['blorp']);
  });

  it('loads the CMU dictionary lazily from its default path', function () {
    if (!existsSync(DEFAULT_DICT_PATH)) {
      console.log(`      skipped: ${DEFAULT_DICT_PATH} missing (install the Debian package pocketsphinx-en-us)`);
      this.skip();
    }
    const dictionary = PronunciationDictionary.load();
    assert.ok(dictionary.size > 100_000, `only ${dictionary.size} words`);
    assert.equal(PronunciationDictionary.load(), dictionary, 'second load is the cached copy');
    const grammar = buildJsgf(['What time is it?', 'set the volume to 75', 'turn on the qwzxv']);
    assert.deepEqual(grammar.phrases, ['what time is it', 'set the volume to seventy five']);
    assert.deepEqual(grammar.missingWords, ['qwzxv']);
  });

  it('reports an unreadable dictionary with GrammarError(dictionary_missing)', () => {
    assert.throws(
      () => buildJsgf(['hello'], { dictPath: '/nonexistent/dict.dic' }),
      (err: unknown) => err instanceof GrammarError && err.code === 'dictionary_missing',
    );
  });
});

describe('grammar: expandTemplates', () => {
  it('expands alternatives, optional words and slots', () => {
    const phrases = expandTemplates(['turn (on|off) the {area} light[s]', '[please] what time is it'], {
      slots: { area: ['kitchen', 'living room'] },
    });
    assert.deepEqual(phrases, [
      'turn on the kitchen lights',
      'turn on the kitchen light',
      'turn on the living room lights',
      'turn on the living room light',
      'turn off the kitchen lights',
      'turn off the kitchen light',
      'turn off the living room lights',
      'turn off the living room light',
      'please what time is it',
      'what time is it',
    ]);
  });

  it('supports nesting, multi-word options, optional alternatives and top-level |', () => {
    assert.deepEqual(expandTemplates(['set the (volume|sound [level]) to (ten|twenty)']), [
      'set the volume to ten',
      'set the volume to twenty',
      'set the sound level to ten',
      'set the sound level to twenty',
      'set the sound to ten',
      'set the sound to twenty',
    ]);
    assert.deepEqual(expandTemplates(['good [morning|night]']), ['good morning', 'good night', 'good']);
    assert.deepEqual(expandTemplates(['stop | cancel | never mind']), ['stop', 'cancel', 'never mind']);
  });

  it('removes duplicates and collapses whitespace', () => {
    assert.deepEqual(expandTemplates(['  stop   the  music ', 'stop the music', 'stop [the] music']), ['stop the music', 'stop music']);
  });

  it('rejects bad templates with GrammarError codes', () => {
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return err instanceof GrammarError ? err.code : 'other';
      }
      return undefined;
    };
    assert.equal(code(() => expandTemplates(['turn (on|off the light'])), 'syntax');
    assert.equal(code(() => expandTemplates(['turn on] the light'])), 'syntax');
    assert.equal(code(() => expandTemplates(['turn on the {area light'])), 'syntax');
    assert.equal(code(() => expandTemplates(['turn on the {} light'])), 'syntax');
    assert.equal(code(() => expandTemplates(['turn on the {area} light'])), 'unknown_slot');
    const many = Array.from({ length: 30 }, (_, i) => `w${i}`);
    assert.equal(code(() => expandTemplates(['{a} {a} {a}'], { slots: { a: many }, maxPhrases: 1000 })), 'too_many_phrases');
  });
});
