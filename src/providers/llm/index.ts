/** LLM providers: any OpenAI-compatible chat endpoint, chat history, emotion mapping. */
export * from './openai-chat';
export * from './chat-history';
export * from './emotions';
export { CachingLlm, cachedAnswerCodec, splitForReplay, type CachedAnswer, type CachingLlmOptions, type CachingLlmStats } from './caching-llm';
