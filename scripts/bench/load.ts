#!/usr/bin/env node
/**
 * Load benchmark (issue 5 item 4): N simulated firmware-like devices doing full spoken turns at
 * once through the real hub (the standalone runner in a child process: in -> vad -> asr -> llm ->
 * tts -> out), on 127.0.0.1 only.
 *
 *   npm run bench:load -- --devices 100 [--mode instant|offline] [--duration 30] [--nice=-10]
 *   npm run bench:load -- --find-max [--mode instant] [--steps 25,50,100,200,400,800,1500]
 *
 * Each device: firmware headers + hello (MCP on; it answers initialize / tools/list), `listen start
 * auto`, real 60 ms 16 kHz Opus microphone frames on a drift-corrected clock (silence while the user
 * thinks 2-5 s, espeak-ng "what time is it", silence until the hub answers), then the reply
 * (`tts start`, `sentence_start`, paced Opus frames, `tts stop`) and the next turn.
 *
 * Reports whether the hub held real time (turns completed, end of speech -> first audio p50/p99,
 * audible underruns; the share of reply frame gaps > 65 ms is reported and judged only with
 * --max-gap-pct; event-loop lag from the hub's /metrics), RSS per device
 * (peak RSS minus the idle hub, / N) and CPU, as a Markdown capacity table on stdout and in
 * bench-results/load.md. `--find-max` steps N up until a threshold breaks. Bounded by --budget-sec
 * (default 450 s) and a watchdog; every hub is stopped on any failure or signal.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Hub } from './pipeline-lib/hub-process';
import { startInstantProviders, toneSpeechPcm, type InstantProviders } from './pipeline-lib/instant-providers';
import { prepareSpeech } from './pipeline-lib/speech';
import { fmt, machineFactLines } from './pipeline-lib/stats';
import { openFileLimit } from './lib/stats';
import { capacityTable, criteriaText, failureLines, modeLabel, projectedDevices, referenceStep, stepsTable, writeModeSection } from './load-lib/load-report';
import { cpus } from 'node:os';
import { applyNice } from './load-lib/priority';
import { buildLoadFlow, runStep, type HoldCriteria, type LoadMode, type StepResult } from './load-lib/load-step';

const COMMAND = 'what time is it';
const INSTANT_TRANSCRIPT = 'what time is it';
const INSTANT_REPLY = ['It is a quarter past ten. ', 'Have a nice evening!'];
const REPORT_TITLE = '# Load benchmark (`npm run bench:load`)';

interface Options {
  mode: LoadMode;
  devices: number;
  findMax: boolean;
  steps: number[];
  durationMs: number;
  warmupMs: number;
  thinkMinMs: number;
  thinkMaxMs: number;
  turnTimeoutMs: number;
  criteria: HoldCriteria;
  budgetMs: number;
  out: string;
  /** Scheduling priority for this process and its hubs (--nice). */
  nice: number | undefined;
  argv: string[];
}

function usage(): never {
  console.log(
    [
      'usage: node dist/scripts/bench/load.js [--devices 100] [--mode instant|offline] [--duration 30] [--warmup 8]',
      '       [--find-max] [--steps 25,50,100,200,400,800,1500] [--think 2-5]',
      '       [--max-p99-ms 1500] [--max-underrun-pct 1] [--max-gap-pct off] [--min-ok-pct 99] [--turn-timeout-sec 15] [--budget-sec 450] [--out bench-results/load.md]',
      '       [--nice=-10]   run the load generator and the hubs ahead of other work on a shared machine (negative needs root)',
    ].join('\n'),
  );
  process.exit(0);
}

