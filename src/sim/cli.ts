/**
 * The `xiaozhi-sim` command: one simulated device, a few turns against a server, a readable
 * transcript, the reply audio saved as WAV. Lives in src/ (not scripts/) so tests can run it
 * in-process; scripts/sim.ts only wires it to process.argv and the exit code.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { readWav } from '../audio/wav';
import { resample } from '../audio/resample';
import { DeviceSimulator } from './device-simulator';
import type { SimJson } from './device-simulator';
import { synthesizeSpeech } from './espeak';
import { SimError } from './sim-error';
import type { SimTurn } from './sim-turn';
import type { BinaryProtocolVersion } from '../protocol/framing';

/** Exit statuses of the CLI. */
export const SIM_EXIT = {
  ok: 0,
  /** Bad arguments or unusable input audio. */
  usage: 2,
  /** OTA, WebSocket or hello failed. */
  connect: 3,
  /** A turn did not complete (no tts stop in time, channel closed). */
  turn: 4,
} as const;

/** Where the CLI writes; defaults to the process streams. */
export interface SimCliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const USAGE = `Usage: xiaozhi-sim [options]
Simulates a xiaozhi ESP32 device (firmware 2.4.2 behaviour) against a server.

Server:
  --ota <url>            OTA endpoint (default http://127.0.0.1:8000/xiaozhi/ota/)
  --ws <url>             WebSocket URL; skips the OTA check
  --token <token>        access token (default: the one the OTA answer gives)
  --device-id <mac>      device MAC (default: random)
  --protocol 1|2|3       binary protocol version (default: OTA answer, else 1)
  --query-auth           browser style: identity in the query string, no headers
  --hello-timeout <ms>   wait for the server hello (default 10000, like the firmware)
What to say (one of):
  --wav <file>           speak a WAV file
  --say "<text>"         speak text synthesised with espeak-ng
  --voice <voice>        espeak-ng voice for --say (default en-us)
  --text "<text>"        typed chat (listen detect with the text)
Turn:
  --mode manual|auto     push-to-talk (default) or auto (server VAD ends the utterance)
  --turns <n>            repeat the turn n times (default 1)
  --abort-after <ms>     send abort this long after tts start
  --timeout <ms>         wait this long for each reply to end (default 60000)
  --fast                 send audio as fast as possible instead of in real time
Output:
  --out <file>           reply audio as WAV (default reply.wav)
  -h, --help             this text
Exit status: 0 every turn completed, 2 bad usage or input, 3 cannot connect, 4 a turn failed.`;

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * Run the simulator CLI with `argv` (without node and script). Resolves with the exit status;
 * never calls process.exit.
 */
