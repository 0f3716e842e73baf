/**
 * Flow files for the pipeline benchmark, derived from the default flow (flows/default.json, read
 * from the repo root = process.cwd()) so the benchmark runs the flow users run, plus a probe:
 * a function node that records msg.timings of the msgs it sees in global context, and an
 * `http in` endpoint (GET /api/bench/rows) that hands the records to the benchmark afterwards.
 * Nothing leaves the hub while a turn is measured.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A Node-RED flow node (loosely typed: flows are JSON). */
export type FlowNode = Record<string, unknown> & { id: string; type: string; wires?: string[][] };

/** One record of the probe. Times are epoch ms (Date.now() in the hub process). */
export interface ProbeRow {
  topic: string;
  session: string;
  turn?: number;
  device?: string;
  /** When the probe saw the msg. */
  probeMs: number;
  timings: Record<string, number>;
}

/** Path of the probe endpoint under Node-RED's httpNodeRoot (/api in the runner). */
export const PROBE_PATH = '/bench/rows';

/** Function body of the probe. `firstPerTurn`: only the first msg of `topic` per session+turn. */
function probeFunction(topic: string, firstPerTurn: boolean): string {
  return [
    'const now = Date.now();',
    `if (msg.topic !== ${JSON.stringify(topic)}) return null;`,
    firstPerTurn
      ? "const key = String(msg.session) + '/' + String(msg.turn); const seen = context.get('seen') || {}; if (seen[key]) return null; seen[key] = true; context.set('seen', seen);"
      : '',
    "const rows = global.get('benchRows') || [];",
    'rows.push({ topic: msg.topic, session: msg.session, turn: msg.turn, device: msg.device && msg.device.id, probeMs: now, timings: msg.timings || {} });',
    "global.set('benchRows', rows);",
    'return null;',
  ].join('\n');
}

/** http in -> function -> http response: GET returns the rows; ?reset=1 also clears them. */
function probeEndpoint(tab: string): FlowNode[] {
  return [
    { id: 'bench_http_in', type: 'http in', z: tab, name: 'bench rows', url: PROBE_PATH, method: 'get', upload: false, swaggerDoc: '', x: 120, y: 300, wires: [['bench_rows_fn']] },
    {
      id: 'bench_rows_fn',
      type: 'function',
      z: tab,
      name: 'rows',
      func: "msg.payload = global.get('benchRows') || [];\nif (msg.req.query.reset) global.set('benchRows', []);\nreturn msg;",
      outputs: 1,
      x: 300,
      y: 300,
      wires: [['bench_http_out']],
    },
    { id: 'bench_http_out', type: 'http response', z: tab, name: '', statusCode: '200', headers: {}, x: 460, y: 300, wires: [] },
  ];
}

function readDefaultFlow(): FlowNode[] {
  return JSON.parse(readFileSync(join(process.cwd(), 'flows', 'default.json'), 'utf8')) as FlowNode[];
}

function byId(flow: FlowNode[], id: string): FlowNode {
  const node = flow.find((n) => n.id === id);
  if (!node) throw new Error(`flows/default.json has no node "${id}" (the benchmark derives its flows from it)`);
  return node;
}

function tabOf(flow: FlowNode[]): string {
  const tab = flow.find((n) => n.type === 'tab');
  if (!tab) throw new Error('flows/default.json has no tab');
  return tab.id;
}

/** Which pipeline the benchmark runs. */
export type BenchFlowKind = 'instant' | 'offline' | 'vad-only';

/** Options of buildBenchFlow. */
export interface BenchFlowOptions {
  /** VAD silence window (the default flow's value when absent). */
  silenceMs?: number;
}

/**
 * The benchmark flow of `kind`:
 * - `instant`: the default chain with the ASR on an OpenAI-compatible transcription endpoint and
 *   the TTS on an OpenAI-compatible speech endpoint, both (and the LLM) through the LLM endpoint
 *   config node (its base URL comes from XIAOZHI_LLM_BASE_URL); probe on the TTS output (first
 *   `audio` msg of each turn).
 * - `offline`: the default flow unchanged (pocketsphinx grammar ASR, offline responder, espeak
 *   wasm) with the same probe.
 * - `vad-only`: gateway -> VAD -> probe (every `utterance`), to measure VAD capacity alone.
 */
export function buildBenchFlow(kind: BenchFlowKind, options: BenchFlowOptions = {}): { flow: FlowNode[]; silenceMs: number } {
  const flow = readDefaultFlow();
  const tab = tabOf(flow);
  const vad = byId(flow, 'vad1');
  if (options.silenceMs !== undefined) vad.silenceMs = options.silenceMs;
  const silenceMs = Number(vad.silenceMs ?? 500);
  const probe: FlowNode = {
    id: 'bench_probe',
    type: 'function',
    z: tab,
    name: 'bench probe',
    func: probeFunction(kind === 'vad-only' ? 'utterance' : 'audio', kind !== 'vad-only'),
    outputs: 1,
    x: 830,
    y: 200,
    wires: [[]],
  };
  let nodes = flow;
  if (kind === 'vad-only') {
    const keep = new Set([tab, 'srv', 'in1', 'vad1']);
    nodes = flow.filter((n) => keep.has(n.id) || (n.type === 'comment' && n.z === tab));
    vad.wires = [['bench_probe'], []];
  } else {
    const tts = byId(flow, 'tts1');
    const firstWire = tts.wires?.[0] ?? [];
    tts.wires = [[...firstWire, 'bench_probe']];
    if (kind === 'instant') {
      const asr = byId(flow, 'asr1');
      asr.provider = 'openai';
      asr.server = 'oai';
      asr.model = 'whisper-1';
      tts.provider = 'openai';
      tts.endpoint = 'oai';
      tts.model = 'tts-1';
      const llm = byId(flow, 'llm1');
      // Tools would add an MCP tools/list round trip per session; irrelevant to the latency measured.
      llm.useDeviceTools = false;
    }
  }
  return { flow: [...nodes, probe, ...probeEndpoint(tab)], silenceMs };
}
