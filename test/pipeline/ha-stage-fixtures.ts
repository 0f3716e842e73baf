/**
 * Test peers for the HA stage and node tests: a raw WebSocket device that answers the gateway's
 * MCP requests like the xiaozhi firmware (set_volume, get_device_status).
 */
import { SET_VOLUME_TOOL } from '../../src/pipeline/ha-stage';
import { RawClient } from '../helpers/raw-client';

/** A device that speaks MCP like the xiaozhi firmware: set_volume and get_device_status. */
export interface McpDevice {
  client: RawClient;
  /** Arguments of every tools/call of set_volume, in order. */
  volumeCalls: number[];
}

/** Connect a raw WebSocket device that answers the gateway's MCP requests, and complete hello. */
export async function connectMcpDevice(url: string, deviceId: string, opts: { name?: string; volume?: number; refuseVolume?: boolean } = {}): Promise<McpDevice> {
  const client = await RawClient.connect(url, { 'Device-Id': deviceId, 'Client-Id': `client-${deviceId}`, 'Protocol-Version': '1' });
  const device: McpDevice = { client, volumeCalls: [] };
  let volume = opts.volume ?? 70;
  const answer = (id: number, result: unknown) => client.sendJson({ type: 'mcp', payload: { jsonrpc: '2.0', id, result } });
  client.ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(data.toString()) as { type: string; payload?: { id: number; method: string; params?: { name?: string; arguments?: { volume?: number } } } };
    if (m.type !== 'mcp' || !m.payload) return;
    const { id, method, params } = m.payload;
    if (method === 'initialize') answer(id, { protocolVersion: '2024-11-05', capabilities: { tools: {} }, serverInfo: { name: 'raw', version: '1' } });
    else if (method === 'tools/list') {
      answer(id, {
        tools: [
          { name: 'self.get_device_status', description: 'status', inputSchema: { type: 'object', properties: {} } },
          { name: SET_VOLUME_TOOL, description: 'volume', inputSchema: { type: 'object', properties: { volume: { type: 'integer' } }, required: ['volume'] } },
        ],
      });
    } else if (method === 'tools/call' && params?.name === SET_VOLUME_TOOL) {
      device.volumeCalls.push(Number(params.arguments?.volume));
      if (opts.refuseVolume) answer(id, { content: [{ type: 'text', text: 'volume out of range' }], isError: true });
      else {
        volume = Number(params.arguments?.volume);
        answer(id, { content: [{ type: 'text', text: 'true' }], isError: false });
      }
    } else if (method === 'tools/call' && params?.name === 'self.get_device_status') {
      answer(id, { content: [{ type: 'text', text: JSON.stringify({ audio_speaker: { volume }, battery: { level: 80 } }) }], isError: false });
    }
  });
  client.sendJson({
    type: 'hello',
    version: 1,
    features: { mcp: true },
    transport: 'websocket',
    audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
    ...(opts.name ? { device_name: opts.name } : {}),
  });
  await client.waitJson((m) => m.type === 'hello');
  return device;
}
