/**
 * MCP over the xiaozhi `mcp` message (protocol.md §2.6). The device is the MCP server and the
 * backend is the MCP client, so this file builds requests and reads results. Pure: no I/O.
 */
import { ProtocolError } from './errors';

/** A JSON-RPC 2.0 request or notification (no `id`). FW drops requests whose id is not a number. */
export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id?: number | string;
  method: string;
  params?: Record<string, unknown>;
}

/** A JSON-RPC 2.0 error object. FW sends only `message` (no `code`). */
export interface JsonRpcError {
  code?: number;
  message: string;
  data?: unknown;
}

/** A JSON-RPC 2.0 response: exactly one of `result` and `error` is meaningful. */
export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: number | string | null;
  result?: unknown;
  error?: JsonRpcError;
}

/** Anything that travels in the `payload` of an `mcp` message. */
export type JsonRpcMessage = JsonRpcRequest | JsonRpcResponse;

/** One tool the device offers (FW `McpTool::to_json`). */
export interface McpTool {
  name: string;
  description: string;
  /** JSON Schema of the arguments, `{type:"object", properties, required}` from FW. */
  inputSchema: Record<string, unknown>;
  /** FW marks user-only tools with `{audience:["user"]}`. */
  annotations?: Record<string, unknown>;
}

/** The MCP protocol revision the firmware implements. */
export const MCP_PROTOCOL_VERSION = '2024-11-05';

/** The clientInfo we announce in `initialize` (FW ignores it; it helps logs on other servers). */
export const MCP_CLIENT_INFO = { name: 'node-red-contrib-xiaozhi', version: '1.0.0' } as const;

/** Longest tool name OpenAI-style function calling accepts. */
export const MAX_TOOL_NAME_LENGTH = 64;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** True when `x` is a JSON-RPC response (has an id and a result or an error, and no method). */
export function isJsonRpcResponse(x: unknown): x is JsonRpcResponse {
  if (!isPlainObject(x)) return false;
  if (x.jsonrpc !== '2.0' || 'method' in x) return false;
  const id = x.id;
  if (!(typeof id === 'number' || typeof id === 'string' || id === null)) return false;
  if ('error' in x) return isPlainObject(x.error) && typeof x.error.message === 'string';
  return 'result' in x;
}

/**
 * `initialize` request. FW reads only `capabilities.vision.{url,token}`, which its camera tool
 * uses to upload photos, so vision is sent only when a URL is configured.
 */
export function mcpInitializeRequest(
  id: number,
  opts: { visionUrl?: string; visionToken?: string } = {},
): JsonRpcRequest {
  const capabilities: Record<string, unknown> = { roots: { listChanged: true }, sampling: {} };
  if (opts.visionUrl !== undefined && opts.visionUrl !== '') {
    capabilities.vision = { url: opts.visionUrl, token: opts.visionToken ?? '' };
  }
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: MCP_PROTOCOL_VERSION, capabilities, clientInfo: { ...MCP_CLIENT_INFO } },
  };
}

/** `tools/list` request; pass the previous page's `nextCursor` to get the next page. */
export function mcpToolsListRequest(id: number, cursor?: string): JsonRpcRequest {
  const request: JsonRpcRequest = { jsonrpc: '2.0', id, method: 'tools/list' };
  if (cursor !== undefined) request.params = { cursor };
  return request;
}

/** `tools/call` request. `name` is the device's original tool name, not the sanitized one. */
export function mcpToolsCallRequest(id: number, name: string, args: Record<string, unknown>): JsonRpcRequest {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

/**
 * Read a `tools/list` result. Tools without a non-empty string name or without an object
 * `inputSchema` are skipped (one broken board tool must not hide the others), as are
 * duplicate names. Throws ProtocolError('invalid_field') when the result has no `tools` array.
 */
export function parseToolsListResult(result: unknown): { tools: McpTool[]; nextCursor?: string } {
  if (!isPlainObject(result) || !Array.isArray(result.tools)) {
    throw new ProtocolError('invalid_field', 'tools/list result must be an object with a tools array', 'result.tools');
  }
  const tools: McpTool[] = [];
  const seen = new Set<string>();
  for (const entry of result.tools) {
    if (!isPlainObject(entry)) continue;
    const { name, description, inputSchema, annotations } = entry;
    if (typeof name !== 'string' || name === '' || seen.has(name)) continue;
    if (!isPlainObject(inputSchema)) continue;
    const tool: McpTool = { name, description: typeof description === 'string' ? description : '', inputSchema };
    if (isPlainObject(annotations)) tool.annotations = annotations;
    seen.add(name);
    tools.push(tool);
  }
  const out: { tools: McpTool[]; nextCursor?: string } = { tools };
  if (typeof result.nextCursor === 'string' && result.nextCursor !== '') out.nextCursor = result.nextCursor;
  return out;
}

/**
 * The text an LLM should see for a `tools/call` result: the text items of `content` joined by
 * newlines (FW puts everything in `content[0].text`), and `isError`. A result with no text
 * content is reported as an error so the LLM does not take silence for success.
 */
export function toolCallResultText(result: unknown): { text: string; isError: boolean } {
  if (!isPlainObject(result) || !Array.isArray(result.content)) {
    return { text: 'tool returned no content', isError: true };
  }
  const texts: string[] = [];
  for (const item of result.content) {
    if (isPlainObject(item) && item.type === 'text' && typeof item.text === 'string') texts.push(item.text);
  }
  if (texts.length === 0) {
    const kinds = result.content.map((item) => (isPlainObject(item) && typeof item.type === 'string' ? item.type : '?'));
    return {
      text: kinds.length === 0 ? 'tool returned no content' : `tool returned no text content (${kinds.join(', ')})`,
      isError: true,
    };
  }
  return { text: texts.join('\n'), isError: result.isError === true };
}

// Same character class as the Python server (letters, digits, _ and -, plus CJK ideographs),
// so tool names look the same to an LLM whichever server it talks through. The u flag makes
// an astral character (emoji) one `_`, not two.
const TOOL_NAME_FORBIDDEN = /[^A-Za-z0-9_\-\u4e00-\u9fff]/gu;

/**
 * Make a device tool name acceptable to LLM function calling: every character outside
 * [A-Za-z0-9_-] and CJK ideographs becomes `_` (`self.audio_speaker.set_volume` ->
 * `self_audio_speaker_set_volume`), cut to 64 characters. Callers keep a map back to the
 * original name, which is what `tools/call` needs.
 */
export function sanitizeToolName(name: string): string {
  const cleaned = name.replace(TOOL_NAME_FORBIDDEN, '_').slice(0, MAX_TOOL_NAME_LENGTH);
  return cleaned === '' ? '_' : cleaned;
}
