import * as assert from 'node:assert/strict';
import { ChatAgent, ChatHistory, sanitiseToolNames, type AgentEvent, type AgentTool } from '../../src/pipeline/chat-agent';
import { OpenAiChatLlm } from '../../src/providers/llm/openai-chat';
import {
  FakeOpenAiServer,
  finishChunk,
  textChunk,
  textReply,
  toolCallChunk,
  toolCallReply,
  type RecordedRequest,
  type ScriptedReply,
} from '../providers/llm/fake-openai-server';

async function collect(events: AsyncIterable<AgentEvent>, onEvent?: (event: AgentEvent) => void): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for await (const event of events) {
    out.push(event);
    onEvent?.(event);
  }
  return out;
}

const sentencesOf = (events: AgentEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'sentence' ? [e.text] : []));

/** A volume tool like the device's MCP one, recording its calls. */
function volumeTool(calls: Array<Record<string, unknown>>, result = 'true'): AgentTool {
  return {
    name: 'self.audio_speaker.set_volume',
    description: 'Set the speaker volume (0-100). Call self.get_device_status first if unsure.',
    parameters: { type: 'object', properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['volume'] },
    async execute(args) {
      calls.push(args);
      return result;
    },
  };
}

const statusTool: AgentTool = {
  name: 'self.get_device_status',
  description: 'Device status as JSON',
  parameters: { type: 'object', properties: {} },
  async execute() {
    return '{"audio_speaker":{"volume":70}}';
  },
};

