/**
 * The LLM step of the voice pipeline, framework-free: `stt` msgs in, `emotion`, `sentence` and
 * `reply.end` (or a spoken `say` on failure) out, following docs/pipeline-messages.md. The
 * `xiaozhi llm` node only maps its config and msgs onto this class.
 */
import { sessionRegistry } from '../gateway/session-registry';
import type { Session } from '../gateway/session';
import type { McpTool } from '../protocol/mcp';
import { ProviderError, type LlmProvider } from '../providers/types';
import { ChatAgent, ChatHistory, type AgentEvent, type AgentTool } from './chat-agent';
import type { HistoryStore } from './history-store';
import { respond } from './offline-responder';
import { SentenceSplitter } from './sentence-splitter';
import { TurnGuard } from './turn-guard';

/** A pipeline msg as the stages see it (ids and data only, see docs/pipeline-messages.md). */
export interface StageMessage {
  topic?: string;
  payload?: unknown;
  session?: string;
  turn?: number;
  device?: { id: string; clientId: string };
  /** Epoch ms per stage of this turn. */
  timings?: Record<string, number>;
  [key: string]: unknown;
}

/** What the stage reports for a status display. */
export interface LlmStageStatus {
  /** Turns being answered right now. */
  running: number;
  /** Short text of the last failure, cleared by the next answered turn. */
  lastError?: string;
}

/** Options of {@link LlmStage}. */
export interface LlmStageOptions {
  /** The language model; undefined answers with the offline responder (no API key needed). */
  llm?: LlmProvider;
  /** System prompt of every conversation. Default {@link DEFAULT_SYSTEM_PROMPT}. */
  systemPrompt?: string;
  temperature?: number;
  /** Messages kept per device. Default 20. */
  maxHistoryMessages?: number;
  /** Offer the device's MCP tools to the model. Default true. */
  useDeviceTools?: boolean;
  /**
   * More tools for the model, asked for at the start of every turn (e.g. the home devices of the
   * broker, pipeline/home-tools.ts), so they follow changes. Offered with or without a device.
   */
  extraTools?: () => AgentTool[];
  /** Limit on one device tool call. Default 30000. */
  toolTimeoutMs?: number;
  /** Tool rounds per turn before the model must answer. Default 5. */
  maxToolDepth?: number;
  /** Devices whose history is kept; the least recently heard one is forgotten first. Default 1000. */
  maxConversations?: number;
  /**
   * Where histories live between turns (history-store.ts). Without one, in this stage's memory.
   * A shared store (Redis) is read at every turn start and written after every turn, so a device
   * that reconnects to another instance keeps its conversation.
   */
  historyStore?: HistoryStore;
  /** IANA zone for offline time answers; default the process's. */
  timeZone?: string;
  /** Clock for offline answers (tests). */
  now?: () => Date;
  /** Emits one msg (the node's send). */
  send: (msg: StageMessage) => void;
  /** Reports a failure worth a log line (the node's warn). */
  warn?: (message: string) => void;
  /** Called whenever {@link LlmStageStatus} changes. */
  onStatus?: (status: LlmStageStatus) => void;
}

/** The prompt used when the flow sets none: short spoken answers in the user's language. */
export const DEFAULT_SYSTEM_PROMPT = [
  'You are Xiaozhi, a friendly voice assistant on a small speaker device.',
  'Answer in the language the user speaks, briefly, in plain spoken sentences: no markdown, lists, code or URLs.',
  'You may start a reply with one emoji that shows your mood.',
  'Use the device tools when the user asks for something they can do, such as changing the volume.',
].join(' ');

const DEFAULT_MAX_CONVERSATIONS = 1000;
const CJK = /[\u3400-\u9fff]/;

/**
 * Answers `stt` msgs, one run per session at a time. A newer `stt` or an `abort` for the
 * session aborts the run in progress and nothing more of it is emitted. Every run that is not
 * aborted ends with `reply.end` or `say`, so the TTS stage always ends the device's turn.
 */
export class LlmStage {
  private readonly agent: ChatAgent | undefined;
  private readonly guard = new TurnGuard();
  /** Chat history by device id, in least-recently-used order (Map keeps insertion order). */
  private readonly histories = new Map<string, ChatHistory>();
  /** Runs in progress per device id (a superseded run may still be unwinding). */
  private readonly activeRuns = new Map<string, number>();
  private readonly options: LlmStageOptions;
  private running = 0;
  private lastError: string | undefined;
  private closed = false;

