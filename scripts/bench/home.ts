#!/usr/bin/env node
/**
 * Home benchmark (`npm run bench:home`, issue 4):
 * 1. intent match latency over 10,000 sentences (target p99 ≤ 5 ms), against the synthetic
 *    catalogue and the live one (EmbeddedBroker + retained zigbee2mqtt bridge/devices of ~230
 *    devices + DeviceCatalogue), a device appearing live, and the round trip
 *    sentence -> zigbee2mqtt /set -> state echo;
 * 2. broker throughput and latency, the hub's EmbeddedBroker against Debian's Mosquitto in the
 *    same run (10 publishers x 10 subscribers, QoS 0 and 1, 100-byte payloads), with the ratio,
 *    plus one run into the embedded broker's in-process subscribers (the catalogue's path).
 *
 * Loopback only; each broker in its own process, clients in this one; bounded (< 4 min); writes
 * Markdown to stdout and bench-results/home.md (relative to the working directory).
 *
 *   node dist/scripts/bench/home.js [--quick] [--sentences 10000] [--qos0 100000] [--qos1 20000]
 *     [--passes 3] [--paced 2000] [--paced-rounds 2] [--paced-tick-ms 10] [--round-trips 300]
 *     [--window 50] [--mosquitto-nodelay] [--mosquitto-default-queue] [--out FILE]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fmt, machineFacts } from './lib/stats';
import { cpuSecondsOf, EmbeddedBrokerProcess, MosquittoProcess, type BrokerUnderTest } from './home-lib/broker-processes';
import { runIntentBench } from './home-lib/intent-bench';
import { runLoad, type LoadOutcome, type LoadSpec } from './home-lib/mqtt-load';
import { brokerTable, int, intentSections, ratioTable } from './home-lib/report';

const TARGET_P99_MS = 5;
/** Whole run limit: past it the bench stops, cleans up and exits non-zero. */
const DEADLINE_MS = 235_000;
/**
 * Mosquitto's max_queued_messages for the comparison. With its default (1000), Mosquitto 2.0.11
 * dropped 3-10 % of the QoS 1 deliveries of this load ("Outgoing messages are being dropped")
 * although no subscriber had more than 100-500 messages outstanding; a broker that drops
 * finishes sooner, so the comparison raises the limit (--mosquitto-default-queue keeps 1000).
 */
const MOSQUITTO_MAX_QUEUED = 10_000;
/** A further paced round starts only before this much of the run has passed. */
const PACED_ROUND_CUTOFF_MS = 165_000;

interface Config {
  sentences: number;
  roundTrips: number;
  qos0: number;
  qos1: number;
  paced: number;
  pacedTickMs: number;
  publishers: number;
  subscribers: number;
  payloadBytes: number;
  windowPerPublisher: number;
  mosquittoNoDelay: boolean;
  mosquittoDefaultQueue: boolean;
  passes: number;
  pacedRounds: number;
  out: string;
  quick: boolean;
}

