import { ChatHistory } from '../providers/llm/chat-history';
import type { Emotion } from '../providers/llm/emotions';
import type { ChatMessage, ChatTool, ChatToolCall, LlmProvider } from '../providers/types';
import { ProviderError } from '../providers/types';
import { SentenceSplitter, type SentenceSplitterOptions } from './sentence-splitter';

export { ChatHistory };

/** A tool the agent may let the model call (an MCP device tool, a flow-provided function...). */
export interface AgentTool {
  /** Original name, e.g. `self.audio_speaker.set_volume`; sanitised for the API and mapped back. */
  name: string;
  description: string;
  /** JSON schema of the arguments object. */
  parameters: Record<string, unknown>;
  /** Run the tool. The text result goes back to the model. Must honour `signal`. */
  execute(args: Record<string, unknown>, signal: AbortSignal): Promise<string>;
}

/**
 * What a turn produces, in order. Every run ends with exactly one `done` or one `error`
 * (an abort ends with an `error` of code `aborted`), unless the consumer stops iterating.
 */
export type AgentEvent =
  /** Once per run, just before the first sentence: the first emoji's emotion, else happy (as PY does). */
  | { type: 'emotion'; emotion: string; emoji: string }
  | { type: 'sentence'; text: string }
  /** `arguments` is {} when the model's JSON was invalid; `rawArguments` is what it wrote. */
  | { type: 'tool_call'; name: string; arguments: Record<string, unknown>; rawArguments: string }
  | { type: 'tool_result'; name: string; result: string; isError: boolean }
  | { type: 'done'; text: string }
  | { type: 'error'; error: ProviderError };

/** Options of {@link ChatAgent}. */
export interface ChatAgentOptions {
  llm: LlmProvider;
  systemPrompt: string;
  /** History kept per conversation, in messages. Default 20. */
  maxHistoryMessages?: number;
  /** LLM rounds that may call tools in one turn; the next round gets no tools and must answer. Default 5. */
  maxToolDepth?: number;
  /** Limit on one tool execution. Default 30000 (PY's tool_call_timeout). */
  toolTimeoutMs?: number;
  /** Passed to the {@link SentenceSplitter} of each run. */
  splitter?: SentenceSplitterOptions;
  temperature?: number;
  maxTokens?: number;
}

/** Input of {@link ChatAgent.run}. */
export interface AgentRunInput {
  history: ChatHistory;
  userText: string;
  tools?: AgentTool[];
  signal?: AbortSignal;
}

/** The emotion sent when the reply carries no emoji (PY sends 🙂/happy). */
const DEFAULT_EMOTION: Emotion = { emotion: 'happy', emoji: '🙂' };
/** Appended to the system prompt once the tool depth is spent (a trailing system message breaks some chat templates). */
const TOOL_LIMIT_NOTE =
  '\n\nThe tool call limit for this turn has been reached: do not call tools, answer the user now with what you have.';
/** Tool results recorded for calls an abort left unanswered, so history stays valid for the API. */
const CANCELLED_RESULT = 'Error: cancelled, the user interrupted';
const MAX_TOOL_NAME_CHARS = 64;

/**
 * API-safe, unique names for tools: `[^A-Za-z0-9_-]` becomes `_`, at most 64 characters, and a
 * numeric suffix separates names that collide. Returned in the same order as `names`.
 */
export function sanitiseToolNames(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    const base = (name.replace(/[^A-Za-z0-9_-]/g, '_') || 'tool').slice(0, MAX_TOOL_NAME_CHARS);
    let candidate = base;
    for (let n = 2; used.has(candidate); n++) {
      const suffix = `_${n}`;
      candidate = base.slice(0, MAX_TOOL_NAME_CHARS - suffix.length) + suffix;
    }
    used.add(candidate);
    return candidate;
  });
}

interface ToolRegistry {
  chatTools: ChatTool[];
  /** By API name, and by original name too since models sometimes echo the name from a description. */
  byName: Map<string, AgentTool>;
}

