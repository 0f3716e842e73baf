import { readFileSync } from 'node:fs';
import { GrammarError } from './grammar-error';

/** The CMU pronouncing dictionary that Debian's pocketsphinx-en-us installs. */
export const DEFAULT_DICT_PATH = '/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict';

/** Anything that can tell whether the recogniser can pronounce a word. */
export interface WordLookup {
  has(word: string): boolean;
}

const cache = new Map<string, PronunciationDictionary>();

/**
 * The set of words of a Sphinx pronunciation dictionary (`word PH ON ES` per line, alternates as
 * `word(2) ...`). Only the spellings are kept (about 134k words, a few MB): the decoder loads the
 * pronunciations itself; the grammar builder only needs to know which words it can use.
 */
export class PronunciationDictionary implements WordLookup {
  private readonly words: Set<string>;

  private constructor(words: Set<string>) {
    this.words = words;
  }

  /**
   * Load a dictionary file once per path (later calls return the cached copy). Synchronous on
   * purpose: it runs once, lazily, on the first grammar build (~100 ms for the CMU dictionary).
   * @throws GrammarError('dictionary_missing') when the file cannot be read.
   */
  static load(path: string = DEFAULT_DICT_PATH): PronunciationDictionary {
    const cached = cache.get(path);
    if (cached) return cached;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new GrammarError('dictionary_missing', `cannot read pronunciation dictionary ${path}: ${(err as Error).message}`, { cause: err });
    }
    const dictionary = PronunciationDictionary.parse(text);
    cache.set(path, dictionary);
    return dictionary;
  }

  /** Build a dictionary from the text of a dictionary file. */
  static parse(text: string): PronunciationDictionary {
    const words = new Set<string>();
    for (const line of text.split('\n')) {
      const end = line.search(/\s/);
      if (end <= 0) continue;
      // "word(2)" is an alternate pronunciation of "word".
      words.add(line.slice(0, end).replace(/\(\d+\)$/, '').toLowerCase());
    }
    return new PronunciationDictionary(words);
  }

  /** True when the dictionary has the (lower-case) word. */
  has(word: string): boolean {
    return this.words.has(word);
  }

  /** Number of distinct words. */
  get size(): number {
    return this.words.size;
  }
}