function readConfig(): Config {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      sentences: { type: 'string' },
      'round-trips': { type: 'string' },
      qos0: { type: 'string' },
      qos1: { type: 'string' },
      paced: { type: 'string' },
      'paced-tick-ms': { type: 'string', default: '10' },
      window: { type: 'string', default: '50' },
      'mosquitto-nodelay': { type: 'boolean', default: false },
      'mosquitto-default-queue': { type: 'boolean', default: false },
      passes: { type: 'string' },
      'paced-rounds': { type: 'string' },
      out: { type: 'string', default: join('bench-results', 'home.md') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node dist/scripts/bench/home.js [--quick] [--sentences N] [--passes N] [--round-trips N] [--qos0 N] [--qos1 N] [--paced N] [--paced-rounds N] [--paced-tick-ms MS] [--window N] [--mosquitto-nodelay] [--mosquitto-default-queue] [--out FILE]');
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const num = (value: string | undefined, fallback: number, name: string): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  return {
    quick,
    sentences: num(values.sentences, quick ? 2000 : 10_000, 'sentences'),
    roundTrips: num(values['round-trips'], quick ? 60 : 300, 'round-trips'),
    qos0: num(values.qos0, quick ? 10_000 : 100_000, 'qos0'),
    qos1: num(values.qos1, quick ? 3000 : 20_000, 'qos1'),
    paced: num(values.paced, quick ? 1000 : 2000, 'paced'),
    pacedTickMs: num(values['paced-tick-ms'], 10, 'paced-tick-ms'),
    publishers: 10,
    subscribers: 10,
    payloadBytes: 100,
    windowPerPublisher: num(values.window, 50, 'window'),
    mosquittoNoDelay: values['mosquitto-nodelay'] ?? false,
    mosquittoDefaultQueue: values['mosquitto-default-queue'] ?? false,
    passes: num(values.passes, quick ? 2 : 3, 'passes'),
    pacedRounds: num(values['paced-rounds'], quick ? 1 : 2, 'paced-rounds'),
    out: values.out ?? join('bench-results', 'home.md'),
  };
}

function packageVersion(name: string): string {
  try {
    const file = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    // aedes' exports map hides package.json; fall back to the node_modules folder.
    try {
      return (JSON.parse(readFileSync(join(process.cwd(), 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
    } catch {
      return '?';
    }
  }
}

const log = (line: string): void => {
  process.stderr.write(`[bench:home ${fmt(performance.now() / 1000, 1)} s] ${line}\n`);
};

async function main(): Promise<void> {
  const cfg = readConfig();
  const startedAt = performance.now();
  const facts = machineFacts();
  const brokers: BrokerUnderTest[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.all(brokers.map((b) => b.stop().catch(() => undefined)));
  };
  const watchdog = setTimeout(() => {
    log(`deadline of ${DEADLINE_MS / 1000} s passed: stopping`);
    void cleanup().finally(() => process.exit(2));
  }, DEADLINE_MS);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void cleanup().finally(() => process.exit(130));
    });
  }

  const mosquittoVersion = MosquittoProcess.version();
  const header: string[] = [
    '# Home benchmark (intents, catalogue, broker)',
    '',
    `- Date: ${new Date().toISOString()}${cfg.quick ? ' (--quick: smaller counts)' : ''}`,
    `- CPU: ${facts.cpuModel}, ${facts.cores} cores; ${facts.platform}; Node ${facts.nodeVersion}`,
    `- Load average at start: ${facts.loadAverage} (other work on the machine skews CPU and timing figures)`,
    `- aedes ${packageVersion('aedes')}, mqtt.js ${packageVersion('mqtt')}, ${mosquittoVersion ?? 'mosquitto not installed'}`,
    `- Everything on 127.0.0.1. **The load generator (this process), the broker under test and the intent matcher share the same ${facts.cores} cores**; each broker runs in a process of its own and only one broker carries load at a time.`,
  ];
  const body: string[] = [];

  // --- intents ---------------------------------------------------------------------------
  const intents = await runIntentBench({ sentences: cfg.sentences, roundTrips: cfg.roundTrips, warmupSentences: Math.min(1000, cfg.sentences), passes: cfg.passes, log });
  body.push(...intentSections(intents, TARGET_P99_MS));

  // --- brokers ---------------------------------------------------------------------------
  const ours = await EmbeddedBrokerProcess.start(join(__dirname, 'home-lib', 'broker-child.js'));
  brokers.push(ours);
  let mosquitto: MosquittoProcess | undefined;
  let mosquittoNote = '';
  try {
    mosquitto = await MosquittoProcess.start({ tcpNoDelay: cfg.mosquittoNoDelay, ...(cfg.mosquittoDefaultQueue ? {} : { maxQueuedMessages: MOSQUITTO_MAX_QUEUED }) });
    brokers.push(mosquitto);
  } catch (error) {
    mosquittoNote = `Mosquitto could not run: ${(error as Error).message}. Only the embedded broker was measured.`;
    log(mosquittoNote);
  }
  // Mosquitto as shipped leaves Nagle on for its client sockets; a second instance with
  // set_tcp_nodelay true shows how much of its paced latency that is (our broker sets TCP_NODELAY).
  let mosquittoNd: MosquittoProcess | undefined;
  if (mosquitto && !cfg.mosquittoNoDelay) {
    mosquittoNd = await MosquittoProcess.start({ tcpNoDelay: true, ...(cfg.mosquittoDefaultQueue ? {} : { maxQueuedMessages: MOSQUITTO_MAX_QUEUED }) });
    brokers.push(mosquittoNd);
  }
  const url = (b: BrokerUnderTest): string => `mqtt://127.0.0.1:${b.port}`;
  const base = { publishers: cfg.publishers, subscribers: cfg.subscribers, payloadBytes: cfg.payloadBytes, windowPerPublisher: cfg.windowPerPublisher, tickMs: cfg.pacedTickMs, idleTimeoutMs: 5000 };
  const spec = (qos: 0 | 1, mode: LoadSpec['mode'], messages: number, subscriberKind: LoadSpec['subscriberKind'] = 'tcp'): LoadSpec => ({ ...base, qos, mode, messages, subscriberKind });
  const run = async (broker: BrokerUnderTest, s: LoadSpec): Promise<LoadOutcome> => {
    log(`${broker.name}: ${s.mode} QoS ${s.qos}, ${int(s.messages)} messages x ${s.subscribers} ${s.subscriberKind} subscribers`);
    const outcome = await runLoad(url(broker), s, () => cpuSecondsOf(broker.pid), broker === ours ? ours : undefined);
    log(`  ${int(outcome.deliveriesPerS)} deliveries/s, p50 ${fmt(outcome.latencyMs.p50, 2)} ms, p99 ${fmt(outcome.latencyMs.p99, 2)} ms, lost ${int(outcome.expectedDeliveries - outcome.delivered)}`);
    return outcome;
  };
  const pair = [ours, ...(mosquitto ? [mosquitto] : [])];
  const saturated: Array<{ broker: string; outcome: LoadOutcome }> = [];
  const paced: Array<{ broker: string; outcome: LoadOutcome }> = [];
  const ratios: Array<{ label: string; ours: LoadOutcome; mosquitto: LoadOutcome; paced?: boolean }> = [];
  let mosquittoDrops = 0;
  let skippedRounds = 0;
  try {
    // Warm-up (JIT, buffers, first subscriptions), not reported.
    for (const broker of pair) await run(broker, spec(0, 'saturate', Math.min(5000, cfg.qos0)));
    for (const [qos, messages] of [[0, cfg.qos0], [1, cfg.qos1]] as const) {
      const results: LoadOutcome[] = [];
      for (const broker of pair) {
        const outcome = await run(broker, spec(qos, 'saturate', messages));
        saturated.push({ broker: broker.name, outcome });
        results.push(outcome);
      }
      if (results[0] && results[1]) ratios.push({ label: `saturated, QoS ${qos}`, ours: results[0], mosquitto: results[1] });
    }
    saturated.push({ broker: ours.name, outcome: await run(ours, spec(0, 'saturate', cfg.qos0, 'internal')) });
    for (let round = 1; round <= cfg.pacedRounds; round++) {
      const tag = cfg.pacedRounds > 1 ? ` (round ${round})` : '';
      if (round > 1 && performance.now() - startedAt > PACED_ROUND_CUTOFF_MS) {
        skippedRounds = cfg.pacedRounds - round + 1;
        log(`skipping ${skippedRounds} paced round(s) to stay within the time bound`);
        break;
      }
      for (const qos of [0, 1] as const) {
        const results: LoadOutcome[] = [];
        for (const broker of [...pair, ...(mosquittoNd ? [mosquittoNd] : [])]) {
          const outcome = await run(broker, spec(qos, 'paced', cfg.paced));
          paced.push({ broker: `${broker.name}${broker === mosquittoNd ? ' (set_tcp_nodelay true)' : ''}${tag}`, outcome });
          results.push(outcome);
        }
        if (results[0] && results[1]) ratios.push({ label: `paced, QoS ${qos}${tag}`, ours: results[0], mosquitto: results[1], paced: true });
        if (results[0] && results[2]) ratios.push({ label: `paced, QoS ${qos}${tag}, vs Mosquitto with set_tcp_nodelay true`, ours: results[0], mosquitto: results[2], paced: true });
      }
      paced.push({ broker: `${ours.name}${tag}`, outcome: await run(ours, spec(0, 'paced', cfg.paced, 'internal')) });
    }
    mosquittoDrops = (mosquitto?.dropNotices ?? 0) + (mosquittoNd?.dropNotices ?? 0);
  } finally {
    await cleanup();
  }

  const pacedRate = (cfg.publishers * 1000) / cfg.pacedTickMs;
  body.push('## 4. Broker throughput and latency: embedded (aedes) vs Mosquitto');
  body.push('');
  body.push(
    `${cfg.publishers} mqtt.js publishers, each on its own topic \`bench/<run>/p<i>\`, and ${cfg.subscribers} mqtt.js subscribers on \`bench/<run>/+\`: every message goes to every subscriber (${cfg.subscribers}× fan-out), so deliveries = messages × ${cfg.subscribers}. ${cfg.payloadBytes}-byte payloads carrying the publish time (CLOCK_MONOTONIC, shared by all processes) and a sequence number; latency = publish call -> subscriber's message event, every delivery counted. Clean sessions; the clients set TCP_NODELAY on their sockets. Our broker: \`EmbeddedBroker\` (aedes ${packageVersion('aedes')}, memory persistence, hub auth/ACL hooks active, anonymous loopback) in a forked Node child. Mosquitto: \`${mosquitto?.config.split('\n').join('; ') ?? 'not run'}\` (other settings at their defaults: max_inflight_messages 20${cfg.mosquittoNoDelay ? '' : ', set_tcp_nodelay false'}${cfg.mosquittoDefaultQueue ? ', max_queued_messages 1000' : ''}). Broker CPU = user + system time of the broker process (/proc) during the run; client CPU = this process.`,
  );
  body.push('');
  body.push(
    `Both brokers${mosquittoNd ? ' (and the second Mosquitto of the set_tcp_nodelay rows)' : ''} are started before the first run and stopped after the last; runs alternate between them (ours, then Mosquitto, per QoS; the paced runs in ${cfg.pacedRounds} round${cfg.pacedRounds > 1 ? 's' : ''}), so at any moment only one broker carries load, and slow drifts of the machine's other load hit both alike. A warm-up run of ${int(Math.min(5000, cfg.qos0))} QoS 0 messages per broker is not reported.`,
  );
  if (!cfg.mosquittoDefaultQueue && mosquitto) {
    body.push(
      '',
      `max_queued_messages is raised from Mosquitto's default 1000 to ${int(MOSQUITTO_MAX_QUEUED)}: with the default, Mosquitto 2.0.11 dropped 3-10 % of the QoS 1 deliveries of this load (its log: "Outgoing messages are being dropped for client ...") although no subscriber ever had more than the window (500, and still with 100) of messages outstanding; a broker that drops finishes sooner, which would distort the comparison. \`--mosquitto-default-queue\` runs with the default.`,
    );
  }
  if (mosquitto) body.push('', `Mosquitto logged "Outgoing messages are being dropped" ${mosquittoDrops} times in this run (once per client each time a client starts dropping).`);
  if (mosquittoNote) body.push('', `**${mosquittoNote}**`);
  body.push('');
  body.push(
    ...brokerTable(
      `### Saturated: as fast as the broker drains (at most ${cfg.windowPerPublisher} messages per publisher not yet at every subscriber)`,
      saturated,
    ),
  );
  body.push('Latency in the saturated runs is mostly time spent queued behind the window, so it follows throughput; the paced runs below show the forwarding latency.');
  body.push('');
  body.push(...brokerTable(`### Paced: ${int(pacedRate)} messages/s (${int(pacedRate * cfg.subscribers)} deliveries/s offered), one message per publisher every ${cfg.pacedTickMs} ms`, paced));
  body.push(
    `Every broker carries the offered load here, so deliveries/s only reflects timer jitter and the tail; latency and CPU per delivery are the figures to compare.${mosquittoNd ? ' The "set_tcp_nodelay true" rows are a second Mosquitto with only that setting changed.' : ''}${skippedRounds > 0 ? ` ${skippedRounds} paced round(s) were skipped to keep the run within its time bound.` : ''}`,
  );
  body.push('');
  if (ratios.length > 0) {
    body.push('### Ratio ours / Mosquitto');
    body.push('');
    body.push('Throughput above 1× means ours delivers more per second (saturated runs only); latency and CPU above 1× mean ours is slower / costlier.');
    body.push('');
    body.push(...ratioTable(ratios));
    body.push(
      `How to read the throughput ratio: when the "broker % of a core" of the saturated runs stays well below 100 %, neither broker was the bottleneck; the three processes (broker, clients, other work on the machine, load average above) share ${facts.cores} cores and the scheduler sets the pace, so the ratio moves from run to run. Broker CPU per delivery is the steadier comparison of the two brokers' cost.`,
    );
    body.push('');
  }
  const internal = saturated.find((r) => r.outcome.spec.subscriberKind === 'internal')?.outcome;
  const tcpOurs = saturated.find((r) => r.broker === ours.name && r.outcome.spec.subscriberKind === 'tcp' && r.outcome.spec.qos === 0)?.outcome;
  if (internal && tcpOurs) {
    body.push(
      `In-process subscribers (the path of DeviceCatalogue, HA discovery and the hub's own handlers: \`EmbeddedBroker.subscribe\`, no TCP, no MQTT encoding) take ${int(internal.deliveriesPerS)} deliveries/s from the same TCP publishers, ${fmt(internal.deliveriesPerS / tcpOurs.deliveriesPerS, 2)}× the TCP-subscriber figure, at ${fmt((internal.brokerCpuS * 1e6) / internal.delivered, 1)} µs broker CPU per delivery (including the benchmark's own counting handler).`,
    );
    body.push('');
  }

  const footer = [`- Load average at end: ${machineFacts().loadAverage}; total run ${fmt((performance.now() - startedAt) / 1000, 1)} s`];
  const text = `${[...header, ...footer, '', ...body].join('\n').trimEnd()}\n`;
  process.stdout.write(text);
  mkdirSync(dirname(cfg.out), { recursive: true });
  writeFileSync(cfg.out, text);
  log(`written to ${cfg.out}`);
  clearTimeout(watchdog);
}

main().catch((error: Error) => {
  console.error(`bench:home failed: ${error.stack ?? error.message}`);
  process.exit(1);
});
