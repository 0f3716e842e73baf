/**
 * Remembers whole streamed answers of a language model and replays them for identical prompts
 * (FAQs: "what can you do?", "who are you?"), so the second asker hears the answer at once and
 * costs no tokens. Wraps any LlmProvider.
 */
import { hubMetrics } from '../../metrics/hub-metrics';
import { ResponseCache, cacheKey, jsonCodec, type BufferCodec, type CacheLike, type CacheStats } from '../../pipeline/response-cache';
import { ProviderError, type ChatEvent, type ChatRequest, type LlmProvider } from '../types';

/** A cached answer: its whole text and how the model finished it. */
export interface CachedAnswer {
  text: string;
  finishReason: string | null;
}

/** Codec of cached answers for a RedisResponseCache. */
export const cachedAnswerCodec: BufferCodec<CachedAnswer> = jsonCodec<CachedAnswer>();

/** Options of {@link CachingLlm}. */
export interface CachingLlmOptions {
  /**
   * What makes this provider's answers differ from another's: endpoint and model, e.g.
   * 'https://api.deepseek.com/v1 deepseek-chat'. Part of every key. Default the provider's name,
   * which does not name the model: set it whenever the model can change or a cache is shared.
   */
  namespace?: string;
  /** A cache to use (e.g. a RedisResponseCache with {@link cachedAnswerCodec}); default a memory one. */
  cache?: CacheLike<CachedAnswer>;
  /**
   * Cache only requests without prior turns: system messages and one user message, no assistant
   * or tool messages. Default true: later turns depend on the conversation and hardly repeat.
   */
  onlyWithoutHistory?: boolean;
  /** Lifetime of an answer. Default 1 h, so answers that go stale (news, prices) do not live long. */
  ttlMs?: number;
  /** Answers held by the default memory cache. Default 500. */
  maxEntries?: number;
  /** Bytes held by the default memory cache (UTF-16 text). Default 4 MiB. */
  maxBytes?: number;
  /** A hit is replayed in chunks of about this many characters, cut after punctuation or spaces. Default 80. */
  replayChunkChars?: number;
  /** Label `cache` of the hub's `xiaozhi_cache_lookups_total` counter, or false. Default 'llm'. */
  metricsLabel?: string | false;
}

/** Counters of a {@link CachingLlm}. */
export interface CachingLlmStats {
  hits: number;
  misses: number;
  /** Requests not looked up (history, or the cache bypassed). */
  bypassed: number;
  /** Answers stored. */
  stored: number;
  hitRatio: number;
  cache: CacheStats;
}

const DEFAULT_TTL_MS = 60 * 60 * 1000;

/**
 * An LlmProvider that caches complete text answers. A miss streams the inner provider's events to
 * the caller as they come while recording the text; the answer is stored only when the stream
 * ended normally with finish reason 'stop' and some text: answers with tool calls, errors,
 * truncation ('length'), or a caller that stopped reading early are never stored. A hit replays
 * the text as a few `text` events, then `done`, without a request.
 *
 * The key holds the namespace, every message, the tools offered (their whole schemas),
 * temperature and maxTokens. Lookups are counted in hubMetrics().cache ({cache: 'llm'}).
 */
export class CachingLlm implements LlmProvider {
  readonly name: string;
  private readonly cache: CacheLike<CachedAnswer>;
  private readonly namespace: string;
  private readonly onlyWithoutHistory: boolean;
  private readonly ttlMs: number;
  private readonly replayChunkChars: number;
  private readonly metricsLabel: string | false;
  private hits = 0;
  private misses = 0;
  private bypassed = 0;
  private stored = 0;

  constructor(
    private readonly inner: LlmProvider,
    options: CachingLlmOptions = {},
  ) {
    this.name = inner.name;
    this.namespace = options.namespace ?? inner.name;
    this.onlyWithoutHistory = options.onlyWithoutHistory ?? true;
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.replayChunkChars = Math.max(1, options.replayChunkChars ?? 80);
    this.metricsLabel = options.metricsLabel ?? 'llm';
    this.cache =
      options.cache ??
      new ResponseCache<CachedAnswer>({
        maxEntries: options.maxEntries ?? 500,
        maxBytes: options.maxBytes ?? 4 * 1024 * 1024,
        ttlMs: this.ttlMs,
        sizeOf: (answer) => answer.text.length * 2 + 64,
      });
  }

