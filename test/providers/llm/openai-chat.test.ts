import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { OpenAiChatLlm, type OpenAiChatLlmOptions } from '../../../src/providers/llm/openai-chat';
import { ProviderError, type ChatEvent, type ChatRequest } from '../../../src/providers/types';
import {
  FakeOpenAiServer,
  finishChunk,
  textChunk,
  textReply,
  toolCallChunk,
  type ScriptedReply,
} from './fake-openai-server';

/** Collect every event; a thrown error is returned beside the events seen before it. */
async function collect(llm: OpenAiChatLlm, request: ChatRequest): Promise<{ events: ChatEvent[]; error?: unknown }> {
  const events: ChatEvent[] = [];
  try {
    for await (const event of llm.chat(request)) events.push(event);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

function assertProviderError(error: unknown, code: ProviderError['code'], pattern?: RegExp): ProviderError {
  assert.ok(error instanceof ProviderError, `expected a ProviderError, got ${String(error)}`);
  assert.equal(error.code, code, `code of: ${error.message}`);
  if (pattern) assert.match(error.message, pattern);
  return error;
}

const textOf = (events: ChatEvent[]): string =>
  events.map((e) => (e.type === 'text' ? e.text : '')).join('');

describe('providers/llm/OpenAiChatLlm', function () {
  let server: FakeOpenAiServer | undefined;

  afterEach(async function () {
    await server?.close();
    server = undefined;
  });

  async function setup(
    script: (index: number) => ScriptedReply,
    options: Partial<OpenAiChatLlmOptions> = {},
  ): Promise<{ llm: OpenAiChatLlm; server: FakeOpenAiServer }> {
    server = new FakeOpenAiServer((_req, index) => script(index));
    const baseUrl = await server.start();
    const llm = new OpenAiChatLlm({ baseUrl, model: 'test-model', apiKey: 'sk-test', ...options });
    return { llm, server };
  }

  it('streams text deltas and sends model, messages, tools and the API key', async function () {
    const { llm, server } = await setup(() => textReply('Hello', ' there', ', friend.'), {
      extraBody: { enable_thinking: false },
    });
    const { events, error } = await collect(llm, {
      temperature: 0.3,
      maxTokens: 200,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Set the volume' },
        { role: 'assistant', content: null, toolCalls: [{ id: 'call_1', name: 'set_volume', arguments: '{"volume":50}' }] },
        { role: 'tool', toolCallId: 'call_1', content: 'true' },
        { role: 'user', content: 'Thanks' },
      ],
      tools: [
        {
          name: 'set_volume',
          description: 'Set the speaker volume',
          parameters: { type: 'object', properties: { volume: { type: 'integer' } }, required: ['volume'] },
        },
      ],
    });
    assert.equal(error, undefined);
    assert.deepEqual(
      events.filter((e) => e.type === 'text').map((e) => (e as { text: string }).text),
      ['Hello', ' there', ', friend.'],
    );
    assert.deepEqual(events.at(-1), { type: 'done', finishReason: 'stop' });

    assert.equal(server.requests.length, 1);
    const request = server.requests[0]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/v1/chat/completions');
    assert.equal(request.headers.authorization, 'Bearer sk-test');
    const body = request.body;
    assert.equal(body.model, 'test-model');
    assert.equal(body.stream, true);
    assert.equal(body.temperature, 0.3);
    assert.equal(body.max_tokens, 200);
    assert.equal(body.enable_thinking, false);
    assert.deepEqual(body.messages, [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Set the volume' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'set_volume', arguments: '{"volume":50}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'true' },
      { role: 'user', content: 'Thanks' },
    ]);
    assert.deepEqual(body.tools, [
      {
        type: 'function',
        function: {
          name: 'set_volume',
          description: 'Set the speaker volume',
          parameters: { type: 'object', properties: { volume: { type: 'integer' } }, required: ['volume'] },
        },
      },
    ]);
  });

  it('sends a placeholder key when none is configured and no tools field when there are no tools', async function () {
    const { llm, server } = await setup(() => textReply('ok'), { apiKey: undefined });
    const { error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(error, undefined);
    assert.match(String(server.requests[0]!.headers.authorization), /^Bearer \S+$/);
    assert.equal('tools' in server.requests[0]!.body, false);
  });

  it('assembles tool calls from index-keyed deltas split across chunks and TCP writes', async function () {
    const { llm } = await setup(() => ({
      kind: 'stream',
      splitWrites: true,
      chunks: [
        textChunk('Let me do that.'),
        toolCallChunk(0, { id: 'call_a', name: 'self_audio_speaker_set_volume', args: '' }),
        toolCallChunk(0, { args: '{"vol' }),
        toolCallChunk(1, { id: 'call_b', name: 'self_screen_set_theme', args: '{"theme"' }),
        toolCallChunk(0, { args: 'ume": 5' }),
        toolCallChunk(1, { args: ': "dark"}' }),
        toolCallChunk(0, { args: '0}' }),
        finishChunk('tool_calls'),
      ],
    }));
    const { events, error } = await collect(llm, { messages: [{ role: 'user', content: 'volume 50, dark theme' }] });
    assert.equal(error, undefined);
    assert.equal(textOf(events), 'Let me do that.');
    const calls = events.find((e) => e.type === 'tool_calls');
    assert.deepEqual(calls, {
      type: 'tool_calls',
      calls: [
        { id: 'call_a', name: 'self_audio_speaker_set_volume', arguments: '{"volume": 50}' },
        { id: 'call_b', name: 'self_screen_set_theme', arguments: '{"theme": "dark"}' },
      ],
    });
    assert.deepEqual(events.at(-1), { type: 'done', finishReason: 'tool_calls' });
  });

  it('maps 401 to a "failed" error that names the API key', async function () {
    const { llm } = await setup(() => ({
      kind: 'json',
      status: 401,
      body: { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } },
    }));
    const { events, error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(events.length, 0);
    assertProviderError(error, 'failed', /401.*API key.*Incorrect API key provided/);
  });

  it('maps 429 to rate_limited and 404 to model_missing', async function () {
    const { llm } = await setup((index) =>
      index === 0
        ? { kind: 'json', status: 429, body: { error: { message: 'Rate limit reached' } } }
        : { kind: 'json', status: 404, body: { error: { message: 'The model `nope` does not exist' } } },
    );
    const first = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(first.error, 'rate_limited', /Rate limit reached/);
    const second = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(second.error, 'model_missing', /test-model/);
  });

  it('maps 500 to unavailable, and retries it when maxRetries allows', async function () {
    const failing = await setup(() => ({ kind: 'json', status: 500, body: { error: { message: 'boom' } } }));
    const { error } = await collect(failing.llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(error, 'unavailable', /500/);
    assert.equal(failing.server.requests.length, 1, 'no retry by default');
    await failing.server.close();

    const retried = await setup(
      (index) => (index === 0 ? { kind: 'json', status: 503, body: { error: { message: 'busy' } } } : textReply('fine')),
      { maxRetries: 1 },
    );
    const result = await collect(retried.llm, { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(result.error, undefined);
    assert.equal(textOf(result.events), 'fine');
    assert.equal(retried.server.requests.length, 2);
  });

  it('cuts a stream that stalls after two chunks with a timeout error, not a hang', async function () {
    const { llm, server } = await setup(
      () => ({ kind: 'stream', chunks: [textChunk('One.'), textChunk(' Two.')], after: 'stall' }),
      { idleTimeoutMs: 300 },
    );
    const { events, error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(textOf(events), 'One. Two.');
    assertProviderError(error, 'timeout', /stalled/);
    await server.requests[0]!.closed; // the HTTP request was torn down, not left open
  });

  it('times out when no first chunk comes, with headers sent or not', async function () {
    const { llm } = await setup((index) => (index === 0 ? { kind: 'headers-only' } : { kind: 'silent' }), {
      firstTokenTimeoutMs: 300,
    });
    const first = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(first.error, 'timeout', /first token/);
    const second = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(second.error, 'timeout', /first token/);
  });

  it('enforces the total timeout on a stream that keeps trickling', async function () {
    // Chunks every few ms for seconds: neither the first-token nor the idle timer can fire.
    const trickle = Array.from({ length: 1500 }, (_, i) => textChunk(`w${i} `));
    const { llm } = await setup(() => ({ kind: 'stream', chunks: trickle }), { timeoutMs: 500 });
    const { events, error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(error, 'timeout', /complete answer within 500 ms/);
    assert.ok(events.length < trickle.length, 'cut before the end');
  });

  it('reports a connection closed mid-stream as unavailable', async function () {
    const { llm } = await setup(() => ({ kind: 'stream', chunks: [textChunk('Half a'), textChunk(' sentence')], after: 'destroy' }));
    const { events, error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(textOf(events), 'Half a sentence');
    assertProviderError(error, 'unavailable', /connection lost|terminated|closed/i);
  });

  it('reports a stream that ends without finish_reason or [DONE] as bad_response', async function () {
    const { llm } = await setup(() => ({ kind: 'stream', chunks: [textChunk('cut')], after: 'end' }));
    const { error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(error, 'bad_response', /finish_reason/);
  });

  it('reports an error object inside the stream', async function () {
    const { llm } = await setup(() => ({
      kind: 'stream',
      chunks: [textChunk('Hi'), { error: { message: 'content filter triggered' } }],
    }));
    const { error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(error, 'failed', /content filter triggered/);
  });

  it('maps a refused connection to unavailable', async function () {
    // A port that was just free: bind, read the number, close.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const llm = new OpenAiChatLlm({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' });
    const { error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }] });
    assertProviderError(error, 'unavailable', /cannot reach|ECONNREFUSED/);
  });

  it('stops promptly on abort mid-stream and closes the HTTP request', async function () {
    const { llm, server } = await setup(() => ({ kind: 'stream', chunks: [textChunk('First words')], after: 'stall' }));
    const controller = new AbortController();
    const events: ChatEvent[] = [];
    let error: unknown;
    try {
      for await (const event of llm.chat({ messages: [{ role: 'user', content: 'hi' }], signal: controller.signal })) {
        events.push(event);
        if (event.type === 'text') controller.abort();
      }
    } catch (err) {
      error = err;
    }
    assert.equal(textOf(events), 'First words');
    assertProviderError(error, 'aborted');
    await server.requests[0]!.closed;
  });

  it('rejects at once when the signal is already aborted, sending nothing', async function () {
    const { llm, server } = await setup(() => textReply('never'));
    const { error } = await collect(llm, { messages: [{ role: 'user', content: 'hi' }], signal: AbortSignal.abort() });
    assertProviderError(error, 'aborted');
    assert.equal(server.requests.length, 0);
  });

  it('closes the HTTP request when the consumer stops reading early', async function () {
    const { llm, server } = await setup(() => ({ kind: 'stream', chunks: [textChunk('a'), textChunk('b')], after: 'stall' }));
    for await (const event of llm.chat({ messages: [{ role: 'user', content: 'hi' }] })) {
      if (event.type === 'text') break;
    }
    await server.requests[0]!.closed;
  });
});
