import OpenAI from 'openai';
import type {
  ChatEvent,
  ChatMessage,
  ChatRequest,
  ChatTool,
  ChatToolCall,
  LlmProvider,
} from '../types';
import { ProviderError } from '../types';

/** Options of {@link OpenAiChatLlm}. */
export interface OpenAiChatLlmOptions {
  /** Base URL of the OpenAI-compatible API, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  /** API key. Local servers (Ollama, vLLM, LM Studio) need none: a placeholder is sent. */
  apiKey?: string;
  /** Model name as the endpoint knows it. */
  model: string;
  /** Limit on the whole call, request to last chunk. Default 30000. */
  timeoutMs?: number;
  /** Limit until the first streamed chunk arrives. Default 15000. */
  firstTokenTimeoutMs?: number;
  /** Limit on the silence between two chunks once streaming has begun. Default 10000. */
  idleTimeoutMs?: number;
  /**
   * Retries the SDK makes on connection errors, 408/409/429 and 5xx before any byte is streamed.
   * Default 0: a voice turn would rather fail fast and say so than keep the user waiting.
   */
  maxRetries?: number;
  /** Extra fields merged into the request body (e.g. `{enable_thinking: false}` for Qwen). */
  extraBody?: Record<string, unknown>;
  /** Name reported in errors and logs. Default `openai-chat`. */
  name?: string;
}

/** Placeholder key for endpoints that need none; the SDK refuses to run without one. */
const PLACEHOLDER_API_KEY = 'sk-no-key-required';

type AbortCause = 'caller' | 'total' | 'first-token' | 'idle';

/** A tool call being assembled from index-keyed stream deltas. */
interface PartialToolCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Streaming chat completion against any OpenAI-compatible endpoint (OpenAI, DeepSeek, Qwen,
 * Doubao, Ollama, vLLM, LM Studio). Yields text deltas as they arrive and, at the end, the tool
 * calls assembled from their deltas, then `done`. Failures are thrown as {@link ProviderError}.
 */
export class OpenAiChatLlm implements LlmProvider {
  readonly name: string;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly timeoutMs: number;
  private readonly firstTokenTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly extraBody: Record<string, unknown>;

  constructor(options: OpenAiChatLlmOptions) {
    if (!options.baseUrl) throw new ProviderError('failed', 'openai-chat: baseUrl is required', options.name);
    if (!options.model) throw new ProviderError('failed', 'openai-chat: model is required', options.name);
    this.name = options.name ?? 'openai-chat';
    this.model = options.model;
    this.timeoutMs = options.timeoutMs ?? 30000;
    this.firstTokenTimeoutMs = options.firstTokenTimeoutMs ?? 15000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10000;
    this.extraBody = options.extraBody ?? {};
    this.client = new OpenAI({
      baseURL: options.baseUrl,
      apiKey: options.apiKey || PLACEHOLDER_API_KEY,
      // Explicit nulls: the SDK would otherwise pick these up from the environment.
      organization: null,
      project: null,
      timeout: this.timeoutMs,
      maxRetries: options.maxRetries ?? 0,
    });
  }