  constructor(options: LlmStageOptions) {
    this.options = options;
    if (options.llm) {
      this.agent = new ChatAgent({
        llm: options.llm,
        systemPrompt: options.systemPrompt?.trim() || DEFAULT_SYSTEM_PROMPT,
        maxHistoryMessages: options.maxHistoryMessages ?? 20,
        maxToolDepth: options.maxToolDepth ?? 5,
        toolTimeoutMs: options.toolTimeoutMs ?? 30000,
        temperature: options.temperature,
      });
    }
  }

  /** True when answering with a language model, false with the offline responder. */
  get online(): boolean {
    return this.agent !== undefined;
  }

  /** Number of devices with a kept history. */
  get conversations(): number {
    return this.histories.size;
  }

  /** The history of a device (created empty if unknown), e.g. to inspect or persist it. */
  history(deviceId: string): ChatHistory {
    let history = this.histories.get(deviceId);
    if (history) {
      this.histories.delete(deviceId);
    } else {
      history = new ChatHistory();
    }
    this.histories.set(deviceId, history);
    const max = Math.max(1, this.options.maxConversations ?? DEFAULT_MAX_CONVERSATIONS);
    while (this.histories.size > max) {
      const oldest = this.histories.keys().next().value;
      if (oldest === undefined) break;
      this.histories.delete(oldest);
    }
    return history;
  }

  /**
   * Handle one msg. `stt` is passed on at once and answered; `abort` and `session.end` abort the
   * session's run and are passed on; everything else is passed on unchanged. The promise
   * settles when the msg is fully handled (for `stt`: the answer has been emitted or dropped)
   * and never rejects.
   */
  async handle(msg: StageMessage): Promise<void> {
    if (this.closed) return;
    const key = sessionKey(msg);
    switch (msg.topic) {
      case 'stt':
        return this.answer(msg, key);
      case 'abort':
      case 'session.end':
        this.guard.abort(key, msg.topic);
        this.options.send(msg);
        return;
      default:
        this.options.send(msg);
    }
  }

  /** Abort every run (node closing); nothing more is emitted. */
  close(): void {
    this.closed = true;
    this.guard.clear();
  }

  private async answer(msg: StageMessage, key: string): Promise<void> {
    const turn = typeof msg.turn === 'number' ? msg.turn : undefined;
    // A late recognition of an older turn (the user spoke again or aborted) is not answered.
    if (isStaleInput(msg, turn)) return;
    // Show the user what was heard before the answer is ready.
    this.options.send(msg);

    const userText = typeof msg.payload === 'string' ? msg.payload.trim() : String(msg.payload ?? '').trim();
    // A newer utterance replaces the run in progress even when the turn number did not change.
    this.guard.abort(key, 'superseded');
    const signal = this.guard.begin(key, turn);
    const live = (): boolean => !signal.aborted && !this.closed && (msg.session === undefined || this.guard.isCurrent(msg.session, turn));
    const timings: Record<string, number> = { ...(msg.timings ?? {}), llmStart: Date.now() };
    const emit = (topic: string, payload: unknown): boolean => {
      if (!live()) return false;
      // Ids only (and the _msgid, so Node-RED traces the answer to its utterance): fields of the
      // utterance (audio meta, durations) do not belong to the answer.
      this.options.send({ ...idsOf(msg), topic, payload, timings: { ...timings } });
      return true;
    };

    if (userText === '') {
      // Nothing to answer, but the device still waits for its turn to end.
      emit('reply.end', '');
      this.guard.end(key, turn);
      return;
    }

    this.setRunning(+1);
    try {
      const session = msg.session !== undefined ? sessionRegistry.get(msg.session) : undefined;
      const deviceId = msg.device?.id ?? session?.deviceId ?? key;
      if (this.agent) await this.runAgent(this.agent, userText, deviceId, session, signal, emit, timings);
      else await this.runOffline(userText, session, emit, timings);
    } catch (err) {
      // Not expected (the agent reports failures as events), but a turn must never hang.
      const message = err instanceof Error ? err.message : String(err);
      this.options.warn?.(`llm: ${message}`);
      emit('say', spokenError(undefined, userText));
    } finally {
      this.guard.end(key, turn);
      this.setRunning(-1);
    }
  }

