/**
 * The device side of MCP over the xiaozhi `mcp` message (protocol.md §2.6), behaving like the
 * firmware's mcp_server: numeric ids only, notifications ignored, tools/list paged by a byte
 * budget with the next tool's name as cursor, errors as `{message}` without `code`.
 */
import type { JsonRpcResponse, McpTool } from '../protocol/mcp';
import { MCP_PROTOCOL_VERSION } from '../protocol/mcp';
import type { SimTool } from './sim-tools';

/** Options of SimMcpServer. */
export interface SimMcpServerOptions {
  /** `serverInfo.name` in the initialize result (FW: the board name). */
  boardName: string;
  /** `serverInfo.version` (FW: the firmware version). */
  firmwareVersion: string;
  /** A tools/list page stops before it would pass this many bytes of JSON (FW: about 8000). */
  pageBudgetBytes?: number;
}

/** What the backend told the device in `initialize` (FW keeps only the vision endpoint). */
export interface SimVisionEndpoint {
  url: string;
  token?: string;
}

// FW reserves room for the `{"tools":[...],"nextCursor":"..."}` wrapper when filling a page.
const PAGE_WRAPPER_BYTES = 30;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Serves the simulated device's tools to the backend's MCP client. */
export class SimMcpServer {
  /** Vision endpoint from the last initialize, if the backend sent one. */
  vision?: SimVisionEndpoint;
  /** Every tool call the server executed (successful or not), in order, for tests and transcripts. */
  readonly calls: Array<{ name: string; args: Record<string, unknown>; resultText?: string; error?: string }> = [];
  private readonly tools: SimTool[];
  private readonly opts: Required<SimMcpServerOptions>;

  constructor(tools: SimTool[], opts: SimMcpServerOptions) {
    this.tools = tools;
    this.opts = { pageBudgetBytes: 8000, ...opts };
  }

  /** The tool as FW serialises it in tools/list. */
  describeTool(tool: SimTool): McpTool {
    const properties: Record<string, unknown> = {};
    const required: string[] = [];
    for (const [name, prop] of Object.entries(tool.properties ?? {})) {
      properties[name] = { ...prop };
      if (prop.default === undefined) required.push(name);
    }
    const inputSchema: Record<string, unknown> = { type: 'object', properties };
    if (required.length > 0) inputSchema.required = required;
    const described: McpTool = { name: tool.name, description: tool.description, inputSchema };
    if (tool.userOnly) described.annotations = { audience: ['user'] };
    return described;
  }

  /**
   * Handle one JSON-RPC payload from the backend. Resolves to the reply payload, or undefined
   * when FW would stay silent (not JSON-RPC 2.0, a notification, a non-numeric id, a response).
   */
  async handle(payload: unknown): Promise<JsonRpcResponse | undefined> {
    if (!isPlainObject(payload) || payload.jsonrpc !== '2.0') return undefined;
    const method = payload.method;
    if (typeof method !== 'string') return undefined; // a response to us: FW never asks anything
    if (method.startsWith('notifications')) return undefined;
    const id = payload.id;
    if (typeof id !== 'number') return undefined; // FW drops string ids silently
    const params = payload.params;
    if (params !== undefined && !isPlainObject(params)) return this.error(id, `Invalid params for method: ${method}`);
    const p = params ?? {};
    switch (method) {
      case 'initialize':
        return this.initialize(id, p);
      case 'tools/list':
        return this.listTools(id, p);
      case 'tools/call':
        return this.callTool(id, p);
      default:
        return this.error(id, `Method not implemented: ${method}`);
    }
  }

  private initialize(id: number, params: Record<string, unknown>): JsonRpcResponse {
    const capabilities = params.capabilities;
    const vision = isPlainObject(capabilities) ? capabilities.vision : undefined;
    if (isPlainObject(vision) && typeof vision.url === 'string') {
      this.vision = { url: vision.url };
      if (typeof vision.token === 'string') this.vision.token = vision.token;
    }
    return {
      jsonrpc: '2.0',
      id,
      result: {
        protocolVersion: MCP_PROTOCOL_VERSION,
        capabilities: { tools: {} },
        serverInfo: { name: this.opts.boardName, version: this.opts.firmwareVersion },
      },
    };
  }