function buildToolRegistry(tools: readonly AgentTool[]): ToolRegistry {
  const apiNames = sanitiseToolNames(tools.map((tool) => tool.name));
  // Descriptions may mention other tools by their original names: show the model the names it can call.
  const renames = tools
    .map((tool, i) => [tool.name, apiNames[i] as string] as const)
    .filter(([original, api]) => original !== api)
    .sort((a, b) => b[0].length - a[0].length);
  const byName = new Map<string, AgentTool>();
  const chatTools = tools.map((tool, i) => {
    const apiName = apiNames[i] as string;
    byName.set(apiName, tool);
    let description = tool.description;
    for (const [original, api] of renames) description = description.split(original).join(api);
    return { name: apiName, description, parameters: tool.parameters };
  });
  for (const tool of tools) if (!byName.has(tool.name)) byName.set(tool.name, tool);
  return { chatTools, byName };
}

/** Joins sentences back into one reply: no space between CJK sentences, one between the others. */
function joinSentences(sentences: readonly string[]): string {
  let out = '';
  for (const sentence of sentences) {
    if (out && !(/[\u3000-\u9fff\uff00-\uffef]$/.test(out) && /^[\u3000-\u9fff\uff00-\uffef]/.test(sentence))) out += ' ';
    out += sentence;
  }
  return out;
}

function abortedError(): ProviderError {
  return new ProviderError('aborted', 'chat turn aborted', 'chat-agent');
}

