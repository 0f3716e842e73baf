/**
 * node-red-contrib-xiaozhi: the framework-free core, usable from a plain Node script.
 *
 *   import { DeviceGateway } from 'node-red-contrib-xiaozhi';
 *   const gateway = new DeviceGateway({ port: 8000 });
 *   gateway.on('session', (session) => session.on('listen', ...));
 *   await gateway.start();
 */
export * from './gateway';
export * as protocol from './protocol';
export * as audio from './audio';
export * as vad from './providers/vad';
export * as asr from './providers/asr';
export * as llm from './providers/llm';
export * as tts from './providers/tts';
export * as models from './providers/models';
export * from './providers/types';
export { TurnGuard } from './pipeline/turn-guard';
export { SentenceSplitter } from './pipeline/sentence-splitter';
export { ChatAgent } from './pipeline/chat-agent';
export * as sim from './sim';
export * as broker from './broker';
export * as intents from './intents';
export * as metrics from './metrics';
export { ProviderLimiter } from './pipeline/limiter';
export { RedisLimiter } from './pipeline/limiter-redis';
export { LimiterError } from './pipeline/limiter-error';
export * as presets from './pipeline/presets';
export { ResponseCache, RedisResponseCache, ResponseCacheError, cacheKey, type CacheLike, type CacheStats } from './pipeline/response-cache';
export { MemoryHistoryStore, RedisHistoryStore, type HistoryStore } from './pipeline/history-store';
export { HaStage } from './pipeline/ha-stage';
export { IntentStage } from './pipeline/intent-stage';