  private listTools(id: number, params: Record<string, unknown>): JsonRpcResponse {
    const cursor = typeof params.cursor === 'string' ? params.cursor : '';
    const withUserTools = params.withUserTools === true;
    const page: McpTool[] = [];
    let usedBytes = PAGE_WRAPPER_BYTES + Buffer.byteLength('{"tools":[]}');
    let nextCursor: string | undefined;
    // The cursor names the first tool of the page; an unknown cursor yields an empty page.
    let reachedCursor = cursor === '';
    for (const tool of this.tools) {
      if (!reachedCursor) {
        if (tool.name !== cursor) continue;
        reachedCursor = true;
      }
      if (tool.userOnly && !withUserTools) continue;
      const described = this.describeTool(tool);
      const bytes = Buffer.byteLength(JSON.stringify(described)) + 1; // + the separating comma
      if (usedBytes + bytes > this.opts.pageBudgetBytes) {
        if (page.length === 0) return this.error(id, `Tool ${tool.name} does not fit in one tools/list page`);
        nextCursor = tool.name;
        break;
      }
      usedBytes += bytes;
      page.push(described);
    }
    const result: { tools: McpTool[]; nextCursor?: string } = { tools: page };
    if (nextCursor !== undefined) result.nextCursor = nextCursor;
    return { jsonrpc: '2.0', id, result };
  }

  private async callTool(id: number, params: Record<string, unknown>): Promise<JsonRpcResponse> {
    const name = params.name;
    if (typeof name !== 'string') return this.error(id, 'Missing name');
    const tool = this.tools.find((t) => t.name === name);
    const rawArgs = isPlainObject(params.arguments) ? params.arguments : {};
    if (!tool) return this.recordError(id, name, rawArgs, `Unknown tool: ${name}`);
    const args: Record<string, unknown> = {};
    for (const [propName, prop] of Object.entries(tool.properties ?? {})) {
      const value = rawArgs[propName];
      // FW: a value of the wrong type counts as absent, so the default (if any) applies.
      let accepted: unknown;
      if (prop.type === 'integer' && typeof value === 'number' && Number.isFinite(value)) accepted = Math.trunc(value);
      else if (prop.type === 'string' && typeof value === 'string') accepted = value;
      else if (prop.type === 'boolean' && typeof value === 'boolean') accepted = value;
      if (accepted === undefined) {
        if (prop.default === undefined) return this.recordError(id, name, rawArgs, `Missing valid argument: ${propName}`);
        accepted = prop.default;
      }
      if (prop.type === 'integer') {
        const n = accepted as number;
        if ((prop.minimum !== undefined && n < prop.minimum) || (prop.maximum !== undefined && n > prop.maximum)) {
          return this.recordError(id, name, rawArgs, `Value of ${propName} out of range ${prop.minimum ?? '-inf'}..${prop.maximum ?? 'inf'}: ${n}`);
        }
      }
      args[propName] = accepted;
    }
    let value: unknown;
    try {
      value = await tool.call(args);
    } catch (err) {
      return this.recordError(id, name, args, err instanceof Error ? err.message : String(err));
    }
    const text = typeof value === 'boolean' || typeof value === 'number' ? String(value) : typeof value === 'string' ? value : JSON.stringify(value ?? null);
    this.calls.push({ name, args, resultText: text });
    return { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }], isError: false } };
  }

  private recordError(id: number, name: string, args: Record<string, unknown>, message: string): JsonRpcResponse {
    this.calls.push({ name, args, error: message });
    return this.error(id, message);
  }

  private error(id: number, message: string): JsonRpcResponse {
    return { jsonrpc: '2.0', id, error: { message } };
  }
}
