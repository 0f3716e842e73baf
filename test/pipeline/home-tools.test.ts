// LLM tools generated from the live device catalogue, against a real embedded broker with a
// zigbee2mqtt-like peer, and used by the LLM stage through the loopback OpenAI server.
import assert from 'node:assert/strict';
import { DeviceCatalogue } from '../../src/broker/catalogue';
import { homeTools, liveHomeTools } from '../../src/pipeline/home-tools';
import { LlmStage, type StageMessage } from '../../src/pipeline/llm-stage';
import { OpenAiChatLlm } from '../../src/providers/llm/openai-chat';
import { startTestBroker, waitUntil, Zigbee2mqttPeer, zigbee2mqttDevices, type TestBroker } from '../broker/catalogue-peers';
import { FakeOpenAiServer, textReply, toolCallReply } from '../providers/llm/fake-openai-server';

type Schema = { properties: Record<string, { enum?: string[]; type?: string }>; required: string[] };

describe('pipeline/homeTools', function () {
  this.timeout(15_000);
  let tb: TestBroker;
  let peer: Zigbee2mqttPeer;
  let catalogue: DeviceCatalogue;
  const signal = new AbortController().signal;

  beforeEach(async () => {
    tb = await startTestBroker();
    peer = await Zigbee2mqttPeer.start(tb.url);
    catalogue = new DeviceCatalogue(tb.broker);
    await catalogue.start();
  });
  afterEach(async () => {
    await catalogue.close();
    await peer.close();
    await tb.broker.close();
  });

  it('offers only tools some device can do, each with the names (and areas) that fit', () => {
    const tools = homeTools(catalogue, tb.broker);
    const byName = new Map(tools.map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), [
      'home_activate_scene',
      'home_get_state',
      'home_set_brightness',
      'home_set_color',
      'home_set_color_temperature',
      'home_set_cover_position',
      'home_set_temperature',
      'home_turn_off',
      'home_turn_on',
    ]);
    const onNames = (byName.get('home_turn_on')!.parameters as Schema).properties.name!.enum!;
    assert.ok(onNames.includes('kitchen light') && onNames.includes('coffee plug') && onNames.includes('kitchen'), onNames.join(', '));
    assert.ok(!onNames.includes('bedroom sensor temperature'), 'a sensor cannot be turned on');
    const colorNames = (byName.get('home_set_color')!.parameters as Schema).properties.name!.enum!;
    assert.ok(colorNames.includes('kitchen light') && !colorNames.includes('coffee plug'));
    const brightness = byName.get('home_set_brightness')!.parameters as Schema;
    assert.deepEqual(brightness.required, ['name', 'brightness']);
    assert.ok((byName.get('home_get_state')!.parameters as Schema).properties.name!.enum!.includes('bedroom sensor temperature'));
    for (const tool of tools) assert.ok(tool.description.length > 20, `${tool.name} is described`);
  });

  it('home_turn_on {"name":"kitchen light"} publishes the zigbee2mqtt command and reports the echo', async () => {
    const tool = homeTools(catalogue, tb.broker).find((t) => t.name === 'home_turn_on')!;
    const result = await tool.execute({ name: 'kitchen light' }, signal);
    assert.equal(result, 'Turned on the kitchen light.');
    assert.deepEqual(peer.received, [{ topic: 'zigbee2mqtt/kitchen light/set', payload: '{"state":"ON"}' }]);
  });

  it('an area name acts on every fitting device there; failures and unknown names are errors for the model', async () => {
    const tools = homeTools(catalogue, tb.broker, { waitForEchoMs: 300 });
    const off = tools.find((t) => t.name === 'home_turn_off')!;
    const result = await off.execute({ name: 'Kitchen' }, signal);
    assert.deepEqual(peer.received.map((r) => r.topic).sort(), ['zigbee2mqtt/coffee plug/set', 'zigbee2mqtt/kitchen light/set']);
    assert.match(result, /Turned off the kitchen light\./);
    assert.match(result, /Turned off the coffee plug\./);
    await assert.rejects(off.execute({ name: 'garage door' }, signal), /no device or area called "garage door"/);
    peer.silent.add('kitchen light');
    const bri = tools.find((t) => t.name === 'home_set_brightness')!;
    await assert.rejects(bri.execute({ name: 'kitchen light', brightness: 30 }, signal), /did not respond/);
    assert.deepEqual(JSON.parse(peer.received.at(-1)!.payload), { brightness: 76 });
  });

  it('liveHomeTools follows devices as they appear', async () => {
    const live = liveHomeTools(catalogue, tb.broker);
    const enumOf = () => (live.tools().find((t) => t.name === 'home_turn_on')!.parameters as Schema).properties.name!.enum!;
    assert.ok(!enumOf().includes('garage lamp'));
    const garage = JSON.parse(JSON.stringify(zigbee2mqttDevices()[3])) as Record<string, unknown>;
    garage.ieee_address = '0x000b57fffec6eeee';
    garage.friendly_name = 'garage lamp';
    await peer.publishDevices([...zigbee2mqttDevices(), garage]);
    await waitUntil(() => enumOf().includes('garage lamp'), 3000, 'garage lamp in the tool enum');
    live.dispose();
  });

  it('the LLM stage offers them as extra tools and the model switches the light', async () => {
    const server = new FakeOpenAiServer((_req, index) =>
      index === 0 ? toolCallReply('call_1', 'home_turn_on', ['{"name":', '"kitchen light"}']) : textReply('The kitchen light is on now.'),
    );
    const baseUrl = await server.start();
    const out: StageMessage[] = [];
    const live = liveHomeTools(catalogue, tb.broker);
    const stage = new LlmStage({
      llm: new OpenAiChatLlm({ baseUrl, model: 'test-model', timeoutMs: 5000, firstTokenTimeoutMs: 2000, idleTimeoutMs: 2000 }),
      extraTools: live.tools,
      send: (m) => out.push(m),
    });
    try {
      await stage.handle({ topic: 'stt', payload: 'could you light up the kitchen please' });
      assert.deepEqual(peer.received, [{ topic: 'zigbee2mqtt/kitchen light/set', payload: '{"state":"ON"}' }]);
      const offered = (server.requests[0]!.body as { tools: Array<{ function: { name: string; parameters: Schema } }> }).tools;
      const turnOn = offered.find((t) => t.function.name === 'home_turn_on');
      assert.ok(turnOn?.function.parameters.properties.name!.enum!.includes('kitchen light'));
      const second = server.requests[1]!.body as { messages: Array<{ role: string; content: string }> };
      assert.equal(second.messages.at(-1)!.role, 'tool');
      assert.equal(second.messages.at(-1)!.content, 'Turned on the kitchen light.');
      assert.deepEqual(out.map((m) => m.topic), ['stt', 'emotion', 'sentence', 'reply.end']);
      assert.equal(out.at(-1)!.payload, 'The kitchen light is on now.');
    } finally {
      stage.close();
      live.dispose();
      await server.close();
    }
  });
});