function parseOptions(): Options {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: {
      devices: { type: 'string', default: '100' },
      mode: { type: 'string', default: 'instant' },
      'find-max': { type: 'boolean', default: false },
      steps: { type: 'string', default: '25,50,100,200,400,800,1500' },
      duration: { type: 'string' },
      warmup: { type: 'string', default: '8' },
      think: { type: 'string', default: '2-5' },
      'max-p99-ms': { type: 'string', default: '1500' },
      'max-gap-pct': { type: 'string' },
      'max-underrun-pct': { type: 'string', default: '1' },
      'min-ok-pct': { type: 'string', default: '99' },
      'turn-timeout-sec': { type: 'string', default: '15' },
      'budget-sec': { type: 'string', default: '450' },
      out: { type: 'string', default: join('bench-results', 'load.md') },
      nice: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) usage();
  if (values.mode !== 'instant' && values.mode !== 'offline') {
    console.error(`bench:load: --mode must be instant or offline (got "${values.mode}")`);
    process.exit(64);
  }
  const num = (s: string | undefined, min: number, fallback: number): number => {
    const n = Number(s);
    return Number.isFinite(n) && n >= min ? n : fallback;
  };
  const [thinkMin, thinkMax] = (values.think ?? '2-5').split('-').map(Number);
  const findMax = values['find-max'] === true;
  return {
    mode: values.mode,
    devices: Math.floor(num(values.devices, 1, 100)),
    findMax,
    steps: (values.steps ?? '')
      .split(',')
      .map((s) => Math.floor(Number(s)))
      .filter((n) => n > 0)
      .sort((a, b) => a - b),
    // A find-max run has several steps inside one budget: shorter windows by default.
    durationMs: num(values.duration, 5, findMax ? 20 : 30) * 1000,
    warmupMs: num(values.warmup, 2, 8) * 1000,
    thinkMinMs: num(String(thinkMin), 0, 2) * 1000,
    thinkMaxMs: Math.max(num(String(thinkMin), 0, 2), num(String(thinkMax), 0, 5)) * 1000,
    turnTimeoutMs: num(values['turn-timeout-sec'], 2, 15) * 1000,
    criteria: {
      maxLatencyP99Ms: num(values['max-p99-ms'], 1, 1500),
      maxGapShare: values['max-gap-pct'] === undefined ? Number.POSITIVE_INFINITY : num(values['max-gap-pct'], 0, 1) / 100,
      maxUnderrunTurnShare: num(values['max-underrun-pct'], 0, 1) / 100,
      minTurnOkShare: Math.min(1, num(values['min-ok-pct'], 0, 99) / 100),
    },
    budgetMs: num(values['budget-sec'], 30, 450) * 1000,
    out: values.out ?? join('bench-results', 'load.md'),
    nice: values.nice === undefined || !Number.isFinite(Number(values.nice)) ? undefined : Math.max(-20, Math.min(19, Math.round(Number(values.nice)))),
    argv,
  };
}

/** Hubs alive right now, for the watchdog and signal handlers. */
const liveHubs = new Set<Hub>();
let providers: InstantProviders | undefined;

function killAll(): void {
  for (const hub of liveHubs) hub.kill();
}

/** Rough wall time of a step, to keep a find-max run inside its budget. */
function stepEstimateMs(opts: Options, devices: number): number {
  return 15_000 + (devices / 150) * 1000 + opts.warmupMs + opts.durationMs + 8_000 + (devices / 500) * 1000;
}

function stepLine(r: StepResult): string {
  const share = r.gaps.count > 0 ? (r.gapsOver65 / r.gaps.count) * 100 : Number.NaN;
  return (
    `bench:load: N=${r.devices} ${r.held ? 'HELD' : 'not held'}: turns ${r.turnsOk}/${r.turns}, latency p50/p99 ${fmt(r.latency.p50, 0)}/${fmt(r.latency.p99, 0)} ms, ` +
    `gaps>65 ${fmt(share, 2)} %, hub CPU ${fmt(r.hubCpuPct, 0)} %, load gen CPU ${fmt(r.loadGenCpuPct, 0)} %, RSS/device ${fmt(r.rssPerDeviceMiB, 2)} MiB` +
    (r.held ? '' : ` (${r.reasons.join('; ')})`)
  );
}

/** The cost-based projection, labelled as such. */
function projectionText(steps: StepResult[]): string {
  const ref = referenceStep(steps);
  if (!ref) return '';
  const cores = cpus().length;
  const p = projectedDevices(ref, cores);
  return (
    `**Projection (not a measurement)** from the hub's cost at N = ${ref.devices} (${fmt(ref.hubCpuMsPerDeviceSec, 2)} ms CPU per device-second on all threads, ` +
    `${fmt(ref.hubMainMsPerDeviceSec, 2)} ms on the event-loop thread): a hub with the machine to itself keeps its event loop under 70 % of one core up to ~**${fmt(p.byLoop, 0)}** devices, ` +
    `and all its threads under 70 % of ${cores} cores up to ~${fmt(p.byCores, 0)}; the smaller figure is the ceiling. ` +
    'This assumes cost grows linearly with devices, which the steps above test; it is only as good as that reference step (a starved hub does less work per device, so a step that did not hold under-estimates the cost).'
  );
}

