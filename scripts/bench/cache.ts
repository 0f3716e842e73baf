#!/usr/bin/env node
/**
 * Response cache benchmark: what the cache saves on repeated replies (confirmations, greetings,
 * errors) and what hit ratio a realistic mix of sentences gets.
 *
 *  1. TTS miss (synthesis) vs hit (memory) latency with espeak-ng (wasm) and with an
 *     OpenAI-compatible speech server on loopback that answers after an artificial delay.
 *  2. A hit served by the shared Redis layer to a second instance (real redis-server, if installed).
 *  3. Hit ratio and mean latency over a mix of sentences, a share of them repeated, several devices at once.
 *  4. LLM answer cache: time to first text and to the end of the answer, miss vs hit, against a
 *     loopback chat server with an artificial first-token delay.
 *
 *   node dist/scripts/bench/cache.js [--delay-ms 150] [--repeated 0.3] [--requests 400] [--quick] [--out bench-results/cache.md]
 *
 * Bounded to well under a minute.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { RedisResponseCache } from '../../src/pipeline/response-cache';
import { CachingLlm } from '../../src/providers/llm/caching-llm';
import { OpenAiChatLlm } from '../../src/providers/llm/openai-chat';
import { CachingTts, pcmAudioCodec } from '../../src/providers/tts/caching-tts';
import { EspeakWasmTts, shutdownEspeakWasm } from '../../src/providers/tts/espeak-wasm';
import { OpenAiSpeechTts } from '../../src/providers/tts/openai-speech';
import type { PcmAudio, TtsProvider } from '../../src/providers/types';
import { fmt, machineFacts, percentiles } from './lib/stats';

const REDIS_SERVER = '/usr/bin/redis-server';

/** Replies a voice hub says again and again. */
const CANNED = [
  'Okay, the kitchen light is on.',
  'Okay, the kitchen light is off.',
  'Okay, the living room light is on.',
  'Okay, the living room light is off.',
  'The bedroom light is now at fifty percent.',
  'Hello! How can I help you?',
  'Good morning! How can I help you?',
  'Good evening! What can I do for you?',
  'Sorry, I did not catch that.',
  'Sorry, something went wrong. Please try again.',
  'I am busy right now, please try again in a moment.',
  'The device did not respond.',
  'Done.',
  'Okay.',
  'Timer set.',
  'Volume set to fifty.',
  'Goodbye!',
  'Sorry, I cannot reach the language model.',
  'The heating is set to twenty one degrees.',
  'The front door is locked.',
];

const TOPICS = ['the weather', 'a recipe', 'the news', 'music', 'a film', 'the garden', 'a holiday', 'history', 'football', 'a book'];

/** Deterministic PRNG (mulberry32), so every run draws the same mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sentence an LLM might say once: unique by construction. */
function uniqueSentence(n: number, random: () => number): string {
  const topic = TOPICS[Math.floor(random() * TOPICS.length)]!;
  return `Here is something about ${topic}, answer number ${n}, which you will not hear again.`;
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Loopback OpenAI-compatible speech server: raw 24 kHz PCM (40 ms per character) after `delayMs`. */
async function startSpeechServer(delayMs: number): Promise<{ server: Server; baseUrl: string; requests: () => number }> {
  let requests = 0;
  const server = createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      requests++;
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { input?: string };
      const samples = Math.max(2400, (body.input ?? '').length * 960);
      const pcm = new Int16Array(samples);
      for (let i = 0; i < samples; i++) pcm[i] = Math.round(6000 * Math.sin(i / 9));
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'audio/pcm' });
        res.end(Buffer.from(pcm.buffer));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests: () => requests };
}

/** Loopback OpenAI-compatible chat server streaming a fixed answer per question after `delayMs`. */
async function startChatServer(delayMs: number): Promise<{ server: Server; baseUrl: string; requests: () => number }> {
  let requests = 0;
  const server = createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', async () => {
      requests++;
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { messages: Array<{ content: string }> };
      const question = body.messages.at(-1)?.content ?? '';
      const words = `You asked: ${question} Here is a short answer of a few sentences. It is the same every time. That is why it can be cached.`.split(' ');
      const chunk = (delta: object, finish: string | null = null) =>
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'bench', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      await sleep(delayMs);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const [i, word] of words.entries()) {
        res.write(chunk({ content: i === 0 ? word : ` ${word}` }));
        await sleep(5); // ~200 tokens/s, a fast hosted model
      }
      res.write(chunk({}, 'stop'));
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests: () => requests };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function startRedis(dir: string): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${String(code)}`));
    });
  });
  return { proc, url: `redis://127.0.0.1:${port}` };
}

