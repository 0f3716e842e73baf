import assert from 'node:assert/strict';
import { SimMcpServer } from '../../src/sim/sim-mcp-server';
import { createDefaultSimTools, defaultSimDeviceState } from '../../src/sim/sim-tools';
import type { SimTool } from '../../src/sim/sim-tools';

function server(tools: SimTool[], pageBudgetBytes?: number): SimMcpServer {
  return new SimMcpServer(tools, { boardName: 'sim-board', firmwareVersion: '2.4.2', ...(pageBudgetBytes ? { pageBudgetBytes } : {}) });
}

function manyTools(n: number): SimTool[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `self.test.tool_${i}`,
    description: `Test tool number ${i} with a description long enough to take some room in a page.`,
    properties: { level: { type: 'integer' as const, minimum: 0, maximum: 10 }, note: { type: 'string' as const, default: 'x' } },
    call: () => i,
  }));
}

describe('sim/SimMcpServer', () => {
  it('answers initialize like the firmware and keeps the vision endpoint', async () => {
    const s = server([]);
    const reply = await s.handle({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2024-11-05', capabilities: { vision: { url: 'http://h/vision', token: 't' } } },
    });
    assert.deepEqual(reply, {
      jsonrpc: '2.0',
      id: 1,
      result: { protocolVersion: '2024-11-05', capabilities: { tools: {} }, serverInfo: { name: 'sim-board', version: '2.4.2' } },
    });
    assert.deepEqual(s.vision, { url: 'http://h/vision', token: 't' });
  });

  it('describes tools with FW schemas: required only for properties without a default', async () => {
    const s = server(createDefaultSimTools(defaultSimDeviceState()));
    const reply = await s.handle({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const result = reply?.result as { tools: Array<{ name: string; inputSchema: unknown }>; nextCursor?: string };
    assert.deepEqual(
      result.tools.map((t) => t.name),
      ['self.get_device_status', 'self.audio_speaker.set_volume', 'self.light.turn_on', 'self.light.turn_off'],
    );
    assert.equal(result.nextCursor, undefined);
    assert.deepEqual(result.tools[0]?.inputSchema, { type: 'object', properties: {} });
    assert.deepEqual(result.tools[1]?.inputSchema, {
      type: 'object',
      properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } },
      required: ['volume'],
    });
  });

  it('pages tools/list under the byte budget with the next tool name as cursor', async () => {
    const tools = manyTools(40);
    const budget = 1200;
    const s = server(tools, budget);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const reply = await s.handle({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: cursor ? { cursor } : {} });
      const result = reply?.result as { tools: Array<{ name: string }>; nextCursor?: string };
      assert.ok(Buffer.byteLength(JSON.stringify(result)) <= budget, `page ${pages} is ${Buffer.byteLength(JSON.stringify(result))} bytes`);
      assert.ok(result.tools.length > 0);
      if (result.nextCursor !== undefined) assert.equal(tools[seen.length + result.tools.length]?.name, result.nextCursor);
      seen.push(...result.tools.map((t) => t.name));
      cursor = result.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 100);
    assert.ok(pages > 2, `expected several pages, got ${pages}`);
    assert.deepEqual(seen, tools.map((t) => t.name));
  });

  it('hides user-only tools unless withUserTools, and gives an empty page for an unknown cursor', async () => {
    const tools: SimTool[] = [
      { name: 'self.a', description: 'a', call: () => true },
      { name: 'self.reboot', description: 'reboot', userOnly: true, call: () => true },
    ];
    const s = server(tools);
    const plain = (await s.handle({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} }))?.result as { tools: Array<{ name: string; annotations?: unknown }> };
    assert.deepEqual(plain.tools.map((t) => t.name), ['self.a']);
    const all = (await s.handle({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: { withUserTools: true } }))?.result as { tools: Array<{ name: string; annotations?: unknown }> };
    assert.deepEqual(all.tools.map((t) => t.name), ['self.a', 'self.reboot']);
    assert.deepEqual(all.tools[1]?.annotations, { audience: ['user'] });
    const none = (await s.handle({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: { cursor: 'self.nope' } }))?.result;
    assert.deepEqual(none, { tools: [] });
  });

  it('refuses a tool that cannot fit in any page', async () => {
    const s = server([{ name: 'self.big', description: 'x'.repeat(500), call: () => true }], 200);
    const reply = await s.handle({ jsonrpc: '2.0', id: 4, method: 'tools/list' });
    assert.equal(reply?.result, undefined);
    assert.match(String(reply?.error?.message), /self\.big/);
  });

  it('executes tools/call on real state and formats results like FW', async () => {
    const state = defaultSimDeviceState();
    const s = server(createDefaultSimTools(state));
    const setVol = await s.handle({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'self.audio_speaker.set_volume', arguments: { volume: 35 } } });
    assert.deepEqual(setVol, { jsonrpc: '2.0', id: 5, result: { content: [{ type: 'text', text: 'true' }], isError: false } });
    assert.equal(state.volume, 35);
    await s.handle({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'self.light.turn_on', arguments: {} } });
    assert.equal(state.lightOn, true);
    const status = await s.handle({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'self.get_device_status' } });
    const text = ((status?.result as { content: Array<{ text: string }> }).content[0]?.text) ?? '';
    const parsed = JSON.parse(text) as { audio_speaker: { volume: number }; light: { power: boolean } };
    assert.equal(parsed.audio_speaker.volume, 35);
    assert.equal(parsed.light.power, true);
    const num = server([{ name: 'self.n', description: 'n', call: () => 42 }]);
    const numReply = await num.handle({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'self.n' } });
    assert.equal((numReply?.result as { content: Array<{ text: string }> }).content[0]?.text, '42');
  });

  it('answers errors with a message and no code', async () => {
    const state = defaultSimDeviceState();
    const s = server(createDefaultSimTools(state));
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'self.nope' }, /^Unknown tool: self\.nope$/],
      [{ name: 'self.audio_speaker.set_volume', arguments: {} }, /^Missing valid argument: volume$/],
      [{ name: 'self.audio_speaker.set_volume', arguments: { volume: 'loud' } }, /^Missing valid argument: volume$/],
      [{ name: 'self.audio_speaker.set_volume', arguments: { volume: 150 } }, /out of range/],
    ];
    let id = 20;
    for (const [params, expected] of cases) {
      const reply = await s.handle({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params });
      assert.equal(reply?.id, id);
      assert.equal(reply?.result, undefined);
      assert.deepEqual(Object.keys(reply?.error ?? {}), ['message']);
      assert.match(String(reply?.error?.message), expected);
    }
    assert.equal(state.volume, 70, 'a refused call must not change state');
    const unknownMethod = await s.handle({ jsonrpc: '2.0', id: 30, method: 'resources/list' });
    assert.deepEqual(unknownMethod, { jsonrpc: '2.0', id: 30, error: { message: 'Method not implemented: resources/list' } });
    const throwing = server([{ name: 'self.fail', description: 'f', call: () => { throw new Error('motor jammed'); } }]);
    assert.deepEqual(await throwing.handle({ jsonrpc: '2.0', id: 31, method: 'tools/call', params: { name: 'self.fail' } }), {
      jsonrpc: '2.0',
      id: 31,
      error: { message: 'motor jammed' },
    });
  });

  it('stays silent where FW does: string ids, notifications, wrong jsonrpc, responses', async () => {
    const s = server(createDefaultSimTools(defaultSimDeviceState()));
    assert.equal(await s.handle({ jsonrpc: '2.0', id: 'a', method: 'tools/list' }), undefined);
    assert.equal(await s.handle({ jsonrpc: '2.0', method: 'notifications/initialized' }), undefined);
    assert.equal(await s.handle({ jsonrpc: '1.0', id: 1, method: 'tools/list' }), undefined);
    assert.equal(await s.handle({ jsonrpc: '2.0', id: 1, result: {} }), undefined);
    assert.equal(await s.handle('not an object'), undefined);
    const badParams = await s.handle({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: [1] });
    assert.match(String(badParams?.error?.message), /Invalid params/);
  });
});
