/** LLM providers: any OpenAI-compatible chat endpoint, chat history, emotion mapping. */
export * from './openai-chat';
export * from './chat-history';
export * from './emotions';
