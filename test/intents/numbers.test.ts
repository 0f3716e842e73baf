import assert from 'node:assert/strict';
import { parseNumberTokens, spellEnglishNumber, tokenize } from '../../src/intents';

const parse = (text: string): number | undefined => parseNumberTokens(tokenize(text));

describe('intents/numbers', () => {
  it('reads digits, decimals and full-width digits', () => {
    assert.equal(parse('50'), 50);
    assert.equal(parse('21.5'), 21.5);
    assert.equal(parse('７５'), 75);
  });

  it('reads English number words', () => {
    const cases: [string, number][] = [
      ['zero', 0], ['seven', 7], ['fifteen', 15], ['fifty', 50], ['twenty one', 21], ['twenty-five', 25],
      ['one hundred', 100], ['hundred', 100], ['two hundred and five', 205], ['one thousand two hundred', 1200],
      ['twenty one point five', 21.5], ['ninety nine', 99],
    ];
    for (const [text, value] of cases) assert.equal(parse(text), value, text);
  });

  it('rejects word runs that are not one number', () => {
    for (const text of ['five five', 'twenty thirty', 'twelve three', 'and', 'point five', 'fifty percent', 'hundred hundred', 'kitchen']) {
      assert.equal(parse(text), undefined, text);
    }
  });

  it('reads Chinese numerals 一 to 一百 and beyond', () => {
    const cases: [string, number][] = [
      ['一', 1], ['两', 2], ['十', 10], ['十五', 15], ['二十', 20], ['二十一', 21], ['五十', 50], ['九十九', 99],
      ['一百', 100], ['一百零五', 105], ['一百五', 150], ['两百', 200], ['三千二', 3200], ['一万', 10000], ['二十一点五', 21.5],
    ];
    for (const [text, value] of cases) assert.equal(parse(text), value, text);
    // every value 1..100 written the usual way parses back
    const digits = ['', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    for (let n = 1; n <= 100; n++) {
      const text = n === 100 ? '一百' : n < 10 ? digits[n] : `${n < 20 ? '' : digits[Math.floor(n / 10)]}十${digits[n % 10]}`;
      assert.equal(parse(text as string), n, text);
    }
  });

  it('rejects malformed Chinese numerals', () => {
    for (const text of ['五五', '百', '百分之', '十十', '点五', '一百百']) assert.equal(parse(text), undefined, text);
  });

  it('spells English numbers for speech grammars', () => {
    assert.equal(spellEnglishNumber(0), 'zero');
    assert.equal(spellEnglishNumber(21), 'twenty one');
    assert.equal(spellEnglishNumber(100), 'one hundred');
    assert.equal(spellEnglishNumber(1250), 'one thousand two hundred fifty');
    for (let n = 0; n <= 1000; n += 7) assert.equal(parse(spellEnglishNumber(n)), n, String(n));
  });
});