  /** The wrapped provider. */
  get provider(): LlmProvider {
    return this.inner;
  }

  /** True when this request may be answered from (and stored in) the cache. */
  cacheable(request: ChatRequest): boolean {
    if (!this.onlyWithoutHistory) return true;
    let users = 0;
    for (const message of request.messages) {
      if (message.role === 'assistant' || message.role === 'tool') return false;
      if (message.role === 'user') users++;
    }
    return users === 1;
  }

  /** The cache key of a request (see the class comment for what it covers). */
  keyOf(request: ChatRequest): string {
    return cacheKey({
      ns: this.namespace,
      messages: request.messages,
      // The whole schemas, so a tool whose parameters changed is a different prompt.
      tools: request.tools && request.tools.length > 0 ? cacheKey(request.tools) : undefined,
      temperature: request.temperature,
      maxTokens: request.maxTokens,
    });
  }

  async *chat(request: ChatRequest): AsyncGenerator<ChatEvent> {
    if (request.signal?.aborted) throw this.aborted();
    if (!this.cacheable(request)) {
      this.bypassed++;
      yield* this.inner.chat(request);
      return;
    }
    const key = this.keyOf(request);
    const cached = await this.cache.get(key);
    if (cached !== undefined) {
      this.count('hit');
      for (const piece of splitForReplay(cached.text, this.replayChunkChars)) {
        if (request.signal?.aborted) throw this.aborted();
        yield { type: 'text', text: piece };
      }
      yield { type: 'done', finishReason: cached.finishReason };
      return;
    }
    this.count('miss');

    let text = '';
    let storable = true;
    for await (const event of this.inner.chat(request)) {
      if (event.type === 'text') text += event.text;
      else if (event.type === 'tool_calls') storable = false;
      else if (event.type === 'done') {
        // Stored before `done` is handed on: a caller that stops at `done` still leaves it cached.
        if (storable && event.finishReason === 'stop' && text.trim() !== '' && !request.signal?.aborted) this.store(key, { text, finishReason: event.finishReason });
      }
      yield event;
    }
  }

  stats(): CachingLlmStats {
    const lookups = this.hits + this.misses;
    return { hits: this.hits, misses: this.misses, bypassed: this.bypassed, stored: this.stored, hitRatio: lookups === 0 ? 0 : this.hits / lookups, cache: this.cache.stats() };
  }

  private store(key: string, answer: CachedAnswer): void {
    this.stored++;
    try {
      void Promise.resolve(this.cache.set(key, answer, { ttlMs: this.ttlMs })).catch(() => undefined);
    } catch {
      // An answer the cache cannot take is simply not cached.
    }
  }

  private count(result: 'hit' | 'miss'): void {
    if (result === 'hit') this.hits++;
    else this.misses++;
    if (this.metricsLabel !== false) hubMetrics().cache.inc({ cache: this.metricsLabel, result });
  }

  private aborted(): ProviderError {
    return new ProviderError('aborted', `${this.name}: aborted by caller`, this.name);
  }
}

/**
 * Cut a text into pieces of at most about `chunkChars`, after sentence punctuation (Latin or CJK)
 * or else a space, so the sentence splitter downstream sees natural boundaries.
 */
export function splitForReplay(text: string, chunkChars: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > chunkChars) {
    const window = rest.slice(0, chunkChars);
    let cut = -1;
    for (let i = window.length - 1; i > 0; i--) {
      if (/[.!?;,。！？；，、]/.test(window[i]!)) {
        cut = i + 1;
        break;
      }
    }
    if (cut <= 0) cut = window.lastIndexOf(' ') + 1;
    if (cut <= 0) cut = chunkChars;
    // The space after a sentence belongs to it, so the next piece starts with a word.
    while (cut < rest.length && rest[cut] === ' ') cut++;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest !== '') pieces.push(rest);
  return pieces;
}