/** The Markdown section of this run. */
function section(opts: Options, steps: StepResult[], began: number, speechMs: number, notes: string[]): string {
  const { silenceMs, prerollFrames } = buildLoadFlow(opts.mode);
  const command = `npm run bench:load -- ${opts.argv.join(' ')}`.trim();
  const fdLimit = openFileLimit();
  return [
    `## ${opts.mode === 'instant' ? 'Instant providers' : 'Offline engines'}: ${opts.findMax ? 'devices held at real time (--find-max)' : `${opts.devices} devices`}`,
    '',
    `Command: \`${command}\` — run ${new Date(began).toISOString()}, ${((Date.now() - began) / 1000).toFixed(0)} s.`,
    '',
    `Providers: ${modeLabel(opts.mode)}.`,
    '',
    capacityTable(opts.mode, steps),
    '',
    projectionText(steps),
    '',
    '### Steps',
    '',
    stepsTable(steps),
    '',
    criteriaText(opts.criteria),
    '',
    '### How it was measured',
    '',
    '- Machine:',
    ...machineFactLines().map((l) => `  ${l}`),
    `  - Open-file limit of the benchmark: ${fdLimit ? `${fdLimit.soft} / ${fdLimit.hard}` : 'unknown'}`,
    `- Hub: the standalone runner (\`dist/scripts/start.js\`, embedded Node-RED 4 with this package's nodes) as a child process, a fresh one per step, ` +
      `flow derived from flows/default.json (${opts.mode === 'instant' ? 'ASR, LLM and TTS switched to the OpenAI-compatible endpoint, device tools off in the LLM' : 'unchanged'}): ` +
      `in -> vad (Silero, silenceMs ${silenceMs}) -> asr -> llm -> tts -> out, pre-roll ${prerollFrames} frames.` +
      (opts.nice !== undefined ? ` Scheduling priority nice ${opts.nice} (see notes).` : '') +
      (opts.mode === 'instant'
        ? ` Instant providers: one loopback HTTP server in the benchmark process (/v1/audio/transcriptions returns "${INSTANT_TRANSCRIPT}", /v1/chat/completions streams "${INSTANT_REPLY.join('')}" as SSE, /v1/audio/speech returns 1 s of 24 kHz PCM per sentence, so each reply is ~2 s of audio the hub encodes to Opus).`
        : ' Offline: pocketsphinx with the grammar of the default phrases, the built-in responder (answers the time), espeak-ng (wasm) TTS with the flow\'s concurrency.'),
    `- Devices: plain \`ws\` clients in the benchmark process, firmware headers (Protocol-Version 1, Device-Id, Client-Id), hello with \`features.mcp\`, answers to MCP initialize / tools/list (2 tools), ` +
      `\`listen start auto\`; microphone frames on a drift-corrected 60 ms clock split into six 10 ms slots: silence while the user thinks (${opts.thinkMinMs / 1000}-${opts.thinkMaxMs / 1000} s, uniform), ` +
      `espeak-ng "${COMMAND}" (${fmt(speechMs, 0)} ms, 16 kHz Opus, pre-encoded once), then silence until \`tts start\` (the firmware's microphone stops while it speaks); reply frames are timed on arrival; after \`tts stop\` the next \`listen start auto\`.`,
    `- Window: first turns spread over the ${opts.warmupMs / 1000} s warm-up, then ${opts.durationMs / 1000} s measured; turns that **started** in the window count, and are followed to their end (drain, turn timeout ${opts.turnTimeoutMs / 1000} s).`,
    `- Latency = last voiced microphone frame sent -> first reply audio frame received; it includes the VAD's ${silenceMs} ms silence window, which no server can skip. The hub-side column is \`xiaozhi_stage_latency_ms{stage="speech_end_to_first_audio"}\` from /metrics (its p99 is a bucket bound).`,
    `- Gaps: between consecutive reply frames of a turn on the device, after the ${prerollFrames}-frame pre-roll burst; the hub send-side share is \`xiaozhi_downlink_frame_gap_ms\` from /metrics (window + drain). ` +
      'Audible underrun: a device model that plays each frame on arrival or right after the previous one ran dry (a gap > 65 ms is only audible when it eats the whole pre-roll). ' +
      "Event-loop lag: prom-client's p99 / max over the window.",
    '- RSS per device = (peak hub RSS in the window − RSS of the idle hub before any device connected) / devices. CPU in % of one core over the window (hub from /proc/<pid>/stat; load generator = the benchmark process with devices and instant providers; other = the rest of the machine).',
    '- The load generator shares the cores with the hub: its CPU is CPU the hub did not get, and its own delay shows in the device-side figures (see its tick lag column).',
    ...(notes.length > 0 ? ['', '### Notes', '', ...notes] : []),
    ...(failureLines(steps).length > 0 ? ['', '### Failures', '', ...failureLines(steps)] : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const began = Date.now();
  const deadline = began + opts.budgetMs;
  const steps: StepResult[] = [];
  const notes: string[] = [];
  let speechMs = Number.NaN;
  const writeReport = (): string => {
    const text = section(opts, steps, began, speechMs, notes);
    writeModeSection(opts.out, REPORT_TITLE, opts.mode, text);
    return text;
  };
  const watchdog = setTimeout(() => {
    console.error(`bench:load: the ${opts.budgetMs / 1000} s budget (+45 s grace) ran out; killing the hub`);
    killAll();
    notes.push(`- **Stopped by the watchdog** after ${opts.budgetMs / 1000 + 45} s; the steps above are complete, the rest is missing.`);
    console.log(writeReport());
    process.exit(2);
  }, opts.budgetMs + 45_000);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // stop() also removes the hub's data dir; SIGKILL after 1.5 s, and exit within 3 s whatever happens.
      const stopping = Promise.all([...liveHubs].map((hub) => hub.stop(1500)));
      void Promise.race([stopping, new Promise((r) => setTimeout(r, 3000))]).finally(() => {
        killAll();
        process.exit(130);
      });
    });
  }

  if (opts.nice !== undefined) {
    const p = applyNice(opts.nice);
    notes.push(
      p.nice !== undefined
        ? `- Priority: load generator and hubs at nice ${p.nice} (--nice)${p.autogroupPrevious !== undefined ? `, their scheduler autogroup too (was ${p.autogroupPrevious}, restored at exit)` : ''}, ahead of other work on the machine.`
        : `- Priority: nice ${opts.nice} was refused (not permitted); default priority.`,
    );
  }
  const speech = await prepareSpeech(COMMAND);
  speechMs = speech.speechMs;
  const env: Record<string, string> = {};
  if (opts.mode === 'instant') {
    providers = await startInstantProviders({ transcript: INSTANT_TRANSCRIPT, replyChunks: INSTANT_REPLY, speechPcm: toneSpeechPcm(1000) });
    Object.assign(env, { XIAOZHI_LLM_BASE_URL: providers.baseUrl, XIAOZHI_LLM_API_KEY: 'bench' });
  }
  const log = (line: string): void => console.error(line);
  const run = async (devices: number): Promise<StepResult | undefined> => {
    const need = stepEstimateMs(opts, devices);
    if (Date.now() + need > deadline) {
      notes.push(`- N = ${devices} skipped: ~${Math.round(need / 1000)} s needed, ${Math.max(0, Math.round((deadline - Date.now()) / 1000))} s left of the ${opts.budgetMs / 1000} s budget.`);
      return undefined;
    }
    log(`bench:load: ${opts.mode}, N=${devices}: starting a hub`);
    const settings = {
      mode: opts.mode,
      devices,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      thinkMinMs: opts.thinkMinMs,
      thinkMaxMs: opts.thinkMaxMs,
      turnTimeoutMs: opts.turnTimeoutMs,
      speech,
      env,
      criteria: opts.criteria,
      liveHubs,
      log,
    };
    let result = await runStep(settings);
    if (result.error !== undefined && result.connected === 0 && Date.now() + need < deadline) {
      // A hub that did not start says nothing about capacity: try once more.
      log(`bench:load: N=${devices}: ${result.error.split('\n')[0] ?? ''}; retrying once`);
      notes.push(`- N = ${devices}: first attempt failed (${result.error.split('\n')[0] ?? ''}); retried.`);
      result = await runStep(settings);
    }
    steps.push(result);
    log(stepLine(result));
    writeReport();
    return result;
  };

  try {
    if (!opts.findMax) {
      await run(opts.devices);
    } else {
      let held: number | undefined;
      let failed: number | undefined;
      for (const n of opts.steps) {
        const r = await run(n);
        if (!r) break;
        if (r.held) held = n;
        else {
          failed = n;
          break;
        }
      }
      // Narrow the edge: halve the interval between the last N that held and the first that did
      // not (to a 10 % resolution), or go down when even the first step failed.
      for (let i = 0; i < 3 && failed !== undefined; i++) {
        const low = held ?? 0;
        if (failed - low <= Math.max(10, low * 0.1)) break;
        const mid = held === undefined ? Math.max(5, Math.round(failed / 2 / 5) * 5) : Math.round((low + failed) / 2 / 10) * 10;
        if (mid <= low || mid >= failed) break;
        const r = await run(mid);
        if (!r) break;
        if (r.held) held = mid;
        else failed = mid;
      }
    }
  } finally {
    if (providers) {
      const c = providers.counts;
      notes.push(
        `- Instant provider requests served: ${c.transcriptions} transcriptions, ${c.chat} chat, ${c.speech} speech, ${c.other} other.` +
          (c.speech < c.chat
            ? ' Fewer speech requests than replies: the `xiaozhi tts` node\'s response cache (on by default) answered the repeated sentences, so most turns cost the hub a cache hit plus the Opus encoding of the cached PCM, not a synthesis request.'
            : ''),
      );
      await providers.close();
    }
  }
  clearTimeout(watchdog);
  const text = writeReport();
  console.log(`${REPORT_TITLE}\n\n${text}\n`);
  console.log(`Report written to ${opts.out}.`);
  process.exit(steps.some((s) => s.error !== undefined) ? 1 : 0);
}

main().catch((error: unknown) => {
  killAll();
  console.error(error);
  process.exit(1);
});
