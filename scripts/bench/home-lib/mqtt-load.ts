/**
 * The MQTT load generator: P mqtt.js publishers each on its own topic `<prefix>/p<i>`, and S
 * subscribers on `<prefix>/+` (every subscriber gets every message: P x S fan-out), either mqtt.js
 * clients in this process or the embedded broker's in-process subscribers (in its own process).
 *
 * Two shapes of run, with a fixed message count each:
 * - saturate: publish as fast as the broker drains, with at most `window` messages per publisher
 *   not yet received by every subscriber (without a bound, the clients' socket buffers would grow
 *   without limit and latency would only measure that queue);
 * - paced: every publisher sends one message per tick, a load both brokers carry, so latency is
 *   the broker's own forwarding time rather than queueing.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { percentiles, type Percentiles } from '../lib/stats';
import type { EmbeddedBrokerProcess } from './broker-processes';
import { DeliveryCounter, makePayload } from './load-payload';

/** One run's parameters. */
export interface LoadSpec {
  qos: 0 | 1;
  messages: number;
  publishers: number;
  subscribers: number;
  payloadBytes: number;
  mode: 'saturate' | 'paced';
  /** saturate: messages per publisher in flight (not yet at every subscriber). */
  windowPerPublisher: number;
  /** paced: one message per publisher every tickMs. */
  tickMs: number;
  /** Give up when no delivery arrived for this long (lost QoS 0 messages never complete). */
  idleTimeoutMs: number;
  /** Where the subscribers are: mqtt.js clients over TCP, or the embedded broker's in-process API. */
  subscriberKind: 'tcp' | 'internal';
}

/** What one run measured. */
export interface LoadOutcome {
  spec: LoadSpec;
  published: number;
  expectedDeliveries: number;
  delivered: number;
  duplicates: number;
  /** First publish until the last delivery. */
  durationS: number;
  deliveriesPerS: number;
  /** Messages per second that reached every subscriber. */
  messagesPerS: number;
  latencyMs: Percentiles;
  /** CPU seconds of the broker process during the run. */
  brokerCpuS: number;
  /** CPU seconds of this (load generator) process during the run. */
  clientCpuS: number;
  timedOut: boolean;
}

let clientCounter = 0;
let runCounter = 0;

async function connect(url: string, role: string): Promise<MqttClient> {
  clientCounter++;
  const client = await connectAsync(url, { clientId: `bench-${role}-${process.pid}-${clientCounter}`, reconnectPeriod: 0, connectTimeout: 5000, clean: true });
  // Measure the broker, not Nagle on the client side: both brokers get the same clients.
  (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
  return client;
}

/** Run one load against a broker. `cpuOfBroker` reads the broker process' CPU seconds. */
export async function runLoad(url: string, spec: LoadSpec, cpuOfBroker: () => number, embedded?: EmbeddedBrokerProcess): Promise<LoadOutcome> {
  const runId = ++runCounter + Math.floor(Math.random() * 1e6) * 1000;
  const prefix = `bench/r${runId}`;
  const filter = `${prefix}/+`;
  const publishers: MqttClient[] = [];
  const subscribers: MqttClient[] = [];
  const local = new DeliveryCounter(spec.messages, spec.subscribers, runId);
  let completed = 0;
  let sent = 0;
  let pump: () => void = () => undefined;
  let internalOpen = false;
  const onCompleted = (total: number): void => {
    completed = total;
    pump();
  };
  try {
    for (let i = 0; i < spec.publishers; i++) publishers.push(await connect(url, 'pub'));
    if (spec.subscriberKind === 'internal') {
      if (!embedded) throw new Error('internal subscribers need the embedded broker');
      await embedded.subscribeInternal(runId, filter, spec.subscribers, spec.messages, onCompleted);
      internalOpen = true;
    } else {
      for (let i = 0; i < spec.subscribers; i++) {
        const client = await connect(url, 'sub');
        client.on('message', (_topic, payload) => {
          if (local.record(payload)) onCompleted(local.completed);
        });
        await client.subscribeAsync(filter, { qos: spec.qos });
        subscribers.push(client);
      }
    }
    const topics = publishers.map((_, i) => `${prefix}/p${i}`);
    const publishOne = (): void => {
      const p = sent % spec.publishers;
      (publishers[p] as MqttClient).publish(topics[p] as string, makePayload(spec.payloadBytes, sent, runId), { qos: spec.qos });
      sent++;
    };

    const cpuBroker0 = cpuOfBroker();
    const cpuClient0 = process.cpuUsage();
    const startNs = process.hrtime.bigint();
    let ticker: NodeJS.Timeout | undefined;
    if (spec.mode === 'saturate') {
      const window = spec.windowPerPublisher * spec.publishers;
      pump = () => {
        while (sent < spec.messages && sent - completed < window) publishOne();
      };
      pump();
    } else {
      ticker = setInterval(() => {
        for (let i = 0; i < spec.publishers && sent < spec.messages; i++) publishOne();
        if (sent >= spec.messages) clearInterval(ticker);
      }, spec.tickMs);
    }

    // Wait for every message at every subscriber, or for deliveries to stop.
    let timedOut = false;
    let lastCompleted = -1;
    let lastProgressAt = Date.now();
    while (completed < spec.messages) {
      await new Promise((r) => setTimeout(r, 50));
      if (completed !== lastCompleted || (spec.mode === 'paced' && sent < spec.messages)) {
        lastCompleted = completed;
        lastProgressAt = Date.now();
      } else if (Date.now() - lastProgressAt > spec.idleTimeoutMs) {
        timedOut = true;
        break;
      }
    }
    if (ticker) clearInterval(ticker);
    const clientCpu = process.cpuUsage(cpuClient0);
    const brokerCpuS = cpuOfBroker() - cpuBroker0;

    let delivered: number;
    let duplicates: number;
    let latencyMs: Percentiles;
    let lastNs: bigint;
    if (spec.subscriberKind === 'internal' && embedded) {
      internalOpen = false;
      const ended = await embedded.endInternal();
      delivered = ended.delivered;
      duplicates = ended.duplicates;
      latencyMs = ended.latencyMs;
      lastNs = ended.lastDeliveryNs;
    } else {
      delivered = local.delivered;
      duplicates = local.duplicates;
      latencyMs = percentiles(local.latencies());
      lastNs = local.lastDeliveryNs;
    }
    const durationS = lastNs > startNs ? Number(lastNs - startNs) / 1e9 : Number.NaN;
    return {
      spec,
      published: sent,
      expectedDeliveries: sent * spec.subscribers,
      delivered,
      duplicates,
      durationS,
      deliveriesPerS: delivered / durationS,
      messagesPerS: completed / durationS,
      latencyMs,
      brokerCpuS,
      clientCpuS: (clientCpu.user + clientCpu.system) / 1e6,
      timedOut,
    };
  } finally {
    await Promise.all([...publishers, ...subscribers].map((c) => c.endAsync(true).catch(() => undefined)));
    if (internalOpen && embedded) await embedded.endInternal().catch(() => undefined);
  }
}