  private async runAgent(
    agent: ChatAgent,
    userText: string,
    deviceId: string,
    session: Session | undefined,
    signal: AbortSignal,
    emit: (topic: string, payload: unknown) => boolean,
    timings: Record<string, number>,
  ): Promise<void> {
    const tools = this.options.useDeviceTools === false || !session ? [] : deviceTools(session, this.options.toolTimeoutMs ?? 30000);
    if (this.options.extraTools) {
      try {
        tools.push(...this.options.extraTools());
      } catch (err) {
        this.options.warn?.(`llm: extra tools unavailable: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.activeRuns.set(deviceId, (this.activeRuns.get(deviceId) ?? 0) + 1);
    const history = await this.loadHistory(deviceId);
    try {
      await this.consume(agent.run({ history, userText, tools, signal }), userText, signal, emit, timings);
    } finally {
      await this.saveHistory(deviceId, history);
      const left = (this.activeRuns.get(deviceId) ?? 1) - 1;
      if (left > 0) this.activeRuns.set(deviceId, left);
      else this.activeRuns.delete(deviceId);
    }
  }

  /**
   * The history a turn starts from. A shared store is read every turn, since another instance may
   * have answered the device meanwhile, unless an earlier run of the device is still unwinding
   * here (this copy is then the newest). A failing store costs a warning, not the turn.
   */
  private async loadHistory(deviceId: string): Promise<ChatHistory> {
    const store = this.options.historyStore;
    const unwinding = (this.activeRuns.get(deviceId) ?? 0) > 1;
    if (!store || unwinding || (!store.shared && this.histories.has(deviceId))) return this.history(deviceId);
    try {
      this.histories.set(deviceId, (await store.load(deviceId)) ?? new ChatHistory());
    } catch (err) {
      this.options.warn?.(`llm: history of ${deviceId} not loaded, using the copy in memory: ${err instanceof Error ? err.message : String(err)}`);
    }
    return this.history(deviceId);
  }

  /** Write the turn's history to the store (also after an abort: the cut reply is part of it). */
  private async saveHistory(deviceId: string, history: ChatHistory): Promise<void> {
    const store = this.options.historyStore;
    if (!store || this.closed) return;
    try {
      await store.save(deviceId, history);
    } catch (err) {
      this.options.warn?.(`llm: history of ${deviceId} not saved: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async consume(
    events: AsyncIterable<AgentEvent>,
    userText: string,
    signal: AbortSignal,
    emit: (topic: string, payload: unknown) => boolean,
    timings: Record<string, number>,
  ): Promise<void> {
    for await (const event of events) {
      switch (event.type) {
        case 'emotion':
          if (!emit('emotion', event.emotion)) return;
          break;
        case 'sentence':
          if (timings.llmFirstSentence === undefined) timings.llmFirstSentence = Date.now();
          if (!emit('sentence', event.text)) return;
          break;
        case 'done':
          this.setError(undefined);
          emit('reply.end', event.text);
          return;
        case 'error': {
          if (event.error.code === 'aborted' || !this.isLiveSignal(signal)) return;
          this.setError(shortError(event.error));
          this.options.warn?.(`llm: ${event.error.message}`);
          emit('say', spokenError(event.error, userText));
          return;
        }
        default:
          break; // tool_call / tool_result: the model's business
      }
    }
  }

  private async runOffline(
    userText: string,
    session: Session | undefined,
    emit: (topic: string, payload: unknown) => boolean,
    timings: Record<string, number>,
  ): Promise<void> {
    const timeoutMs = this.options.toolTimeoutMs ?? 30000;
    const answer = await respond(userText, {
      now: this.options.now?.() ?? new Date(),
      timeZone: this.options.timeZone,
      tools: session ? session.tools.map((tool) => tool.name) : [],
      callTool: session
        ? async (name, args) => {
            const result = await session.callTool(name, args, timeoutMs);
            return { text: result.text, isError: result.isError };
          }
        : undefined,
    });
    if (!emit('emotion', answer.emotion ?? 'happy')) return;
    // The same shape as a model's answer, so the TTS stage starts on the first sentence.
    const splitter = new SentenceSplitter({ minFirstCharsCjk: Number.MAX_SAFE_INTEGER, minFirstCharsLatin: Number.MAX_SAFE_INTEGER });
    const sentences = [...splitter.push(answer.reply), ...splitter.flush()];
    for (const sentence of sentences) {
      if (timings.llmFirstSentence === undefined) timings.llmFirstSentence = Date.now();
      if (!emit('sentence', sentence)) return;
    }
    emit('reply.end', answer.reply);
  }

  private isLiveSignal(signal: AbortSignal): boolean {
    return !signal.aborted && !this.closed;
  }

  private setRunning(delta: number): void {
    this.running += delta;
    this.options.onStatus?.({ running: this.running, lastError: this.lastError });
  }

  private setError(error: string | undefined): void {
    if (error === this.lastError) return;
    this.lastError = error;
    this.options.onStatus?.({ running: this.running, lastError: error });
  }
}

/**
 * True when an incoming msg belongs to a session that has gone or whose turn has moved on. Only
 * the session's own turn counts here: TurnGuard.isCurrent would also refuse a newer turn while
 * this stage still works on the older one, which is exactly when the newer one must win.
 */
export function isStaleInput(msg: StageMessage, turn: number | undefined): boolean {
  if (msg.session === undefined) return false;
  const session = sessionRegistry.get(msg.session);
  return !session || !session.isCurrentTurn(turn);
}

/** The ids a derived msg keeps: session, turn, device and Node-RED's _msgid. */
export function idsOf(msg: StageMessage): StageMessage {
  const ids: StageMessage = { session: msg.session, turn: msg.turn, device: msg.device };
  if (msg._msgid !== undefined) ids._msgid = msg._msgid;
  return ids;
}

/** Session id, or '' for msgs injected without one (a flow testing the node by hand). */
function sessionKey(msg: StageMessage): string {
  return typeof msg.session === 'string' ? msg.session : '';
}

/**
 * The device's MCP tools as agent tools. Tools the firmware marks for the user only
 * (`annotations.audience: ["user"]`) are not offered to the model.
 */
function deviceTools(session: Session, timeoutMs: number): AgentTool[] {
  return session.tools.filter((tool) => !isUserOnly(tool)).map((tool) => ({
    name: tool.name,
    description: tool.description,
    parameters: tool.inputSchema,
    async execute(args: Record<string, unknown>): Promise<string> {
      const result = await session.callTool(tool.name, args, timeoutMs);
      // Thrown, the agent hands the model "Error: ..." and marks the result as an error.
      if (result.isError) throw new Error(result.text || 'the device reported an error');
      return result.text;
    },
  }));
}

function isUserOnly(tool: McpTool): boolean {
  const audience = tool.annotations?.audience;
  return Array.isArray(audience) && audience.includes('user') && !audience.includes('assistant');
}

/** A few words for the status dot. */
function shortError(error: ProviderError): string {
  switch (error.code) {
    case 'timeout':
      return 'timeout';
    case 'unavailable':
      return 'unreachable';
    case 'rate_limited':
      return 'rate limited';
    case 'model_missing':
      return 'model not found';
    default:
      return /authentication|API key|401|403/i.test(error.message) ? 'API key refused' : 'error';
  }
}

/** A short, honest sentence to speak when the model fails, in the user's language. */
function spokenError(error: ProviderError | undefined, userText: string): string {
  const zh = CJK.test(userText);
  const kind = error ? shortError(error) : 'error';
  switch (kind) {
    case 'timeout':
      return zh ? '抱歉，语言模型没有及时回答。' : 'Sorry, the language model did not answer in time.';
    case 'unreachable':
      return zh ? '抱歉，现在连不上语言模型。' : 'Sorry, I cannot reach the language model right now.';
    case 'rate limited':
      return zh ? '抱歉，语言模型现在太忙或者额度用完了。' : 'Sorry, the language model is busy or out of quota.';
    case 'model not found':
      return zh ? '抱歉，找不到这个语言模型，请检查模型名称。' : 'Sorry, the language model was not found. Please check the model name.';
    case 'API key refused':
      return zh ? '抱歉，语言模型拒绝了 API 密钥。' : 'Sorry, the language model refused the API key.';
    default:
      return zh ? '抱歉，语言模型出错了。' : 'Sorry, something went wrong with the language model.';
  }
}
