/**
 * Markdown tables of `bench:home`: intent matching, the live catalogue, the round trip and the
 * broker comparison (with the ours/mosquitto ratios).
 */
import { fmt, type Percentiles } from '../lib/stats';
import type { IntentBenchResult, MatchRun } from './intent-bench';
import type { LoadOutcome } from './mqtt-load';

/** Thousands separators for counts. */
export function int(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

function ms(p: Percentiles, digits = 3): string {
  return `${fmt(p.p50, digits)} / ${fmt(p.p90, digits)} / ${fmt(p.p99, digits)} / ${fmt(p.max, digits)}`;
}

/** Intent sections (1-3). */
export function intentSections(result: IntentBenchResult, targetP99Ms: number): string[] {
  const out: string[] = [];
  const { synthetic, live, liveFacts, roundTrips } = result;
  out.push('## 1. Intent match latency');
  out.push('');
  out.push(
    `${int(synthetic.sentences)} seeded benchmark sentences (src/intents benchSentences: ~70 % commands, ~30 % chit-chat/unknown devices, half English, half Chinese), each matched by \`IntentMatcher.match(text)\` without a language hint (Chinese first for text with Han characters, then the other language), en + zh built-in intents, after a warm-up over the first ${int(Math.min(1000, synthetic.sentences))} sentences. **Wall clock** = performance.now() around each call in the first timed pass, the latency a caller sees on this machine, including time the process waits for a core taken by other work. **Best of ${synthetic.passes}** = per sentence the fastest of ${synthetic.passes} passes: the matcher's own cost. Target: p99 ≤ ${targetP99Ms} ms.`,
  );
  out.push('');
  out.push(`| catalogue | entities | compile ms | matched | missed | **wall clock p50 / p90 / p99 / max ms** | p99 ≤ ${targetP99Ms} ms | best of ${synthetic.passes} p50 / p90 / p99 / max ms | p99 ≤ ${targetP99Ms} ms |`);
  out.push('|---|---:|---:|---:|---:|---:|:-:|---:|:-:|');
  const ok = (p: Percentiles): string => (p.p99 <= targetP99Ms ? 'yes' : '**no**');
  for (const run of [synthetic, live]) {
    out.push(`| ${run.label} | ${int(run.entities)} | ${fmt(run.compileMs, 1)} | ${int(run.matched)} | ${int(run.missed)} | **${ms(run.all)}** | ${ok(run.all)} | ${ms(run.best)} | ${ok(run.best)} |`);
  }
  out.push('');
  out.push(`Best of ${synthetic.passes}, split by outcome:`);
  out.push('');
  out.push('| catalogue | hits p50 / p90 / p99 / max ms | misses p50 / p90 / p99 / max ms |');
  out.push('|---|---:|---:|');
  for (const run of [synthetic, live]) out.push(`| ${run.label} | ${ms(run.hits)} | ${ms(run.misses)} |`);
  out.push('');
  out.push('Outcome against what the sentence generator expects:');
  out.push('');
  out.push('| catalogue | right intent | wrong intent | false hits (should miss) | false misses (should match) |');
  out.push('|---|---:|---:|---:|---:|');
  for (const run of [synthetic, live]) {
    out.push(`| ${run.label} | ${int(run.correct)} | ${int(run.wrongIntent)} | ${int(run.falseHits)} | ${int(run.falseMisses)} |`);
  }
  const examples = (run: MatchRun): string => (run.examplesWrong.length > 0 ? run.examplesWrong.map((e) => `\`${e}\``).join('; ') : 'none');
  if (synthetic.examplesWrong.length + live.examplesWrong.length > 0) {
    out.push('');
    out.push(`Examples of disagreements, synthetic: ${examples(synthetic)}; live: ${examples(live)}.`);
  }
  out.push('');

  out.push('## 2. Live catalogue path');
  out.push('');
  out.push(
    `The hub's EmbeddedBroker (memory persistence, 127.0.0.1, in this process) holds a retained \`zigbee2mqtt/bridge/devices\` of ${int(liveFacts.devices)} devices (${fmt(liveFacts.devicesBytes / 1024, 0)} KiB; every actionable entity of the synthetic catalogue as a zigbee2mqtt device with real-world exposes, a climate sensor per room, the coordinator) and a \`bridge/groups\` with the scenes, published by a zigbee2mqtt-like mqtt.js peer. \`DeviceCatalogue\` reads them through the broker's in-process subscribe API; \`intentCatalogueView\` feeds the matcher (row "live" above).`,
  );
  out.push('');
  out.push('| catalogue entities | catalogue start (retained read) ms | new device: bridge/devices republished -> catalogue changed ms | matcher rebuild ms | new device matched by voice |');
  out.push('|---:|---:|---:|---:|:-:|');
  out.push(
    `| ${int(liveFacts.catalogueEntities)} | ${fmt(liveFacts.catalogueLoadMs, 1)} | ${fmt(liveFacts.newDevicePropagationMs, 1)} | ${fmt(liveFacts.rebuildMs, 2)} | ${liveFacts.newDeviceMatched ? 'yes' : '**no**'} |`,
  );
  out.push('');

  out.push('## 3. Round trip: sentence -> zigbee2mqtt /set -> state echo');
  out.push('');
  const first = roundTrips[0];
  out.push(
    `${int(first?.commands ?? 0)} commands (another seed of the benchmark sentences; scenes, state queries and volume left out since nothing echoes them), one after another: \`match\` -> one \`executeAction\` per target entity in parallel (waitForEchoMs 2000) -> the zigbee2mqtt-like peer (mqtt.js over TCP; device states as zigbee2mqtt caches them) answers each \`/set\` with the device's whole state on \`zigbee2mqtt/<name>\` -> the catalogue decodes it and the action is confirmed. Area commands ("all the lights in the kitchen") have several targets. Broker, catalogue and matcher in this process; wall clock.`,
  );
  out.push('');
  out.push('| peer | targets | commands | **p50 / p90 / p99 / max ms** | confirmed / targets |');
  out.push('|---|---|---:|---:|---:|');
  for (const rt of roundTrips) {
    out.push(`| ${rt.label} | one | ${int(rt.singleTarget.count)} | **${ms(rt.singleTarget, 2)}** | ${int(rt.confirmed)} / ${int(rt.targets)} |`);
    out.push(`| ${rt.label} | several | ${int(rt.multiTarget.count)} | **${ms(rt.multiTarget, 2)}** | |`);
    out.push(`| ${rt.label} | match part only | ${int(rt.match.count)} | ${ms(rt.match, 3)} | |`);
  }
  out.push('');
  const [nagle, noDelay] = roundTrips;
  if (nagle && noDelay && nagle.multiTarget.p50 - noDelay.multiTarget.p50 > 20) {
    out.push(
      `With several targets the peer sends several echoes back to back; with Nagle on, its second echo waits until the broker's kernel acknowledges the first, which Linux delays by up to ~40 ms when the receiver has nothing to send back: multi-target p50 ${fmt(nagle.multiTarget.p50, 1)} ms against ${fmt(noDelay.multiTarget.p50, 1)} ms with TCP_NODELAY on the peer. The hub cannot switch this off from the broker side (it already sets TCP_NODELAY on its own sockets); peers that answer in bursts should set TCP_NODELAY. A real zigbee2mqtt spaces its echoes by the Zigbee round trip of each device, which hides most of this.`,
      '',
    );
  }
  for (const rt of roundTrips) {
    if (rt.failures.length > 0) out.push(`Failures (${rt.label}): ${rt.failures.map((f) => `\`${f}\``).join('; ')}.`, '');
  }
  return out;
}

/** A row label for a run. */
function path(outcome: LoadOutcome): string {
  return outcome.spec.subscriberKind === 'internal' ? 'TCP pub -> in-process subscribers' : 'TCP pub -> TCP sub';
}

function lossText(o: LoadOutcome): string {
  const lost = o.expectedDeliveries - o.delivered;
  const text = lost === 0 ? '0' : `${int(lost)} (${fmt((100 * lost) / o.expectedDeliveries, 2)} %)`;
  return o.timedOut && lost === 0 ? `${text}, timed out` : text;
}

/** µs of broker CPU per delivery. */
function cpuPerDelivery(o: LoadOutcome): number {
  return (o.brokerCpuS * 1e6) / o.delivered;
}

/** Broker section rows for one table. */
export function brokerTable(title: string, rows: Array<{ broker: string; outcome: LoadOutcome }>): string[] {
  const out: string[] = [];
  out.push(title);
  out.push('');
  out.push('| broker | path | QoS | messages | deliveries | lost | s | **deliveries/s** | latency p50 / p99 / max ms | broker CPU s | broker % of a core | µs broker CPU / delivery | client CPU s |');
  out.push('|---|---|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { broker, outcome: o } of rows) {
    out.push(
      `| ${broker} | ${path(o)} | ${o.spec.qos} | ${int(o.published)} | ${int(o.delivered)} | ${lossText(o)} | ${fmt(o.durationS, 2)} | **${int(o.deliveriesPerS)}** | ${fmt(o.latencyMs.p50, 2)} / ${fmt(o.latencyMs.p99, 2)} / ${fmt(o.latencyMs.max, 1)} | ${fmt(o.brokerCpuS, 2)} | ${fmt((100 * o.brokerCpuS) / o.durationS, 0)} | ${fmt(cpuPerDelivery(o), 1)} | ${fmt(o.clientCpuS, 2)} |`,
    );
  }
  out.push('');
  return out;
}

/** Ratio rows ours/mosquitto for matching runs (same QoS, mode and TCP subscribers); no throughput ratio for paced runs. */
export function ratioTable(pairs: Array<{ label: string; ours: LoadOutcome; mosquitto: LoadOutcome; paced?: boolean }>): string[] {
  const out: string[] = [];
  out.push('| run | deliveries/s ours / mosquitto | latency p50 ours / mosquitto | latency p99 ours / mosquitto | broker CPU per delivery ours / mosquitto |');
  out.push('|---|---:|---:|---:|---:|');
  const r = (a: number, b: number): string => (Number.isFinite(a / b) ? `${fmt(a / b, 2)}×` : '–');
  for (const { label, ours, mosquitto, paced } of pairs) {
    const throughput = paced ? 'offered load (n/a)' : `**${r(ours.deliveriesPerS, mosquitto.deliveriesPerS)}** (${int(ours.deliveriesPerS)} / ${int(mosquitto.deliveriesPerS)})`;
    out.push(
      `| ${label} | ${throughput} | ${r(ours.latencyMs.p50, mosquitto.latencyMs.p50)} | ${r(ours.latencyMs.p99, mosquitto.latencyMs.p99)} | ${r(cpuPerDelivery(ours), cpuPerDelivery(mosquitto))} |`,
    );
  }
  out.push('');
  return out;
}
