import assert from 'node:assert/strict';
import {
  MCP_PROTOCOL_VERSION,
  ProtocolError,
  isJsonRpcResponse,
  mcpInitializeRequest,
  mcpToolsCallRequest,
  mcpToolsListRequest,
  parseClientMessage,
  parseToolsListResult,
  sanitizeToolName,
  toolCallResultText,
} from '../../src/protocol';

/** A tools/list page shaped like FW's (protocol.md §2.6). */
const FW_PAGE = {
  tools: [
    {
      name: 'self.get_device_status',
      description: 'Provides the real-time information of the device',
      inputSchema: { type: 'object', properties: {} },
    },
    {
      name: 'self.audio_speaker.set_volume',
      description: 'Set the volume of the audio speaker.',
      inputSchema: { type: 'object', properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['volume'] },
    },
    {
      name: 'self.reboot',
      description: 'Reboot the device',
      inputSchema: { type: 'object', properties: {} },
      annotations: { audience: ['user'] },
    },
  ],
  nextCursor: 'self.screen.set_theme',
};

describe('protocol/mcp: requests', () => {
  it('initialize follows the handshake of §2.6, with vision only when configured', () => {
    const plain = mcpInitializeRequest(1);
    assert.equal(plain.jsonrpc, '2.0');
    assert.equal(plain.id, 1);
    assert.equal(plain.method, 'initialize');
    assert.equal(plain.params?.protocolVersion, MCP_PROTOCOL_VERSION);
    assert.deepEqual(plain.params?.capabilities, { roots: { listChanged: true }, sampling: {} });
    const vision = mcpInitializeRequest(7, { visionUrl: 'http://10.0.0.2:8003/mcp/vision/explain', visionToken: 't' });
    assert.deepEqual((vision.params?.capabilities as Record<string, unknown>).vision, {
      url: 'http://10.0.0.2:8003/mcp/vision/explain',
      token: 't',
    });
  });

  it('tools/list carries the cursor only when paging; tools/call names the original tool', () => {
    assert.deepEqual(mcpToolsListRequest(2), { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.deepEqual(mcpToolsListRequest(3, 'self.screen.set_theme'), {
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/list',
      params: { cursor: 'self.screen.set_theme' },
    });
    assert.deepEqual(mcpToolsCallRequest(4, 'self.audio_speaker.set_volume', { volume: 50 }), {
      jsonrpc: '2.0',
      id: 4,
      method: 'tools/call',
      params: { name: 'self.audio_speaker.set_volume', arguments: { volume: 50 } },
    });
  });
});

describe('protocol/mcp: reading device answers', () => {
  it('isJsonRpcResponse tells FW results and errors from requests', () => {
    assert.equal(isJsonRpcResponse({ jsonrpc: '2.0', id: 2, result: FW_PAGE }), true);
    assert.equal(isJsonRpcResponse({ jsonrpc: '2.0', id: 5, error: { message: 'Unknown tool: x' } }), true);
    assert.equal(isJsonRpcResponse({ jsonrpc: '2.0', id: 5, method: 'tools/list' }), false);
    assert.equal(isJsonRpcResponse({ jsonrpc: '2.0', id: 5 }), false);
    assert.equal(isJsonRpcResponse({ jsonrpc: '1.0', id: 5, result: 1 }), false);
    assert.equal(isJsonRpcResponse({ jsonrpc: '2.0', id: 5, error: 'boom' }), false);
    assert.equal(isJsonRpcResponse({ jsonrpc: '2.0', id: {}, result: 1 }), false);
    assert.equal(isJsonRpcResponse(null), false);
  });

  it('parses a FW tools/list page end to end from the wire, with nextCursor', () => {
    const wire = JSON.stringify({ session_id: 's', type: 'mcp', payload: { jsonrpc: '2.0', id: 2, result: FW_PAGE } });
    const msg = parseClientMessage(wire);
    assert.ok(msg.type === 'mcp' && isJsonRpcResponse(msg.payload));
    const { tools, nextCursor } = parseToolsListResult(msg.payload.result);
    assert.deepEqual(
      tools.map((t) => t.name),
      ['self.get_device_status', 'self.audio_speaker.set_volume', 'self.reboot'],
    );
    assert.deepEqual(tools[1]!.inputSchema.required, ['volume']);
    assert.deepEqual(tools[2]!.annotations, { audience: ['user'] });
    assert.equal(nextCursor, 'self.screen.set_theme');
  });

  it('skips malformed and duplicate tools, and omits an empty cursor', () => {
    const { tools, nextCursor } = parseToolsListResult({
      tools: [
        null,
        'self.x',
        { description: 'no name', inputSchema: {} },
        { name: '', inputSchema: {} },
        { name: 'self.no_schema', description: 'd' },
        { name: 'self.bad_schema', inputSchema: 'object' },
        { name: 'self.ok', inputSchema: { type: 'object', properties: {} } },
        { name: 'self.ok', description: 'dup', inputSchema: {} },
      ],
      nextCursor: '',
    });
    assert.deepEqual(tools, [{ name: 'self.ok', description: '', inputSchema: { type: 'object', properties: {} } }]);
    assert.equal(nextCursor, undefined);
  });

  it('throws invalid_field when the result has no tools array', () => {
    for (const result of [undefined, null, [], { tools: {} }, 'x']) {
      assert.throws(
        () => parseToolsListResult(result),
        (err: unknown) => err instanceof ProtocolError && err.code === 'invalid_field',
      );
    }
  });

  it('toolCallResultText returns content[0].text and isError', () => {
    assert.deepEqual(toolCallResultText({ content: [{ type: 'text', text: 'true' }], isError: false }), { text: 'true', isError: false });
    assert.deepEqual(toolCallResultText({ content: [{ type: 'text', text: 'Missing valid argument: volume' }], isError: true }), {
      text: 'Missing valid argument: volume',
      isError: true,
    });
    assert.deepEqual(toolCallResultText({ content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }), { text: 'a\nb', isError: false });
    assert.deepEqual(toolCallResultText({ content: [{ type: 'image', data: 'xx', mimeType: 'image/jpeg' }] }), {
      text: 'tool returned no text content (image)',
      isError: true,
    });
    assert.equal(toolCallResultText(undefined).isError, true);
    assert.equal(toolCallResultText({ content: [] }).isError, true);
  });
});

describe('protocol/mcp: sanitizeToolName', () => {
  it('maps FW names to LLM-safe names like the Python server', () => {
    assert.equal(sanitizeToolName('self.audio_speaker.set_volume'), 'self_audio_speaker_set_volume');
    assert.equal(sanitizeToolName('self.light.set_rgb'), 'self_light_set_rgb');
    assert.equal(sanitizeToolName('already-ok_Name9'), 'already-ok_Name9');
    assert.equal(sanitizeToolName('打开.灯光'), '打开_灯光');
    assert.equal(sanitizeToolName('a b/c:d'), 'a_b_c_d');
    // An emoji (two UTF-16 units) becomes one underscore.
    assert.equal(sanitizeToolName('fun😀tool'), 'fun_tool');
    assert.equal(sanitizeToolName(''), '_');
  });

  it('cuts names to 64 characters', () => {
    const long = 'self.' + 'x'.repeat(100);
    const out = sanitizeToolName(long);
    assert.equal(out.length, 64);
    assert.match(out, /^self_x+$/);
  });
});
