import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { HistoryStoreError, MemoryHistoryStore, RedisHistoryStore } from '../../src/pipeline/history-store';
import { LlmStage, type StageMessage } from '../../src/pipeline/llm-stage';
import { ChatHistory } from '../../src/providers/llm/chat-history';
import { OpenAiChatLlm } from '../../src/providers/llm/openai-chat';
import { freePort, REDIS_SERVER, requireBinary, startRedis, type ManagedServer } from '../broker/broker-fixtures';
import { FakeOpenAiServer, textReply, type RecordedRequest } from '../providers/llm/fake-openai-server';

/** A history with every kind of entry the JSON form must carry. */
function richHistory(): ChatHistory {
  const history = new ChatHistory();
  history.append({ role: 'user', content: '把音量调到50' });
  history.append({ role: 'assistant', content: null, toolCalls: [{ id: 'call_1', name: 'set_volume', arguments: '{"volume":50}' }] });
  history.append({ role: 'tool', toolCallId: 'call_1', content: 'true' });
  history.append({ role: 'assistant', content: '好的，音量已经调到50。' });
  history.append({ role: 'user', content: 'tell me a long story' });
  history.appendInterrupted('Once upon a time');
  return history;
}

/** The user messages the model received in one request, in order. */
function userMessagesOf(request: RecordedRequest): string[] {
  const messages = (request.body as { messages: Array<{ role: string; content: string }> }).messages;
  return messages.filter((m) => m.role === 'user').map((m) => m.content);
}

/** Run one typed turn through a stage (no session: the device id keys the history) and collect the reply. */
async function turn(stage: LlmStage, sent: StageMessage[], deviceId: string, text: string): Promise<StageMessage | undefined> {
  const from = sent.length;
  await stage.handle({ topic: 'stt', payload: text, device: { id: deviceId, clientId: 'c-1' } });
  return sent.slice(from).find((m) => m.topic === 'reply.end' || m.topic === 'say');
}