describe('pipeline/ChatAgent', function () {
  let server: FakeOpenAiServer | undefined;

  afterEach(async function () {
    await server?.close();
    server = undefined;
  });

  async function setup(
    script: (index: number, request: RecordedRequest) => ScriptedReply,
    agentOptions: { maxToolDepth?: number; toolTimeoutMs?: number; maxHistoryMessages?: number } = {},
  ): Promise<{ agent: ChatAgent; server: FakeOpenAiServer }> {
    server = new FakeOpenAiServer((request, index) => script(index, request));
    const baseUrl = await server.start();
    const llm = new OpenAiChatLlm({ baseUrl, model: 'test-model', idleTimeoutMs: 5000 });
    const agent = new ChatAgent({ llm, systemPrompt: 'You are Xiaozhi.', ...agentOptions });
    return { agent, server };
  }

  it('streams sentences with the emotion first, then done, and records the turn', async function () {
    const { agent, server } = await setup(() =>
      textReply('😆 Sure', ', I can tell you a joke about', ' cats. Cats are great', '! Want another?'),
    );
    const history = new ChatHistory();
    const events = await collect(agent.run({ history, userText: 'Tell me a joke' }));
    assert.deepEqual(events[0], { type: 'emotion', emotion: 'laughing', emoji: '😆' });
    assert.deepEqual(sentencesOf(events), ['Sure, I can tell you a joke about cats.', 'Cats are great!', 'Want another?']);
    assert.deepEqual(events.at(-1), { type: 'done', text: 'Sure, I can tell you a joke about cats. Cats are great! Want another?' });
    assert.equal(events.filter((e) => e.type === 'emotion').length, 1);

    const body = server.requests[0]!.body;
    assert.deepEqual(body.messages, [
      { role: 'system', content: 'You are Xiaozhi.' },
      { role: 'user', content: 'Tell me a joke' },
    ]);
    assert.equal('tools' in body, false);
    assert.deepEqual(history.toMessages(), [
      { role: 'user', content: 'Tell me a joke' },
      { role: 'assistant', content: '😆 Sure, I can tell you a joke about cats. Cats are great! Want another?' },
    ]);
  });

  it('sends happy when the reply has no emoji, and earlier turns in later requests', async function () {
    const { agent, server } = await setup((index) => textReply(index === 0 ? '你好。' : '我是小智。'));
    const history = new ChatHistory();
    const first = await collect(agent.run({ history, userText: '你好' }));
    assert.deepEqual(first[0], { type: 'emotion', emotion: 'happy', emoji: '🙂' });
    const second = await collect(agent.run({ history, userText: '你是谁' }));
    assert.deepEqual(second.at(-1), { type: 'done', text: '我是小智。' });
    assert.deepEqual(server.requests[1]!.body.messages.map((m: { content: string }) => m.content), [
      'You are Xiaozhi.', '你好', '你好。', '你是谁',
    ]);
  });

  it('runs a tool call, feeds the result back with its tool_call_id and speaks the answer', async function () {
    const volumeCalls: Array<Record<string, unknown>> = [];
    const { agent, server } = await setup((index) =>
      index === 0
        ? {
            kind: 'stream',
            splitWrites: true,
            chunks: [
              textChunk('OK, one moment.'),
              toolCallChunk(0, { id: 'call_42', name: 'self_audio_speaker_set_volume', args: '{"vol' }),
              toolCallChunk(0, { args: 'ume": 50}' }),
              finishChunk('tool_calls'),
            ],
          }
        : textReply('The volume is now 50. ', 'Anything else?'),
    );
    const history = new ChatHistory();
    const events = await collect(agent.run({ history, userText: 'Volume to fifty', tools: [statusTool, volumeTool(volumeCalls)] }));

    assert.deepEqual(volumeCalls, [{ volume: 50 }]);
    assert.deepEqual(
      events.map((e) => e.type),
      ['emotion', 'sentence', 'tool_call', 'tool_result', 'sentence', 'sentence', 'done'],
    );
    assert.deepEqual(events[2], {
      type: 'tool_call', name: 'self.audio_speaker.set_volume', arguments: { volume: 50 }, rawArguments: '{"volume": 50}',
    });
    assert.deepEqual(events[3], { type: 'tool_result', name: 'self.audio_speaker.set_volume', result: 'true', isError: false });
    assert.deepEqual(sentencesOf(events), ['OK, one moment.', 'The volume is now 50.', 'Anything else?']);

    // First request: sanitised names, descriptions rewritten to the names the model can call.
    const tools = server.requests[0]!.body.tools;
    assert.deepEqual(tools.map((t: { function: { name: string } }) => t.function.name), [
      'self_get_device_status', 'self_audio_speaker_set_volume',
    ]);
    assert.equal(tools[1].type, 'function');
    assert.match(tools[1].function.description, /Call self_get_device_status first/);
    assert.deepEqual(tools[1].function.parameters.required, ['volume']);

    // Second request: the assistant tool call and its result, linked by id.
    const messages = server.requests[1]!.body.messages;
    assert.deepEqual(messages.slice(-2), [
      {
        role: 'assistant',
        content: 'OK, one moment.',
        tool_calls: [{ id: 'call_42', type: 'function', function: { name: 'self_audio_speaker_set_volume', arguments: '{"volume": 50}' } }],
      },
      { role: 'tool', tool_call_id: 'call_42', content: 'true' },
    ]);
    assert.ok(server.requests[1]!.body.tools, 'tools still offered at depth 1');
    assert.equal(history.length, 4);
  });

  it('withholds tools once maxToolDepth rounds have called tools, and tells the model why', async function () {
    const volumeCalls: Array<Record<string, unknown>> = [];
    const { agent, server } = await setup(
      (index) => (index < 3 ? toolCallReply(`call_${index}`, 'self_audio_speaker_set_volume', ['{"volume":', ` ${index}}`]) : textReply('Done.')),
      { maxToolDepth: 2 },
    );
    const history = new ChatHistory();
    const events = await collect(agent.run({ history, userText: 'loop', tools: [volumeTool(volumeCalls)] }));
    assert.deepEqual(volumeCalls, [{ volume: 0 }, { volume: 1 }]);
    assert.equal(server.requests.length, 3);
    assert.ok(server.requests[0]!.body.tools && server.requests[1]!.body.tools);
    assert.equal('tools' in server.requests[2]!.body, false);
    assert.match(server.requests[2]!.body.messages[0].content, /tool call limit/);
    // The third reply (a tool call the model made anyway) is ignored: the turn ends.
    assert.equal(events.at(-1)?.type, 'done');
  });

  it('answers an unknown tool name and invalid JSON arguments with tool errors, not a crash', async function () {
    const volumeCalls: Array<Record<string, unknown>> = [];
    const { agent, server } = await setup((index) => {
      if (index === 0) {
        return {
          kind: 'stream',
          chunks: [
            toolCallChunk(0, { id: 'call_x', name: 'launch_rocket', args: '{}' }),
            toolCallChunk(1, { id: 'call_y', name: 'self_audio_speaker_set_volume', args: '{"volume": fifty' }),
            finishChunk('tool_calls'),
          ],
        };
      }
      return textReply('Sorry, I cannot do that.');
    });
    const history = new ChatHistory();
    const events = await collect(agent.run({ history, userText: 'go', tools: [volumeTool(volumeCalls)] }));
    assert.deepEqual(volumeCalls, []);
    const results = events.filter((e) => e.type === 'tool_result');
    assert.equal(results.length, 2);
    assert.deepEqual(results.map((r) => r.type === 'tool_result' && r.isError), [true, true]);
    assert.match((results[0] as { result: string }).result, /unknown tool "launch_rocket".*self_audio_speaker_set_volume/);
    assert.match((results[1] as { result: string }).result, /invalid arguments.*JSON/);
    const toolMessages = server.requests[1]!.body.messages.filter((m: { role: string }) => m.role === 'tool');
    assert.deepEqual(toolMessages.map((m: { tool_call_id: string }) => m.tool_call_id), ['call_x', 'call_y']);
    assert.deepEqual(sentencesOf(events), ['Sorry, I cannot do that.']);
    assert.equal(events.at(-1)?.type, 'done');
  });

  it('turns a failing or slow tool into an error result', async function () {
    const { agent, server } = await setup(
      (index) => (index === 0 ? toolCallReply('call_1', 'slow', ['{}']) : index === 1 ? toolCallReply('call_2', 'broken', ['{}']) : textReply('Both failed.')),
      { toolTimeoutMs: 200 },
    );
    let slowSignal: AbortSignal | undefined;
    const tools: AgentTool[] = [
      {
        name: 'slow', description: 'never ends', parameters: { type: 'object' },
        execute: (_args, signal) => { slowSignal = signal; return new Promise<string>(() => undefined); },
      },
      {
        name: 'broken', description: 'throws', parameters: { type: 'object' },
        execute: async () => { throw new Error('device unplugged'); },
      },
    ];
    const events = await collect(agent.run({ history: new ChatHistory(), userText: 'try', tools }));
    const results = events.filter((e) => e.type === 'tool_result') as Array<{ result: string; isError: boolean }>;
    assert.match(results[0]!.result, /timed out after 200 ms/);
    assert.equal(slowSignal?.aborted, true, 'the slow tool was told to stop');
    assert.deepEqual(results[1], { type: 'tool_result', name: 'broken', result: 'Error: device unplugged', isError: true });
    assert.equal(server.requests.length, 3);
  });

  it('stops on abort mid-stream and records the partial reply as interrupted', async function () {
    const { agent, server } = await setup((index) =>
      index === 0
        ? { kind: 'stream', chunks: [textChunk('Once upon a time there was a cat. It'), textChunk(' lived')], after: 'stall' }
        : textReply('Okay.'),
    );
    const history = new ChatHistory();
    const controller = new AbortController();
    const events = await collect(agent.run({ history, userText: 'Story', signal: controller.signal }), (event) => {
      if (event.type === 'sentence') controller.abort();
    });
    assert.deepEqual(sentencesOf(events), ['Once upon a time there was a cat.']);
    const last = events.at(-1);
    assert.equal(last?.type, 'error');
    assert.equal(last?.type === 'error' && last.error.code, 'aborted');
    await server.requests[0]!.closed;

    const entries = history.getEntries();
    assert.equal(entries.length, 2);
    assert.equal(entries[1]!.interrupted, true);
    assert.match(String(entries[1]!.message.content), /^Once upon a time there was a cat\. It/);
    // The next turn shows the model where it was cut off.
    await collect(agent.run({ history, userText: 'Stop' }));
    const sent = server.requests[1]!.body.messages;
    assert.match(sent[2].content, /…$/);
    assert.equal(sent[3].content, 'Stop');
  });

  it('aborts during a tool run and keeps the history valid with a cancelled result', async function () {
    const { agent } = await setup(() => toolCallReply('call_9', 'wait', ['{}']));
    const controller = new AbortController();
    const tools: AgentTool[] = [{
      name: 'wait', description: 'waits', parameters: { type: 'object' },
      execute: () => { setImmediate(() => controller.abort()); return new Promise<string>(() => undefined); },
    }];
    const history = new ChatHistory();
    const events = await collect(agent.run({ history, userText: 'wait', tools, signal: controller.signal }));
    const last = events.at(-1);
    assert.equal(last?.type === 'error' && last.error.code, 'aborted');
    const messages = history.toMessages();
    assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant', 'tool']);
    assert.deepEqual(messages[2], { role: 'tool', toolCallId: 'call_9', content: 'Error: cancelled, the user interrupted' });
  });

  it('ends with an error event carrying the provider error code', async function () {
    const { agent } = await setup(() => ({ kind: 'json', status: 429, body: { error: { message: 'slow down' } } }));
    const events = await collect(agent.run({ history: new ChatHistory(), userText: 'hi' }));
    assert.equal(events.length, 1);
    const only = events[0];
    assert.equal(only?.type === 'error' && only.error.code, 'rate_limited');
  });

  it('keeps history valid when the consumer stops reading mid-turn', async function () {
    const { agent, server } = await setup(() => ({ kind: 'stream', chunks: [textChunk('First part. Second')], after: 'stall' }));
    const history = new ChatHistory();
    for await (const event of agent.run({ history, userText: 'go' })) {
      if (event.type === 'sentence') break;
    }
    await server.requests[0]!.closed;
    assert.deepEqual(history.getEntries().map((e) => [e.message.role, e.interrupted ?? false]), [['user', false], ['assistant', true]]);
  });
});

