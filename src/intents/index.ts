/** Local intent recognition: templates, built-in home intents (en, zh), matcher, speech grammar. */
export { IntentMatcher, type IntentMatcherOptions, type MatchContext } from './matcher';
export { IntentError, type IntentErrorCode } from './errors';
export { BUILTIN_EN, SET_VOLUME_TOOL } from './builtin-en';
export { BUILTIN_ZH } from './builtin-zh';
export { parseCustomSentences, type CustomSentences, type CustomGroup } from './custom';
export { phrasesForGrammar, type GrammarPhraseOptions } from './grammar';
export { renderResponse, joinNames } from './response';
export { tokenize } from './normalize';
export { parseNumberTokens, spellEnglishNumber } from './numbers';
export { parseTemplate, type TemplateNode } from './template';
export { benchCatalogue, benchSentences, type BenchSentence } from './bench-sentences';
export type * from './types';