export async function runSimCli(argv: string[], io: SimCliIo = { out: (l) => console.log(l), err: (l) => console.error(l) }): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ota: { type: 'string' },
        ws: { type: 'string' },
        wav: { type: 'string' },
        say: { type: 'string' },
        voice: { type: 'string' },
        text: { type: 'string' },
        mode: { type: 'string' },
        protocol: { type: 'string' },
        out: { type: 'string' },
        'abort-after': { type: 'string' },
        turns: { type: 'string' },
        token: { type: 'string' },
        'device-id': { type: 'string' },
        'hello-timeout': { type: 'string' },
        timeout: { type: 'string' },
        'query-auth': { type: 'boolean' },
        fast: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.err(`xiaozhi-sim: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return SIM_EXIT.usage;
  }
  if (values.help) {
    io.out(USAGE);
    return SIM_EXIT.ok;
  }
  const inputs = [values.wav, values.say, values.text].filter((v) => v !== undefined);
  if (inputs.length !== 1) {
    io.err(`xiaozhi-sim: give exactly one of --wav, --say or --text\n\n${USAGE}`);
    return SIM_EXIT.usage;
  }
  const mode = values.mode ?? 'manual';
  if (mode !== 'manual' && mode !== 'auto') {
    io.err(`xiaozhi-sim: --mode must be manual or auto, got ${JSON.stringify(mode)}`);
    return SIM_EXIT.usage;
  }
  let protocolVersion: BinaryProtocolVersion | undefined;
  if (values.protocol !== undefined) {
    const v = Number(values.protocol);
    if (v !== 1 && v !== 2 && v !== 3) {
      io.err(`xiaozhi-sim: --protocol must be 1, 2 or 3, got ${JSON.stringify(values.protocol)}`);
      return SIM_EXIT.usage;
    }
    protocolVersion = v;
  }
  let turns: number;
  let abortAfterMs: number | undefined;
  let helloTimeoutMs: number;
  let replyTimeoutMs: number;
  try {
    turns = Math.max(1, positiveInt('turns', values.turns, 1));
    abortAfterMs = values['abort-after'] === undefined ? undefined : positiveInt('abort-after', values['abort-after'], 0);
    helloTimeoutMs = positiveInt('hello-timeout', values['hello-timeout'], 10000);
    replyTimeoutMs = positiveInt('timeout', values.timeout, 60000);
  } catch (err) {
    io.err(`xiaozhi-sim: ${err instanceof Error ? err.message : String(err)}`);
    return SIM_EXIT.usage;
  }

  // Prepare the audio first: a missing espeak-ng or a bad WAV should fail before any network I/O.
  let pcm: Int16Array | undefined;
  if (values.say !== undefined) {
    try {
      pcm = (await synthesizeSpeech(values.say, values.voice !== undefined ? { voice: values.voice } : {})).pcm;
    } catch (err) {
      io.err(`xiaozhi-sim: ${err instanceof Error ? err.message : String(err)}`);
      return SIM_EXIT.usage;
    }
    io.out(`synthesised ${JSON.stringify(values.say)}: ${Math.round((pcm.length * 1000) / 16000)} ms of speech`);
  } else if (values.wav !== undefined) {
    try {
      const wav = readWav(await readFile(values.wav));
      pcm = wav.sampleRateHz === 16000 ? wav.pcm : await resample(wav.pcm, wav.sampleRateHz, 16000);
    } catch (err) {
      io.err(`xiaozhi-sim: cannot read WAV ${values.wav}: ${err instanceof Error ? err.message : String(err)}`);
      return SIM_EXIT.usage;
    }
    if (pcm.length === 0) {
      io.err(`xiaozhi-sim: ${values.wav} holds no audio`);
      return SIM_EXIT.usage;
    }
    io.out(`read ${values.wav}: ${Math.round((pcm.length * 1000) / 16000)} ms of audio`);
  }

  const t0 = Date.now();
  const stamp = (): string => `[${((Date.now() - t0) / 1000).toFixed(3).padStart(7)}s]`;
  const sim = new DeviceSimulator({
    ...(values.ws !== undefined ? { wsUrl: values.ws } : { otaUrl: values.ota ?? 'http://127.0.0.1:8000/xiaozhi/ota/' }),
    ...(values.token !== undefined ? { token: values.token } : {}),
    ...(values['device-id'] !== undefined ? { deviceId: values['device-id'] } : {}),
    ...(protocolVersion !== undefined ? { protocolVersion } : {}),
    ...(values['query-auth'] ? { useQueryAuth: true } : {}),
    helloTimeoutMs,
    log: (line) => io.out(`${stamp()} ${line}`),
  });

  try {
    await sim.connect();
  } catch (err) {
    io.err(`xiaozhi-sim: ${describeError(err)}`);
    await sim.close();
    return SIM_EXIT.connect;
  }

  let status: number = SIM_EXIT.ok;
  const completed: SimTurn[] = [];
  for (let i = 1; i <= turns; i++) {
    io.out(`${stamp()} --- turn ${i}/${turns} ---`);
    let turn: SimTurn | undefined;
    let abortTimer: NodeJS.Timeout | undefined;
    const onJson = (msg: SimJson): void => {
      if (abortAfterMs === undefined || abortTimer || msg.type !== 'tts' || msg.state !== 'start') return;
      abortTimer = setTimeout(() => {
        if (sim.connected && sim.state === 'speaking') sim.abort();
      }, abortAfterMs);
    };
    sim.on('json', onJson);
    try {
      if (values.text !== undefined) {
        turn = sim.detect(values.text);
      } else {
        if (!pcm) throw new SimError('bad_audio', 'no audio to speak'); // unreachable: checked above
        turn = await sim.speakPcm(pcm, { mode, realtime: !values.fast });
      }
      await sim.waitForTurnEnd(turn, replyTimeoutMs);
      completed.push(turn);
      io.out(`${stamp()} ${summarizeTurn(turn)}`);
    } catch (err) {
      io.err(`xiaozhi-sim: turn ${i} failed: ${describeError(err)}`);
      status = err instanceof SimError && err.code === 'bad_audio' ? SIM_EXIT.usage : SIM_EXIT.turn;
      if (turn) completed.push(turn); // keep whatever audio arrived
      break;
    } finally {
      sim.off('json', onJson);
      if (abortTimer) clearTimeout(abortTimer);
    }
  }

  const withAudio = completed.filter((t) => t.audioFrames > 0);
  const outPath = values.out ?? 'reply.wav';
  if (withAudio.length > 0) {
    const saved = await sim.saveDownlinkWav(outPath, withAudio);
    io.out(`${stamp()} saved ${Math.round(saved.durationMs)} ms of reply audio (${saved.sampleRateHz} Hz) to ${outPath}`);
  } else {
    io.out(`${stamp()} no reply audio received; ${outPath} not written`);
  }
  const toolCalls = sim.mcp.calls.length;
  if (toolCalls > 0) io.out(`${stamp()} the server called ${toolCalls} device tool(s); device state now ${JSON.stringify(sim.deviceState)}`);
  await sim.close();
  return status;
}

function summarizeTurn(turn: SimTurn): string {
  const parts = [`turn complete: stt ${JSON.stringify(turn.sttText ?? '')}`];
  if (turn.emotion) parts.push(`emotion ${turn.emotion}`);
  parts.push(`${turn.sentences.length} sentence(s)`);
  parts.push(`${turn.audioFrames} audio frames = ${Math.round(turn.audioDurationMs)} ms`);
  if (turn.replyLatencyMs !== undefined) parts.push(`first audio ${Math.round(turn.replyLatencyMs)} ms after end of speech`);
  if (turn.abortedAtMs !== undefined) parts.push(`aborted, ${turn.framesAfterAbort} frame(s) after abort`);
  return parts.join(', ');
}

function describeError(err: unknown): string {
  if (err instanceof SimError) return `${err.message} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}