describe('pipeline/sanitiseToolNames', function () {
  it('replaces characters outside [A-Za-z0-9_-], keeps names unique and at most 64 chars', function () {
    const long = `self.${'x'.repeat(80)}`;
    const names = sanitiseToolNames(['self.audio_speaker.set_volume', 'self audio speaker set volume', '设置音量', 'ok-name_1', long, `${long}!`]);
    assert.equal(names[0], 'self_audio_speaker_set_volume');
    assert.equal(names[1], 'self_audio_speaker_set_volume_2');
    assert.equal(names[2], '____');
    assert.equal(names[3], 'ok-name_1');
    assert.equal(names[4]!.length, 64);
    assert.equal(names[5]!.length, 64);
    assert.notEqual(names[4], names[5]);
    for (const name of names) assert.match(name, /^[A-Za-z0-9_-]{1,64}$/);
  });
});

describe('providers/llm/ChatHistory', function () {
  function turnWithTools(n: number): Parameters<ChatHistory['append']> {
    return [
      { role: 'user', content: `q${n}` },
      { role: 'assistant', content: null, toolCalls: [{ id: `c${n}a`, name: 't', arguments: '{}' }, { id: `c${n}b`, name: 't', arguments: '{}' }] },
      { role: 'tool', toolCallId: `c${n}a`, content: 'ra' },
      { role: 'tool', toolCallId: `c${n}b`, content: 'rb' },
      { role: 'assistant', content: `a${n}` },
    ];
  }

  it('trims whole turns from the front and never orphans tool results', function () {
    for (let limit = 0; limit <= 16; limit++) {
      const history = new ChatHistory();
      for (let n = 0; n < 3; n++) history.append(...turnWithTools(n));
      history.trim(limit);
      const messages = history.toMessages();
      // Every tool message answers a tool call made earlier in the kept history.
      const known = new Set<string>();
      for (const m of messages) {
        if (m.role === 'assistant') for (const c of m.toolCalls ?? []) known.add(c.id);
        if (m.role === 'tool') assert.ok(known.has(m.toolCallId), `limit ${limit}: orphan ${m.toolCallId}`);
      }
      // And every tool call kept has its results.
      for (const m of messages) {
        if (m.role !== 'assistant') continue;
        for (const c of m.toolCalls ?? []) {
          assert.ok(messages.some((t) => t.role === 'tool' && t.toolCallId === c.id), `limit ${limit}: call ${c.id} lost its result`);
        }
      }
      if (limit >= 5) {
        assert.ok(messages.length <= limit, `limit ${limit}: kept ${messages.length}`);
        assert.equal(messages[0]?.role, 'user', `limit ${limit}: starts with a user message`);
      }
    }
  });

  it('round-trips through JSON text and rejects malformed input', function () {
    const history = new ChatHistory();
    history.append(...turnWithTools(1));
    history.appendInterrupted('I was saying');
    const text = JSON.stringify(history);
    const copy = ChatHistory.fromJSON(text);
    assert.deepEqual(copy.getEntries(), history.getEntries());
    assert.deepEqual(copy.toMessages().at(-1), { role: 'assistant', content: 'I was saying…' });
    assert.throws(() => ChatHistory.fromJSON('{"version":2,"entries":[]}'), TypeError);
    assert.throws(() => ChatHistory.fromJSON({ version: 1, entries: [{ message: { role: 'tool', content: 'x' } }] } as never), /entry 0/);
  });
});