interface LatencyRow {
  engine: string;
  misses: number[];
  hits: number[];
  note: string;
}

/** Each canned phrase once (miss), then `repeats` times (hits), one request at a time. */
async function missVsHit(tts: CachingTts, phrases: string[], repeats: number): Promise<{ misses: number[]; hits: number[] }> {
  const misses: number[] = [];
  const hits: number[] = [];
  for (const phrase of phrases) {
    const start = process.hrtime.bigint();
    await tts.synthesize(phrase);
    misses.push(ms(start));
  }
  for (let r = 0; r < repeats; r++) {
    for (const phrase of phrases) {
      const start = process.hrtime.bigint();
      await tts.synthesize(phrase);
      hits.push(ms(start));
    }
  }
  return { misses, hits };
}

function espeakInstalled(): boolean {
  try {
    require.resolve('@echogarden/espeak-ng-emscripten/espeak-ng.js');
    return true;
  } catch {
    return false;
  }
}

/** `requests` sentences, a share `repeatedShare` of them drawn from the canned phrases, spoken by `devices` at once. */
async function mix(tts: TtsProvider, requests: number, repeatedShare: number, devices: number): Promise<{ latencies: number[]; texts: string[]; wallMs: number }> {
  const started = process.hrtime.bigint();
  const random = prng(42);
  const texts = Array.from({ length: requests }, (_, n) => (random() < repeatedShare ? CANNED[Math.floor(random() * CANNED.length)]! : uniqueSentence(n, random)));
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: devices }, async () => {
      while (next < texts.length) {
        const text = texts[next++]!;
        const start = process.hrtime.bigint();
        await tts.synthesize(text);
        latencies.push(ms(start));
      }
    }),
  );
  return { latencies, texts, wallMs: ms(started) };
}