function toProviderError(err: unknown, signal: AbortSignal | undefined): ProviderError {
  if (signal?.aborted) return err instanceof ProviderError && err.code === 'aborted' ? err : abortedError();
  if (err instanceof ProviderError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError('failed', `chat turn failed: ${message}`, 'chat-agent', { cause: err });
}

/**
 * Runs conversational turns: user text in, sentences (as the LLM streams) and tool activity out.
 * Framework-free; one instance serves every conversation, each with its own {@link ChatHistory}.
 */
export class ChatAgent {
  private readonly llm: LlmProvider;
  private readonly systemPrompt: string;
  private readonly maxHistoryMessages: number;
  private readonly maxToolDepth: number;
  private readonly toolTimeoutMs: number;
  private readonly splitterOptions: SentenceSplitterOptions;
  private readonly temperature: number | undefined;
  private readonly maxTokens: number | undefined;

  constructor(options: ChatAgentOptions) {
    this.llm = options.llm;
    this.systemPrompt = options.systemPrompt;
    this.maxHistoryMessages = options.maxHistoryMessages ?? 20;
    this.maxToolDepth = Math.max(0, options.maxToolDepth ?? 5);
    this.toolTimeoutMs = options.toolTimeoutMs ?? 30000;
    this.splitterOptions = options.splitter ?? {};
    this.temperature = options.temperature;
    this.maxTokens = options.maxTokens;
  }

  /**
   * Run one turn. The user message and every reply, tool call and tool result are appended to
   * `history` as they happen; a reply cut short (abort, error, consumer stopped) is recorded as
   * interrupted, and tool calls left unanswered get a "cancelled" result.
   */
  async *run(input: AgentRunInput): AsyncGenerator<AgentEvent> {
    const { history, userText, signal } = input;
    const registry = buildToolRegistry(input.tools ?? []);
    const splitter = new SentenceSplitter(this.splitterOptions);
    const sentences: string[] = [];
    let emotionSent = false;
    /** Text of the LLM round in progress, not yet in history. */
    let roundText = '';
    let roundOpen = false;
    /** Tool calls recorded in history whose results are not yet. */
    let unansweredCalls: ChatToolCall[] = [];

    const throwIfAborted = (): void => {
      if (signal?.aborted) throw abortedError();
    };
    const recordUnfinished = (): void => {
      if (roundOpen && roundText.trim()) history.appendInterrupted(roundText);
      roundOpen = false;
      for (const call of unansweredCalls) history.append({ role: 'tool', toolCallId: call.id, content: CANCELLED_RESULT });
      unansweredCalls = [];
    };
    function* sentenceEvents(list: string[]): Generator<AgentEvent> {
      for (const text of list) {
        if (!emotionSent) {
          emotionSent = true;
          const emotion = splitter.leadingEmotion() ?? DEFAULT_EMOTION;
          yield { type: 'emotion', emotion: emotion.emotion, emoji: emotion.emoji };
        }
        sentences.push(text);
        yield { type: 'sentence', text };
        throwIfAborted();
      }
    }

    history.append({ role: 'user', content: userText });
    history.trim(this.maxHistoryMessages);
    try {
      throwIfAborted();
      for (let depth = 0; ; depth++) {
        const offerTools = registry.chatTools.length > 0 && depth < this.maxToolDepth;
        const limitReached = registry.chatTools.length > 0 && !offerTools;
        const messages: ChatMessage[] = [
          { role: 'system', content: limitReached ? this.systemPrompt + TOOL_LIMIT_NOTE : this.systemPrompt },
          ...history.toMessages(),
        ];
        roundText = '';
        roundOpen = true;
        let calls: ChatToolCall[] = [];
        for await (const event of this.llm.chat({
          messages,
          tools: offerTools ? registry.chatTools : undefined,
          signal,
          temperature: this.temperature,
          maxTokens: this.maxTokens,
        })) {
          if (event.type === 'text') {
            roundText += event.text;
            yield* sentenceEvents(splitter.push(event.text));
          } else if (event.type === 'tool_calls') {
            calls = event.calls;
          }
          throwIfAborted();
        }
        // Speak what came before the tool calls now, not glued to the next round's text.
        yield* sentenceEvents(splitter.flush());

        if (!offerTools || calls.length === 0) {
          history.append({ role: 'assistant', content: roundText });
          roundOpen = false;
          history.trim(this.maxHistoryMessages);
          yield { type: 'done', text: joinSentences(sentences) };
          return;
        }

        history.append({ role: 'assistant', content: roundText || null, toolCalls: calls });
        roundOpen = false;
        unansweredCalls = [...calls];
        for (const call of calls) {
          const tool = registry.byName.get(call.name);
          const parsed = parseArguments(call.arguments);
          yield {
            type: 'tool_call',
            name: tool?.name ?? call.name,
            arguments: parsed.ok ? parsed.args : {},
            rawArguments: call.arguments,
          };
          throwIfAborted();
          let result: string;
          let isError: boolean;
          if (!tool) {
            result = `Error: unknown tool "${call.name}". Available tools: ${[...registry.chatTools.map((t) => t.name)].join(', ')}`;
            isError = true;
          } else if (!parsed.ok) {
            result = `Error: invalid arguments for "${call.name}": ${parsed.reason}`;
            isError = true;
          } else {
            ({ result, isError } = await this.executeTool(tool, parsed.args, signal));
          }
          throwIfAborted();
          history.append({ role: 'tool', toolCallId: call.id, content: result });
          unansweredCalls.shift();
          yield { type: 'tool_result', name: tool?.name ?? call.name, result, isError };
          throwIfAborted();
        }
      }
    } catch (err) {
      recordUnfinished();
      history.trim(this.maxHistoryMessages);
      yield { type: 'error', error: toProviderError(err, signal) };
    } finally {
      // The consumer may stop iterating mid-turn: keep history valid all the same.
      recordUnfinished();
    }
  }

  /** Run one tool with the turn's signal and the tool timeout; failures become error results. */
  private async executeTool(
    tool: AgentTool,
    args: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<{ result: string; isError: boolean }> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // Racing the tool keeps a tool that ignores its signal from holding the turn.
    const stopped = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new ProviderError('timeout', `tool "${tool.name}" timed out after ${this.toolTimeoutMs} ms`, 'chat-agent'));
      }, this.toolTimeoutMs);
      onAbort = () => {
        controller.abort();
        reject(abortedError());
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([tool.execute(args, controller.signal), stopped]);
      return { result: typeof result === 'string' ? result : JSON.stringify(result), isError: false };
    } catch (err) {
      if (signal?.aborted) throw abortedError();
      const message = err instanceof Error ? err.message : String(err);
      return { result: `Error: ${message}`, isError: true };
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      stopped.catch(() => undefined);
    }
  }
}

type ParsedArguments = { ok: true; args: Record<string, unknown> } | { ok: false; reason: string };

/** Models send '' for tools without parameters; anything else must be a JSON object. */
function parseArguments(text: string): ParsedArguments {
  if (text.trim() === '') return { ok: true, args: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not valid JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'arguments must be a JSON object' };
  }
  return { ok: true, args: value as Record<string, unknown> };
}
