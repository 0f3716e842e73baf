import type { ChatMessage, ChatToolCall } from '../types';

/** One stored message, with whether the reply was cut short by an abort. */
export interface ChatHistoryEntry {
  message: ChatMessage;
  /** Set on an assistant reply that was interrupted (barge-in, abort, error) part-way. */
  interrupted?: boolean;
}

/** The JSON form of a {@link ChatHistory} (what `toJSON()` returns and `fromJSON()` takes). */
export interface ChatHistoryJson {
  version: 1;
  entries: ChatHistoryEntry[];
}

/**
 * The dialogue of one conversation (the caller keys it by device id), without the system prompt.
 * Trimming drops whole turns from the front and never separates an assistant message that made
 * tool calls from the tool results that answer it, since the APIs reject orphaned tool messages.
 * Serialisable with `toJSON()` / `ChatHistory.fromJSON()`, e.g. to share it through Redis.
 */
export class ChatHistory {
  private entries: ChatHistoryEntry[] = [];

  /** Number of stored messages. */
  get length(): number {
    return this.entries.length;
  }

  /** Append messages at the end. */
  append(...messages: ChatMessage[]): void {
    for (const message of messages) this.entries.push({ message: cloneMessage(message) });
  }

  /** Append an assistant reply that was cut short; it is kept so the model knows what was said. */
  appendInterrupted(content: string): void {
    this.entries.push({ message: { role: 'assistant', content }, interrupted: true });
  }

  /** Stored entries (copies). */
  getEntries(): ChatHistoryEntry[] {
    return this.entries.map((entry) => ({ ...entry, message: cloneMessage(entry.message) }));
  }

  /**
   * Messages as the LLM should see them. An interrupted reply gets a trailing ellipsis, which
   * tells the model it stopped mid-way without a marker it might imitate.
   */
  toMessages(): ChatMessage[] {
    return this.entries.map(({ message, interrupted }) => {
      if (interrupted && message.role === 'assistant') {
        return { role: 'assistant', content: `${(message.content ?? '').trimEnd()}…` };
      }
      return cloneMessage(message);
    });
  }

  /**
   * Keep at most `maxMessages` messages, dropping from the front. The kept part starts at a user
   * message when one fits, else at the earliest assistant message that fits; it never starts with
   * a tool result. When even the latest turn is longer than the limit, it starts at the last
   * assistant message that fits, so a single run of tool calls may exceed the limit by its results.
   */
  trim(maxMessages: number): void {
    const limit = Math.max(0, Math.floor(maxMessages));
    if (this.entries.length <= limit) return;
    const firstAllowed = this.entries.length - limit;
    let start = -1;
    for (let i = firstAllowed; i < this.entries.length; i++) {
      if (this.entries[i]?.message.role === 'user') {
        start = i;
        break;
      }
    }
    if (start < 0) {
      for (let i = firstAllowed; i < this.entries.length; i++) {
        if (this.entries[i]?.message.role !== 'tool') {
          start = i;
          break;
        }
      }
    }
    if (start < 0) {
      // Only tool results fit: keep the assistant call they answer with them.
      start = firstAllowed;
      while (start > 0 && this.entries[start]?.message.role === 'tool') start--;
      if (this.entries[start]?.message.role === 'tool') start = this.entries.length;
    }
    this.entries = this.entries.slice(start);
  }

  /** Forget everything. */
  clear(): void {
    this.entries = [];
  }

  /** JSON form; see {@link ChatHistoryJson}. */
  toJSON(): ChatHistoryJson {
    return { version: 1, entries: this.getEntries() };
  }

  /** Rebuild a history from `toJSON()` output (an object or its JSON text). Throws TypeError on a malformed value. */
  static fromJSON(json: ChatHistoryJson | string): ChatHistory {
    const value: unknown = typeof json === 'string' ? JSON.parse(json) : json;
    if (!isObject(value) || value.version !== 1 || !Array.isArray(value.entries)) {
      throw new TypeError('ChatHistory.fromJSON: expected {version: 1, entries: [...]}');
    }
    const history = new ChatHistory();
    value.entries.forEach((entry: unknown, index: number) => {
      if (!isObject(entry) || !isChatMessage(entry.message)) {
        throw new TypeError(`ChatHistory.fromJSON: entry ${index} is not a chat message`);
      }
      history.entries.push({
        message: cloneMessage(entry.message),
        ...(entry.interrupted === true ? { interrupted: true } : {}),
      });
    });
    return history;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isToolCall(value: unknown): value is ChatToolCall {
  return isObject(value) && typeof value.id === 'string' && typeof value.name === 'string'
    && typeof value.arguments === 'string';
}

function isChatMessage(value: unknown): value is ChatMessage {
  if (!isObject(value)) return false;
  switch (value.role) {
    case 'system':
    case 'user':
      return typeof value.content === 'string';
    case 'tool':
      return typeof value.content === 'string' && typeof value.toolCallId === 'string';
    case 'assistant':
      return (typeof value.content === 'string' || value.content === null)
        && (value.toolCalls === undefined || (Array.isArray(value.toolCalls) && value.toolCalls.every(isToolCall)));
    default:
      return false;
  }
}

function cloneMessage(message: ChatMessage): ChatMessage {
  if (message.role === 'assistant' && message.toolCalls) {
    return { role: 'assistant', content: message.content, toolCalls: message.toolCalls.map((call) => ({ ...call })) };
  }
  return { ...message };
}