describe('pipeline/history-store', function () {
  describe('MemoryHistoryStore', function () {
    it('keeps the object itself, forgets the least recently used device first, deletes', async () => {
      const store = new MemoryHistoryStore({ maxConversations: 2 });
      assert.equal(store.shared, false);
      const a = new ChatHistory();
      a.append({ role: 'user', content: 'a' });
      await store.save('a', a);
      await store.save('b', new ChatHistory());
      assert.equal(await store.load('a'), a, 'the same object, appended to in place by the stage');
      await store.save('c', new ChatHistory()); // b is the least recently used now
      assert.equal(store.size, 2);
      assert.equal(await store.load('b'), undefined);
      assert.equal(await store.load('a'), a);
      await store.delete('a');
      assert.equal(await store.load('a'), undefined);
      assert.equal(store.size, 1);
    });
  });

  describe('RedisHistoryStore (real redis-server on loopback)', function () {
    this.timeout(20_000);
    let redis: ManagedServer | undefined;
    let client: Redis | undefined;
    const stores: RedisHistoryStore[] = [];
    const store = (options: ConstructorParameters<typeof RedisHistoryStore>[0]): RedisHistoryStore => {
      const s = new RedisHistoryStore(options);
      stores.push(s);
      return s;
    };

    before(async function () {
      requireBinary(this, REDIS_SERVER);
      redis = await startRedis();
      client = new Redis(redis.url);
    });
    after(async () => {
      await Promise.all(stores.map((s) => s.close()));
      client?.disconnect();
      await redis?.stop();
    });

    it('round-trips a history (tool calls, tool results, an interrupted reply, CJK) under <prefix><device> with the TTL', async () => {
      const s = store({ url: redis!.url });
      assert.equal(s.shared, true);
      assert.equal(await s.load('aa:bb:cc:00:00:01'), undefined);
      const history = richHistory();
      await s.save('aa:bb:cc:00:00:01', history);
      const loaded = await s.load('aa:bb:cc:00:00:01');
      assert.ok(loaded);
      assert.deepEqual(loaded.getEntries(), history.getEntries());
      assert.deepEqual(loaded.toMessages(), history.toMessages());
      assert.notEqual(loaded, history);

      const raw = await client!.get('xiaozhi:history:aa:bb:cc:00:00:01');
      assert.deepEqual(JSON.parse(raw!), history.toJSON());
      const ttl = await client!.ttl('xiaozhi:history:aa:bb:cc:00:00:01');
      assert.ok(ttl > 7 * 24 * 3600 - 60 && ttl <= 7 * 24 * 3600, `ttl ${ttl}`);

      await s.delete('aa:bb:cc:00:00:01');
      assert.equal(await client!.exists('xiaozhi:history:aa:bb:cc:00:00:01'), 0);
      assert.equal(await s.load('aa:bb:cc:00:00:01'), undefined);
    });

    it('uses a given client (left open on close), a key prefix and a TTL; every save renews the TTL', async () => {
      const s = store({ client: client!, keyPrefix: 'test:h:', ttlSec: 100 });
      await s.save('dev', richHistory());
      assert.ok((await client!.ttl('test:h:dev')) <= 100);
      await client!.expire('test:h:dev', 5);
      await s.save('dev', richHistory());
      assert.ok((await client!.ttl('test:h:dev')) > 5, 'save renewed the expiry');
      await s.close();
      assert.equal(await client!.ping(), 'PONG', 'the caller-owned client still works');
      await assert.rejects(s.load('dev'), (e: unknown) => e instanceof HistoryStoreError && e.code === 'closed');
    });

    it('reports unreadable data as corrupt', async () => {
      const s = store({ client: client!, keyPrefix: 'test:bad:' });
      await client!.set('test:bad:dev', '{"version":2,"entries":[]}');
      await assert.rejects(s.load('dev'), (e: unknown) => e instanceof HistoryStoreError && e.code === 'corrupt');
      await client!.set('test:bad:dev', 'not json');
      await assert.rejects(s.load('dev'), (e: unknown) => e instanceof HistoryStoreError && e.code === 'corrupt');
    });

    it('fails fast with a typed error when Redis is not there', async () => {
      const port = await freePort(); // nothing listens here
      const s = store({ url: `redis://127.0.0.1:${port}`, operationTimeoutMs: 300 });
      await assert.rejects(s.load('dev'), (e: unknown) => e instanceof HistoryStoreError && (e.code === 'unavailable' || e.code === 'timeout'));
      await assert.rejects(s.save('dev', new ChatHistory()), (e: unknown) => e instanceof HistoryStoreError);
    });

    describe('with LlmStage', function () {
      let llmServer: FakeOpenAiServer | undefined;
      let baseUrl = '';
      const stages: LlmStage[] = [];
      before(async () => {
        // The model answers with how many earlier user messages it was shown: history made visible.
        llmServer = new FakeOpenAiServer((request) => textReply(`I saw ${userMessagesOf(request).length - 1} earlier messages.`));
        baseUrl = await llmServer.start();
      });
      after(async () => {
        for (const s of stages) s.close();
        await llmServer?.close();
      });
      const newStage = (historyStore: RedisHistoryStore | MemoryHistoryStore | undefined, sent: StageMessage[], warnings: string[] = []): LlmStage => {
        const stage = new LlmStage({
          llm: new OpenAiChatLlm({ baseUrl, model: 'test-model', timeoutMs: 5000 }),
          historyStore,
          send: (m) => sent.push(m),
          warn: (w) => warnings.push(w),
        });
        stages.push(stage);
        return stage;
      };

      it('a conversation moves between two stages ("instances") sharing Redis, and each turn is saved', async () => {
        const sentA: StageMessage[] = [];
        const sentB: StageMessage[] = [];
        const stageA = newStage(store({ url: redis!.url }), sentA);
        const stageB = newStage(store({ url: redis!.url }), sentB);
        const requestsBefore = llmServer!.requests.length;

        assert.equal((await turn(stageA, sentA, 'dev-move', 'my name is Ada'))?.payload, 'I saw 0 earlier messages.');
        assert.equal((await turn(stageB, sentB, 'dev-move', 'what is my name'))?.payload, 'I saw 1 earlier messages.');
        assert.deepEqual(userMessagesOf(llmServer!.requests[requestsBefore + 1]!), ['my name is Ada', 'what is my name']);
        // Back on A: A's memory copy is one turn old, the store has B's turn, and the store wins.
        assert.equal((await turn(stageA, sentA, 'dev-move', 'and again'))?.payload, 'I saw 2 earlier messages.');

        const saved = ChatHistory.fromJSON((await client!.get('xiaozhi:history:dev-move'))!);
        assert.deepEqual(
          saved.toMessages().map((m) => `${m.role}: ${m.content}`),
          [
            'user: my name is Ada',
            'assistant: I saw 0 earlier messages.',
            'user: what is my name',
            'assistant: I saw 1 earlier messages.',
            'user: and again',
            'assistant: I saw 2 earlier messages.',
          ],
        );
      });

      it('without a shared store each stage keeps its own history (the old behaviour)', async () => {
        const sentA: StageMessage[] = [];
        const sentB: StageMessage[] = [];
        const stageA = newStage(new MemoryHistoryStore(), sentA);
        const stageB = newStage(undefined, sentB);
        await turn(stageA, sentA, 'dev-local', 'one');
        assert.equal((await turn(stageA, sentA, 'dev-local', 'two'))?.payload, 'I saw 1 earlier messages.');
        assert.equal((await turn(stageB, sentB, 'dev-local', 'three'))?.payload, 'I saw 0 earlier messages.');
      });

      it('Redis away: the turn is answered from memory and the failure is warned', async () => {
        const port = await freePort();
        const sent: StageMessage[] = [];
        const warnings: string[] = [];
        const stage = newStage(store({ url: `redis://127.0.0.1:${port}`, operationTimeoutMs: 300 }), sent, warnings);
        assert.equal((await turn(stage, sent, 'dev-down', 'hello'))?.payload, 'I saw 0 earlier messages.');
        assert.equal((await turn(stage, sent, 'dev-down', 'hello again'))?.payload, 'I saw 1 earlier messages.', 'the memory copy carried on');
        assert.ok(warnings.some((w) => /history of dev-down not loaded/.test(w)), warnings.join('\n'));
        assert.ok(warnings.some((w) => /history of dev-down not saved/.test(w)), warnings.join('\n'));
      });
    });
  });
});
