// The N-API addon itself: state checks, typed error codes, grammar errors, async calls.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav } from '../../../src/audio/wav';
import { DEFAULT_DICT_PATH } from '../../../src/providers/asr/grammar-dictionary';
import {
  DEFAULT_HMM_DIR,
  loadPocketsphinxAddon,
  pocketsphinxAddonError,
  type NativeDecoder,
  type PocketsphinxAddon,
} from '../../../src/providers/asr/pocketsphinx-native';

const JSGF = '#JSGF V1.0;\ngrammar t;\npublic <c> = turn on the kitchen light | what time is it | go forward ten meters;\n';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? 'no-code';
  }
  return undefined;
}

describe('pocketsphinx native addon', function () {
  this.timeout(30_000);
  let addon: PocketsphinxAddon;
  let decoder: NativeDecoder;
  let speech: Int16Array;

  before(function () {
    const loaded = loadPocketsphinxAddon();
    if (!loaded || !existsSync(join(DEFAULT_HMM_DIR, 'mdef')) || !existsSync('/usr/bin/espeak-ng') || !existsSync('/usr/bin/sox')) {
      console.log(`      skipped: ${pocketsphinxAddonError() ?? 'pocketsphinx-en-us, espeak-ng or sox missing'}`);
      this.skip();
    }
    addon = loaded;
    decoder = new addon.Decoder({ hmm: DEFAULT_HMM_DIR, dict: DEFAULT_DICT_PATH, sampleRateHz: 16000, args: ['-beam', '1e-60'] });
    const dir = mkdtempSync(join(tmpdir(), 'xz-sphinx-native-'));
    try {
      execFileSync('espeak-ng', ['-w', join(dir, 'a.wav'), 'what time is it'], { stdio: 'ignore' });
      execFileSync('sox', [join(dir, 'a.wav'), '-r', '16000', '-c', '1', '-b', '16', join(dir, 'b.wav')], { stdio: 'ignore' });
      speech = readWav(readFileSync(join(dir, 'b.wav'))).pcm;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  after(() => decoder?.free());

  it('refuses to decode before a grammar is set, and outside an utterance', () => {
    assert.equal(codeOf(() => decoder.startUtterance()), 'ERR_STATE');
    assert.equal(codeOf(() => decoder.processRaw(new Int16Array(10))), 'ERR_STATE');
    assert.equal(codeOf(() => decoder.endUtterance()), 'ERR_STATE');
  });

  it('rejects a grammar with a word missing from the dictionary, naming the word', () => {
    assert.throws(
      () => decoder.setJsgf('#JSGF V1.0;\ngrammar t;\npublic <c> = turn on the zqxjklight;\n'),
      (err: unknown) => (err as { code?: string }).code === 'ERR_GRAMMAR' && /zqxjklight/.test((err as Error).message),
    );
    assert.equal(codeOf(() => decoder.setJsgf('not a grammar at all <<<')), 'ERR_GRAMMAR');
  });

  it('decodes synchronously and on the thread pool with the same result', async () => {
    decoder.setJsgf(JSGF);
    decoder.startUtterance();
    assert.ok(decoder.inUtterance);
    assert.equal(codeOf(() => decoder.setJsgf(JSGF)), 'ERR_STATE', 'no grammar change mid-utterance');
    decoder.processRaw(speech);
    const sync = decoder.endUtterance();
    assert.equal(sync.text, 'what time is it');
    assert.ok(sync.frames > 50);

    decoder.startUtterance();
    for (let at = 0; at < speech.length; at += 960) await decoder.processRawAsync(speech.subarray(at, at + 960));
    const partial = decoder.partial();
    assert.equal(typeof partial.text, 'string');
    const async = await decoder.endUtteranceAsync();
    assert.equal(async.text, 'what time is it');
  });

  it('allows one operation at a time (ERR_BUSY) and rejects wrong argument types', async () => {
    decoder.startUtterance();
    const first = decoder.processRawAsync(speech);
    assert.ok(decoder.busy);
    assert.equal(codeOf(() => decoder.processRaw(speech)), 'ERR_BUSY');
    await first;
    assert.equal(decoder.busy, false);
    assert.equal(codeOf(() => decoder.processRaw(new Float32Array(4) as unknown as Int16Array)), 'ERR_INVALID_ARG');
    assert.equal((await decoder.endUtteranceAsync()).text, 'what time is it');
  });

  it('adds and looks up words; a word taught at run time can be used in a grammar', () => {
    assert.equal(decoder.lookupWord('kitchen'), 'K IH CH AH N');
    assert.equal(decoder.lookupWord('zorbulator'), null);
    decoder.addWord('zorbulator', 'Z AO R B Y AH L EY T ER');
    assert.equal(decoder.lookupWord('zorbulator'), 'Z AO R B Y AH L EY T ER');
    decoder.setJsgf('#JSGF V1.0;\ngrammar t;\npublic <c> = turn on the zorbulator | what time is it;\n');
    decoder.startUtterance();
    decoder.processRaw(speech);
    assert.equal(decoder.endUtterance().text, 'what time is it');
  });

  it('reports bad configuration and models with codes, and refuses use after free', () => {
    assert.equal(codeOf(() => new addon.Decoder({ hmm: DEFAULT_HMM_DIR, dict: DEFAULT_DICT_PATH, args: ['-nosuchflag', '1'] })), 'ERR_CONFIG');
    assert.equal(codeOf(() => new addon.Decoder({ hmm: '/nonexistent', dict: DEFAULT_DICT_PATH })), 'ERR_INIT');
    const extra = new addon.Decoder({ hmm: DEFAULT_HMM_DIR, dict: DEFAULT_DICT_PATH });
    extra.free();
    assert.ok(extra.freed);
    assert.equal(codeOf(() => extra.setJsgf(JSGF)), 'ERR_FREED');
    extra.free(); // idempotent
  });
});