  /** Stream one chat completion. See {@link LlmProvider.chat}. */
  async *chat(request: ChatRequest): AsyncGenerator<ChatEvent> {
    const controller = new AbortController();
    let abortCause: AbortCause | undefined;
    const abort = (cause: AbortCause): void => {
      if (abortCause) return;
      abortCause = cause;
      controller.abort();
    };
    const onCallerAbort = (): void => abort('caller');
    if (request.signal?.aborted) throw this.error('aborted', 'request aborted before it was sent');
    request.signal?.addEventListener('abort', onCallerAbort, { once: true });

    const totalTimer = setTimeout(() => abort('total'), this.timeoutMs);
    let waitTimer: NodeJS.Timeout | undefined = setTimeout(() => abort('first-token'), this.firstTokenTimeoutMs);
    const armIdleTimer = (): void => {
      if (waitTimer) clearTimeout(waitTimer);
      waitTimer = setTimeout(() => abort('idle'), this.idleTimeoutMs);
    };

    const toolCalls = new Map<number, PartialToolCall>();
    let finishReason: string | null = null;
    let sawChunk = false;
    try {
      let stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>;
      try {
        stream = await this.client.chat.completions.create(this.buildBody(request), {
          signal: controller.signal,
        });
        for await (const chunk of stream) {
          sawChunk = true;
          armIdleTimer();
          const choice = chunk.choices?.[0];
          if (!choice) continue; // usage-only chunks
          const delta = choice.delta;
          if (delta?.content) yield { type: 'text', text: delta.content };
          for (const part of delta?.tool_calls ?? []) mergeToolCallDelta(toolCalls, part);
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
      } catch (err) {
        throw this.mapError(err, abortCause, sawChunk);
      }
      // The SDK ends the iteration quietly when its signal fires, so look at why it ended.
      if (abortCause) throw this.mapError(undefined, abortCause, sawChunk);
      if (finishReason === null && toolCalls.size === 0) {
        throw this.error('bad_response', sawChunk
          ? 'stream ended before the model finished (no finish_reason)'
          : 'stream ended without any chunk');
      }
      if (toolCalls.size > 0) {
        const calls: ChatToolCall[] = [...toolCalls.entries()]
          .sort(([a], [b]) => a - b)
          .map(([index, call]) => ({ id: call.id || `call_${index}`, name: call.name, arguments: call.arguments }))
          .filter((call) => call.name !== '');
        if (calls.length > 0) yield { type: 'tool_calls', calls };
      }
      yield { type: 'done', finishReason };
    } finally {
      clearTimeout(totalTimer);
      if (waitTimer) clearTimeout(waitTimer);
      request.signal?.removeEventListener('abort', onCallerAbort);
      // Stops the HTTP stream too when the consumer leaves the loop early.
      if (!controller.signal.aborted) controller.abort();
    }
  }

  private buildBody(request: ChatRequest): OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming {
    const body: Record<string, unknown> = { ...this.extraBody };
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
    body.model = this.model;
    body.messages = request.messages.map(toApiMessage);
    body.stream = true;
    if (request.tools && request.tools.length > 0) body.tools = request.tools.map(toApiTool);
    return body as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming;
  }

  private error(code: ProviderError['code'], message: string, cause?: unknown): ProviderError {
    return new ProviderError(code, `${this.name}: ${message}`, this.name, cause === undefined ? undefined : { cause });
  }

  /** Translate SDK, network and timer failures into ProviderError codes. */
  private mapError(err: unknown, abortCause: AbortCause | undefined, sawChunk: boolean): ProviderError {
    if (err instanceof ProviderError) return err;
    // Our own timers and the caller's signal show up as a user abort inside the SDK.
    switch (abortCause) {
      case 'caller':
        return this.error('aborted', 'aborted by caller', err);
      case 'total':
        return this.error('timeout', `no complete answer within ${this.timeoutMs} ms`, err);
      case 'first-token':
        return this.error('timeout', `no first token within ${this.firstTokenTimeoutMs} ms`, err);
      case 'idle':
        return this.error('timeout', `stream stalled: nothing for ${this.idleTimeoutMs} ms`, err);
      default:
        break;
    }
    if (err instanceof OpenAI.APIConnectionTimeoutError) {
      return this.error('timeout', `no response within ${this.timeoutMs} ms`, err);
    }
    if (err instanceof OpenAI.APIUserAbortError) return this.error('aborted', 'aborted', err);
    if (err instanceof OpenAI.APIConnectionError) {
      return this.error('unavailable', `cannot reach the endpoint: ${describeCause(err)}`, err);
    }
    if (err instanceof OpenAI.APIError) {
      const status = err.status;
      const detail = err.message;
      if (status === 401 || status === 403) {
        return this.error('failed', `authentication refused (HTTP ${status}), check the API key: ${detail}`, err);
      }
      if (status === 404) return this.error('model_missing', `model "${this.model}" or endpoint not found: ${detail}`, err);
      if (status === 429) return this.error('rate_limited', `rate limited or out of quota (HTTP 429): ${detail}`, err);
      if (status !== undefined && status >= 500) return this.error('unavailable', `server error (HTTP ${status}): ${detail}`, err);
      if (status === undefined) return this.error('failed', `error inside the stream: ${detail}`, err);
      return this.error('failed', `request refused (HTTP ${status}): ${detail}`, err);
    }
    if (err instanceof SyntaxError) return this.error('bad_response', `unparsable stream chunk: ${err.message}`, err);
    // A socket closed mid-body surfaces from fetch as a bare TypeError ("terminated").
    const message = err instanceof Error ? err.message : String(err);
    return sawChunk
      ? this.error('unavailable', `connection lost mid-stream: ${message}`, err)
      : this.error('unavailable', `request failed: ${message}`, err);
  }
}

function describeCause(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${cause.message} (${code})` : cause.message;
  }
  return err.message;
}

/** Merge one streamed tool-call delta: the first delta of an index brings id and name, later ones argument text. */
function mergeToolCallDelta(
  calls: Map<number, PartialToolCall>,
  part: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall,
): void {
  // Some servers omit index when they send whole calls: fall back to the next free slot.
  const index = typeof part.index === 'number' ? part.index : calls.size;
  let call = calls.get(index);
  if (!call) {
    call = { id: '', name: '', arguments: '' };
    calls.set(index, call);
  }
  if (part.id) call.id = part.id;
  // Names normally come whole; concatenating covers the servers that split them.
  if (part.function?.name) call.name = call.name === part.function.name ? call.name : call.name + part.function.name;
  if (part.function?.arguments) call.arguments += part.function.arguments;
}

function toApiMessage(message: ChatMessage): OpenAI.Chat.Completions.ChatCompletionMessageParam {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content };
    case 'user':
      return { role: 'user', content: message.content };
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    case 'assistant': {
      if (!message.toolCalls || message.toolCalls.length === 0) {
        return { role: 'assistant', content: message.content ?? '' };
      }
      return {
        role: 'assistant',
        content: message.content || null,
        tool_calls: message.toolCalls.map((call) => ({
          id: call.id,
          type: 'function' as const,
          function: { name: call.name, arguments: call.arguments || '{}' },
        })),
      };
    }
  }
}

function toApiTool(tool: ChatTool): OpenAI.Chat.Completions.ChatCompletionTool {
  return {
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.parameters },
  };
}
