import * as assert from 'node:assert/strict';
import { hubMetrics } from '../../../src/metrics/hub-metrics';
import { ResponseCache } from '../../../src/pipeline/response-cache';
import { CachingLlm, splitForReplay, type CachedAnswer, type CachingLlmOptions } from '../../../src/providers/llm/caching-llm';
import { OpenAiChatLlm } from '../../../src/providers/llm/openai-chat';
import { ProviderError, type ChatEvent, type ChatRequest, type ChatTool } from '../../../src/providers/types';
import { FakeOpenAiServer, finishChunk, textChunk, textReply, toolCallReply, type ScriptedReply } from './fake-openai-server';

async function collect(llm: CachingLlm, request: ChatRequest): Promise<{ events: ChatEvent[]; error?: unknown }> {
  const events: ChatEvent[] = [];
  try {
    for await (const event of llm.chat(request)) events.push(event);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

const textOf = (events: ChatEvent[]): string => events.map((e) => (e.type === 'text' ? e.text : '')).join('');

const SYSTEM = { role: 'system' as const, content: 'You are Xiaozhi.' };
const ask = (question: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({ messages: [SYSTEM, { role: 'user', content: question }], ...extra });

const LIGHT_TOOL: ChatTool = {
  name: 'light_on',
  description: 'Turn a light on',
  parameters: { type: 'object', properties: { room: { type: 'string' } }, required: ['room'] },
};

async function counted(result: 'hit' | 'miss'): Promise<number> {
  const metric = await hubMetrics().cache.get();
  return metric.values.find((v) => v.labels.cache === 'llm' && v.labels.result === result)?.value ?? 0;
}

describe('providers/llm/CachingLlm (loopback OpenAI server)', function () {
  let server: FakeOpenAiServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function setup(script: (index: number) => ScriptedReply, options: CachingLlmOptions = {}): Promise<{ llm: CachingLlm; server: FakeOpenAiServer }> {
    server = new FakeOpenAiServer((_req, index) => script(index));
    const baseUrl = await server.start();
    const inner = new OpenAiChatLlm({ baseUrl, model: 'test-model', apiKey: 'sk-test' });
    return { llm: new CachingLlm(inner, { namespace: `${baseUrl} test-model`, ...options }), server };
  }

  it('answers a repeated prompt from the cache without an HTTP request, and counts it', async () => {
    const { llm, server } = await setup(() => textReply('I can ', 'control your lights', ' and answer questions.'));
    const hitsBefore = await counted('hit');
    const missesBefore = await counted('miss');

    const first = await collect(llm, ask('What can you do?'));
    assert.equal(first.error, undefined);
    assert.equal(server.requests.length, 1);

    const second = await collect(llm, ask('What can you do?'));
    assert.equal(second.error, undefined);
    assert.equal(server.requests.length, 1, 'no second request');
    assert.equal(textOf(second.events), 'I can control your lights and answer questions.');
    assert.equal(textOf(second.events), textOf(first.events));
    assert.deepEqual(second.events.at(-1), { type: 'done', finishReason: 'stop' });

    // Another question, or the same one with other sampling settings, is another key.
    await collect(llm, ask('Who are you?'));
    await collect(llm, ask('What can you do?', { temperature: 0.2 }));
    assert.equal(server.requests.length, 3);

    assert.equal((await counted('hit')) - hitsBefore, 1);
    assert.equal((await counted('miss')) - missesBefore, 3);
    const stats = llm.stats();
    assert.equal(stats.hits, 1);
    assert.equal(stats.misses, 3);
    assert.equal(stats.stored, 3);
    assert.equal(stats.hitRatio, 0.25);
  });

  it('never caches an answer with tool calls', async () => {
    const { llm, server } = await setup(() => toolCallReply('call_1', 'light_on', ['{"room":', '"kitchen"}']));
    for (let i = 0; i < 2; i++) {
      const { events, error } = await collect(llm, ask('Kitchen light on', { tools: [LIGHT_TOOL] }));
      assert.equal(error, undefined);
      assert.ok(events.some((e) => e.type === 'tool_calls'));
    }
    assert.equal(server.requests.length, 2);
    assert.equal(llm.stats().stored, 0);
  });

  it('never caches text that came with tool calls either', async () => {
    const { llm, server } = await setup(() => ({
      kind: 'stream',
      chunks: [textChunk('Sure, '), ...(toolCallReply('call_1', 'light_on', ['{"room":"hall"}']) as { chunks: object[] }).chunks],
    }));
    await collect(llm, ask('Hall light on', { tools: [LIGHT_TOOL] }));
    await collect(llm, ask('Hall light on', { tools: [LIGHT_TOOL] }));
    assert.equal(server.requests.length, 2);
  });

  it('keys on the tools schema: a changed tool is another prompt', async () => {
    const { llm, server } = await setup(() => textReply('Which room?'));
    await collect(llm, ask('Light on', { tools: [LIGHT_TOOL] }));
    await collect(llm, ask('Light on', { tools: [LIGHT_TOOL] }));
    assert.equal(server.requests.length, 1);
    const changed: ChatTool = { ...LIGHT_TOOL, parameters: { type: 'object', properties: { room: { type: 'string' }, brightness: { type: 'number' } } } };
    await collect(llm, ask('Light on', { tools: [changed] }));
    assert.equal(server.requests.length, 2);
    await collect(llm, ask('Light on'));
    assert.equal(server.requests.length, 3, 'no tools at all is another prompt too');
  });

  it('does not cache errors, truncated answers or a stream the caller left early', async () => {
    const replies: ScriptedReply[] = [
      { kind: 'json', status: 500, body: { error: { message: 'boom' } } },
      { kind: 'stream', chunks: [textChunk('Half an ans'), finishChunk('length')] },
      textReply('One. ', 'Two. ', 'Three.'),
      textReply('Fine.'),
    ];
    const { llm, server } = await setup((i) => replies[i] ?? textReply('later'));
    const failed = await collect(llm, ask('Tell me'));
    assert.ok(failed.error instanceof ProviderError);
    await collect(llm, ask('Tell me')); // truncated by 'length'
    // The caller stops after the first text event.
    for await (const event of llm.chat(ask('Tell me'))) {
      if (event.type === 'text') break;
    }
    await collect(llm, ask('Tell me'));
    assert.equal(server.requests.length, 4);
    assert.equal(llm.stats().stored, 1, 'only the complete answer');
    const again = await collect(llm, ask('Tell me'));
    assert.equal(server.requests.length, 4);
    assert.equal(textOf(again.events), 'Fine.');
  });

  it('only caches prompts without history by default', async () => {
    const { llm, server } = await setup(() => textReply('It is sunny.'));
    const withHistory: ChatRequest = {
      messages: [SYSTEM, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'Weather?' }],
    };
    await collect(llm, withHistory);
    await collect(llm, withHistory);
    assert.equal(server.requests.length, 2);
    assert.equal(llm.stats().bypassed, 2);
    assert.equal(llm.stats().misses, 0, 'bypassed requests are not lookups');

    const open = new CachingLlm(llm.provider, { onlyWithoutHistory: false, metricsLabel: false });
    await collect(open, withHistory);
    await collect(open, withHistory);
    assert.equal(server.requests.length, 3);
  });

  it('forgets answers after ttlMs', async () => {
    let now = 0;
    const cache = new ResponseCache<CachedAnswer>({ now: () => now });
    const { llm, server } = await setup(() => textReply('Ten o\'clock.'), { cache, ttlMs: 60_000, metricsLabel: false });
    await collect(llm, ask('Opening hours?'));
    now += 59_999;
    await collect(llm, ask('Opening hours?'));
    assert.equal(server.requests.length, 1);
    now += 1;
    await collect(llm, ask('Opening hours?'));
    assert.equal(server.requests.length, 2);
  });

  it('replays a long answer as a few chunks and honours an abort', async () => {
    const long = 'The hub runs on your own machine. It speaks to your devices over the local network. Nothing leaves your home unless you choose a cloud model.';
    const { llm, server } = await setup(() => textReply(...long.split(' ').map((w, i) => (i === 0 ? w : ` ${w}`))), { replayChunkChars: 60, metricsLabel: false });
    await collect(llm, ask('Is it private?'));
    const replay = await collect(llm, ask('Is it private?'));
    assert.equal(server.requests.length, 1);
    const texts = replay.events.filter((e) => e.type === 'text');
    assert.ok(texts.length >= 3 && texts.length <= 5, `${texts.length} chunks`);
    assert.equal(textOf(replay.events), long);

    const controller = new AbortController();
    const events: ChatEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of llm.chat({ ...ask('Is it private?'), signal: controller.signal })) {
          events.push(event);
          controller.abort();
        }
      })(),
      (error: unknown) => error instanceof ProviderError && error.code === 'aborted',
    );
    assert.equal(events.length, 1);
  });
});

describe('providers/llm/splitForReplay', () => {
  it('cuts after punctuation, else at a space, else hard, and loses nothing', () => {
    assert.deepEqual(splitForReplay('Hi. How are you today?', 10), ['Hi. ', 'How are ', 'you today?']);
    assert.deepEqual(splitForReplay('你好。今天天气很好，我们去公园吧！', 8), ['你好。', '今天天气很好，', '我们去公园吧！']);
    assert.deepEqual(splitForReplay('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
    assert.deepEqual(splitForReplay('short', 80), ['short']);
  });
});
