import {
  isJsonRpcResponse,
  mcpInitializeRequest,
  mcpToolsCallRequest,
  mcpToolsListRequest,
  parseToolsListResult,
  toolCallResultText,
  type JsonRpcResponse,
  type McpTool,
} from '../protocol/mcp';

/** Result of a device tool call. */
export interface ToolCallResult {
  text: string;
  isError: boolean;
  /** The JSON-RPC result object as the device sent it. */
  raw: unknown;
}

/** Errors of the device MCP client, with a code for callers. */
export class McpError extends Error {
  constructor(
    readonly code: 'timeout' | 'closed' | 'device_error' | 'not_ready',
    message: string,
  ) {
    super(message);
    this.name = 'McpError';
  }
}

interface Pending {
  resolve(response: JsonRpcResponse): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The server side of the device's MCP channel (protocol.md §2.6): the device is the MCP server,
 * we are the client. Request ids are unique per connection (the reference server reuses ids,
 * which lets a tool result be mistaken for the initialize answer).
 */
export class DeviceMcpClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  tools: McpTool[] = [];
  ready = false;

  constructor(
    private readonly send: (payload: object) => void,
    private readonly options: { toolCallTimeoutMs: number; maxToolPages: number; visionUrl?: string; visionToken?: string },
  ) {}

  /** initialize -> tools/list (following nextCursor) -> tools kept. Resolves with the tools. */
  async handshake(): Promise<McpTool[]> {
    const initTimeout = Math.min(this.options.toolCallTimeoutMs, 10_000);
    const init = await this.request(
      (id) => mcpInitializeRequest(id, { visionUrl: this.options.visionUrl, visionToken: this.options.visionToken }),
      initTimeout,
    );
    if (init.error) throw new McpError('device_error', `initialize failed: ${errorText(init.error)}`);
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < this.options.maxToolPages; page++) {
      const response = await this.request((id) => mcpToolsListRequest(id, cursor), initTimeout);
      if (response.error) throw new McpError('device_error', `tools/list failed: ${errorText(response.error)}`);
      const parsed = parseToolsListResult(response.result);
      tools.push(...parsed.tools);
      if (!parsed.nextCursor || parsed.nextCursor === cursor) break;
      cursor = parsed.nextCursor;
    }
    this.tools = tools;
    this.ready = true;
    return tools;
  }

  /** Call a device tool. Rejects with McpError on timeout, closed channel or device error. */
  async callTool(name: string, args: Record<string, unknown>, timeoutMs = this.options.toolCallTimeoutMs): Promise<ToolCallResult> {
    const response = await this.request((id) => mcpToolsCallRequest(id, name, args), timeoutMs);
    if (response.error) throw new McpError('device_error', `${name}: ${errorText(response.error)}`);
    const { text, isError } = toolCallResultText(response.result);
    return { text, isError, raw: response.result };
  }

  /** Feed a JSON-RPC payload that arrived from the device. Returns true if it was ours. */
  handleIncoming(payload: unknown): boolean {
    if (!isJsonRpcResponse(payload)) return false;
    const id = typeof payload.id === 'number' ? payload.id : NaN;
    const pending = this.pending.get(id);
    if (!pending) return false;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(payload);
    return true;
  }

  /** Fail every pending call (the session closed). */
  close(): void {
    this.closed = true;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new McpError('closed', 'device disconnected'));
      this.pending.delete(id);
    }
  }

  private request(build: (id: number) => object, timeoutMs: number): Promise<JsonRpcResponse> {
    if (this.closed) return Promise.reject(new McpError('closed', 'device disconnected'));
    const id = this.nextId++;
    return new Promise<JsonRpcResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new McpError('timeout', `device did not answer MCP request ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref?.();
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.send(build(id));
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }
}

function errorText(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error) return String((error as { message: unknown }).message);
  return JSON.stringify(error);
}