function mean(values: number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'delay-ms': { type: 'string', default: '150' },
      'llm-delay-ms': { type: 'string', default: '300' },
      repeated: { type: 'string', default: '0.3' },
      requests: { type: 'string', default: '400' },
      devices: { type: 'string', default: '8' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results/cache.md' },
    },
  });
  const delayMs = Number(values['delay-ms']);
  const llmDelayMs = Number(values['llm-delay-ms']);
  const repeatedShare = Number(values.repeated);
  const requests = values.quick ? 120 : Number(values.requests);
  const devices = Number(values.devices);
  const repeats = values.quick ? 3 : 10;
  const facts = machineFacts();
  const started = Date.now();
  const lines: string[] = [];
  const say = (line = ''): void => {
    lines.push(line);
  };

  say('# Response cache benchmark');
  say();
  say(`- Date: ${new Date().toISOString()}`);
  say(`- CPU: ${facts.cpuModel}, ${facts.cores} cores; ${facts.platform}; Node ${facts.nodeVersion}`);
  say(`- Load average at start: ${facts.loadAverage} (other work on the machine skews timing figures)`);
  say(`- Command: \`npm run bench:cache${values.quick ? ' -- --quick' : ''}\` (speech server delay ${delayMs} ms, chat server first-token delay ${llmDelayMs} ms)`);
  say();

  // 1. Miss vs hit per engine.
  const rows: LatencyRow[] = [];
  if (espeakInstalled()) {
    const espeak = new EspeakWasmTts({ voice: 'en-us' });
    await espeak.warmUp?.();
    await espeak.synthesize('Warming up the engine.');
    const tts = new CachingTts(espeak, { namespace: 'espeak en-us 175', metricsLabel: false });
    const { misses, hits } = await missVsHit(tts, CANNED, repeats);
    rows.push({ engine: 'espeak-ng (wasm, worker thread)', misses, hits, note: 'engine warmed up first' });
  } else {
    say('_espeak-ng wasm (optional package) is not installed: its row is missing._');
    say();
  }
  const speech = await startSpeechServer(delayMs);
  try {
    const openai = new OpenAiSpeechTts({ baseUrl: speech.baseUrl, apiKey: 'bench', timeoutMs: 10_000 });
    const tts = new CachingTts(openai, { namespace: 'bench tts-1 alloy', metricsLabel: false });
    await openai.synthesize('Warming up the connection.');
    const { misses, hits } = await missVsHit(tts, CANNED, repeats);
    rows.push({ engine: `OpenAI-compatible speech API (loopback, +${delayMs} ms)`, misses, hits, note: 'raw 24 kHz PCM over HTTP' });

    // 2. Shared Redis layer: what a second instance pays for audio the first one made.
    if (existsSync(REDIS_SERVER)) {
      const dir = mkdtempSync(join(tmpdir(), 'xz-bench-cache-'));
      const redis = await startRedis(dir);
      try {
        const cacheA = new RedisResponseCache<PcmAudio>({ redis: redis.url, codec: pcmAudioCodec, keyPrefix: 'bench:tts:' });
        const cacheB = new RedisResponseCache<PcmAudio>({ redis: redis.url, codec: pcmAudioCodec, keyPrefix: 'bench:tts:' });
        await Promise.all([cacheA.ready(), cacheB.ready()]);
        const ttsA = new CachingTts(openai, { cache: cacheA, namespace: 'bench tts-1 alloy', metricsLabel: false });
        const ttsB = new CachingTts(openai, { cache: cacheB, namespace: 'bench tts-1 alloy', metricsLabel: false });
        const before = speech.requests();
        const misses: number[] = [];
        for (const phrase of CANNED) {
          const start = process.hrtime.bigint();
          await ttsA.synthesize(phrase);
          misses.push(ms(start));
        }
        await sleep(100); // the Redis writes are not awaited by synthesize()
        const l2: number[] = [];
        for (const phrase of CANNED) {
          const start = process.hrtime.bigint();
          await ttsB.synthesize(phrase);
          l2.push(ms(start));
        }
        const extra = speech.requests() - before - CANNED.length;
        rows.push({
          engine: 'same API, hit from Redis on a 2nd instance',
          misses,
          hits: l2,
          note: `first lookup on instance B (L2 ${cacheB.stats().l2Hits}/${CANNED.length}, ${extra} extra syntheses)`,
        });
        await Promise.all([cacheA.close(), cacheB.close()]);
      } finally {
        redis.proc.kill('SIGTERM');
        await new Promise((resolve) => redis.proc.once('exit', resolve));
        rmSync(dir, { recursive: true, force: true });
      }
    }

    say('## 1. TTS: first time (miss, synthesized) vs repeat (hit, from the cache)');
    say();
    say(`${CANNED.length} canned replies (confirmations, greetings, errors), each synthesized once then asked for ${repeats} more times, one request at a time. Latency of \`synthesize()\` as the TTS stage sees it (a hit returns a copy of the PCM).`);
    say();
    say('| engine | miss p50 ms | miss p99 ms | **hit p50 ms** | **hit p99 ms** | hits | saved per hit (p50) ms | note |');
    say('|---|---:|---:|---:|---:|---:|---:|---|');
    for (const row of rows) {
      const m = percentiles(row.misses);
      const h = percentiles(row.hits);
      say(`| ${row.engine} | ${fmt(m.p50)} | ${fmt(m.p99)} | **${fmt(h.p50, 3)}** | **${fmt(h.p99, 3)}** | ${h.count} | ${fmt(m.p50 - h.p50)} | ${row.note} |`);
    }
    say();

    // 3. Realistic mix.
    // Baseline: the same mix straight to the API.
    const baseline = await mix(openai, requests, repeatedShare, devices);
    const mixTts = new CachingTts(openai, { namespace: 'bench mix', metricsLabel: false });
    const before = speech.requests();
    const { latencies, texts, wallMs: mixWallMs } = await mix(mixTts, requests, repeatedShare, devices);
    const syntheses = speech.requests() - before;
    const stats = mixTts.stats();
    const distinct = new Set(texts).size;
    const canned = texts.filter((t) => CANNED.includes(t)).length;
    say(`## 2. Hit ratio over a mix (${Math.round(repeatedShare * 100)} % repeated phrases)`);
    say();
    say(`${requests} sentences, ${canned} of them (${fmt((100 * canned) / requests)} %) drawn from the ${CANNED.length} canned replies, the rest unique LLM-like sentences; ${devices} devices asking at once through one CachingTts in front of the loopback speech API (+${delayMs} ms). Seeded, so every run draws the same mix.`);
    say();
    say('| run | sentences | distinct | syntheses made | hits | joined (shared a running synthesis) | **hit ratio** | mean latency ms | p50 / p90 / p99 ms | wall s |');
    say('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const p = percentiles(latencies);
    const b = percentiles(baseline.latencies);
    say(`| without cache | ${requests} | ${distinct} | ${requests} | – | – | – | ${fmt(mean(baseline.latencies))} | ${fmt(b.p50)} / ${fmt(b.p90)} / ${fmt(b.p99)} | ${fmt(baseline.wallMs / 1000, 2)} |`);
    say(`| **with CachingTts** | ${requests} | ${distinct} | ${syntheses} | ${stats.hits} | ${stats.joined} | **${fmt(100 * stats.hitRatio)} %** | ${fmt(mean(latencies))} | ${fmt(p.p50)} / ${fmt(p.p90)} / ${fmt(p.p99)} | ${fmt(mixWallMs / 1000, 2)} |`);
    say();
    say(`The best possible hit ratio of this mix is ${fmt((100 * (requests - distinct)) / requests)} % (every sentence but the first of each distinct one is a hit). The p50 hardly moves since most sentences are unique; the mean and the synthesis count (API cost) fall by the hit ratio.`);
    say();
  } finally {
    await closeServer(speech.server);
  }

  // 4. LLM answers.
  const chat = await startChatServer(llmDelayMs);
  try {
    const llm = new CachingLlm(new OpenAiChatLlm({ baseUrl: chat.baseUrl, model: 'bench', apiKey: 'bench' }), { namespace: 'bench', metricsLabel: false });
    const questions = ['What can you do?', 'Who are you?', 'What time do you open?', 'How do I reset you?', 'What is your name?'];
    const llmRepeats = values.quick ? 2 : 5;
    const first: { ttft: number; total: number }[] = [];
    const again: { ttft: number; total: number }[] = [];
    for (let r = 0; r <= llmRepeats; r++) {
      for (const q of questions) {
        const start = process.hrtime.bigint();
        let ttft = Number.NaN;
        for await (const event of llm.chat({ messages: [{ role: 'system', content: 'You are Xiaozhi.' }, { role: 'user', content: q }] })) {
          if (event.type === 'text' && Number.isNaN(ttft)) ttft = ms(start);
        }
        (r === 0 ? first : again).push({ ttft, total: ms(start) });
      }
    }
    const row = (label: string, sample: { ttft: number; total: number }[]): string => {
      const t = percentiles(sample.map((s) => s.ttft));
      const d = percentiles(sample.map((s) => s.total));
      return `| ${label} | ${t.count} | ${fmt(t.p50, 2)} | ${fmt(t.p99, 2)} | ${fmt(d.p50, 2)} | ${fmt(d.p99, 2)} |`;
    };
    say('## 3. LLM answer cache (identical first-turn prompts)');
    say();
    say(`${questions.length} FAQ prompts without history against a loopback OpenAI-compatible chat server (first token after ${llmDelayMs} ms, then ~200 tokens/s), each asked once then ${llmRepeats} more times. Requests the server saw: ${chat.requests()} for ${questions.length * (llmRepeats + 1)} asks.`);
    say();
    say('| | asks | first text p50 ms | first text p99 ms | whole answer p50 ms | whole answer p99 ms |');
    say('|---|---:|---:|---:|---:|---:|');
    say(row('miss (model streams)', first));
    say(row('**hit (replayed)**', again));
    say();
  } finally {
    await closeServer(chat.server);
  }

  await shutdownEspeakWasm();
  say(`Load average at end: ${machineFacts().loadAverage}; total run ${fmt((Date.now() - started) / 1000)} s.`);
  const report = lines.join('\n') + '\n';
  process.stdout.write(report);
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, report);
  console.error(`written to ${values.out}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
