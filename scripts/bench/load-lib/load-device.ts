/**
 * One simulated firmware-like device for the load benchmark: a plain `ws` client (a
 * DeviceSimulator per device would cost more than the hub under test) that behaves like the
 * xiaozhi firmware in auto mode (protocol.md §2.8):
 *
 *   headers + hello (features.mcp) -> answers MCP initialize / tools/list / tools/call ->
 *   `listen start auto` -> microphone frames (silence while the user "thinks", then the command,
 *   then silence until the server speaks) -> `tts start` stops the microphone -> paced Opus reply
 *   frames -> `tts stop` -> `listen start auto` again.
 *
 * It sends nothing by itself: the fleet's shared clock calls `tick()` once per 60 ms frame slot, so
 * thousands of devices cost one timer. Only timestamps and counters are kept per turn.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

/** Uplink format of xiaozhi devices (protocol.md §3.1). */
export const UPLINK_RATE_HZ = 16_000;
export const UPLINK_FRAME_MS = 60;

/** What a device says, pre-encoded once for every device. */
export interface DeviceSpeech {
  /** The spoken command as 60 ms Opus packets; the last one holds the last voiced audio. */
  speechFrames: readonly Buffer[];
  /** One 60 ms packet of digital silence (the microphone between utterances). */
  silenceFrame: Buffer;
}

/** Device life-cycle phase (what the microphone does). */
export type DevicePhase =
  /** Socket open, hello not answered yet. */
  | 'connecting'
  /** Listening, streaming silence until `speakAtMs` (the user thinks). */
  | 'thinking'
  /** Streaming the command frames. */
  | 'talking'
  /** Command sent; streaming silence until the server starts speaking. */
  | 'awaiting'
  /** Between `tts start` and `tts stop`: microphone off, reply frames arriving. */
  | 'playing'
  /** No more turns (drain) or socket closed. */
  | 'done';

/** One completed (or failed) turn. Times are performance.now() of the load-generator process. */
export interface TurnRecord {
  deviceIndex: number;
  /** First speech frame sent. */
  startedMs: number;
  /** Last voiced frame sent (end of speech as the user sees it). */
  lastVoicedMs: number;
  ttsStartMs: number;
  firstAudioMs: number;
  ttsStopMs: number;
  framesReceived: number;
  /** Gaps between consecutive reply frames after the pre-roll (ms). */
  gapsMs: number[];
  /**
   * Audible underruns: a device that plays each 60 ms frame on arrival, or right after the one
   * before, ran out of audio this many times (a late frame the pre-roll could not cover).
   */
  underruns: number;
  sentences: number;
  sttText: string | undefined;
  ok: boolean;
  error?: string;
}

/** Options shared by every device of a fleet. */
export interface LoadDeviceOptions {
  url: string;
  speech: DeviceSpeech;
  /** Reply frames sent in a burst at the start (the hub's pre-roll); their gaps are not pacing. */
  prerollFrames: number;
  /** Random think pause between `tts stop` and the next command. */
  thinkMinMs: number;
  thinkMaxMs: number;
  /** A turn whose reply has not ended this long after the last voiced frame fails. */
  turnTimeoutMs: number;
  /** Called for every finished turn. */
  onTurn: (turn: TurnRecord) => void;
}

/** Error of a device's connection, with a code. */
export class LoadDeviceError extends Error {
  constructor(
    readonly code: 'hello_timeout' | 'closed' | 'socket',
    message: string,
  ) {
    super(message);
    this.name = 'LoadDeviceError';
  }
}

/** MCP tools the device declares (a small firmware-like set). */
const DEVICE_TOOLS = [
  { name: 'self.get_device_status', description: 'Current status of the device (volume, battery, network).', inputSchema: { type: 'object', properties: {} } },
  {
    name: 'self.audio_speaker.set_volume',
    description: 'Set the speaker volume (0-100).',
    inputSchema: { type: 'object', properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['volume'] },
  },
];

/** Locally administered MAC-style device id of device `index`. */
export function loadDeviceId(index: number): string {
  const b = [0x02, 0x1d, (index >> 24) & 0xff, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * Gaps and audible underruns of one reply from its frame arrival times (ms, ascending), of which
 * the first `count` are used. Gaps leave out the pre-roll burst (its frames arrive together on
 * purpose). The underrun model is a device that plays each `frameMs` frame on arrival, or right
 * after the previous one: it runs dry when a frame arrives after everything before it has played.
 */
export function replyFrameStats(arrivalsMs: ArrayLike<number>, count: number, prerollFrames: number, frameMs: number): { gapsMs: number[]; underruns: number } {
  const gapsMs: number[] = [];
  for (let i = Math.max(1, prerollFrames); i < count; i++) gapsMs.push((arrivalsMs[i] ?? 0) - (arrivalsMs[i - 1] ?? 0));
  let underruns = 0;
  let playEndMs = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    const arrivedMs = arrivalsMs[i] ?? 0;
    // 1 ms of slack: timer granularity, not silence anyone hears.
    if (i > 0 && arrivedMs > playEndMs + 1) underruns++;
    playEndMs = Math.max(playEndMs, arrivedMs) + frameMs;
  }
  return { gapsMs, underruns };
}

/** Most reply frames recorded per turn (2 s of reply is 33; a long offline answer stays well under). */
const MAX_FRAMES_PER_TURN = 1024;

/** A simulated device. */
export class LoadDevice {
  readonly deviceId: string;
  readonly ws: WebSocket;
  sessionId = '';
  phase: DevicePhase = 'connecting';
  /** Slot of the 60 ms frame period this device sends in (0..slots-1). */
  slot = 0;
  /** Set by the fleet when it stops starting turns: the device ends its current turn and goes quiet. */
  draining = false;
  closed = false;
  framesSent = 0;
  mcpRequests = 0;
  /** Reply frame duration the hub announced in its hello (protocol.md §2.2; 60 by default). */
  downlinkFrameMs = 60;
  private speakAtMs = Number.POSITIVE_INFINITY;
  private speechIndex = 0;
  private turn: TurnRecord | undefined;
  private frameTimes = new Float64Array(MAX_FRAMES_PER_TURN);
  private helloResolve: (() => void) | undefined;
  private helloReject: ((error: Error) => void) | undefined;

  constructor(
    readonly index: number,
    private readonly options: LoadDeviceOptions,
  ) {
    this.deviceId = loadDeviceId(index);
    this.ws = new WebSocket(options.url, {
      perMessageDeflate: false,
      headers: { 'Protocol-Version': '1', 'Device-Id': this.deviceId, 'Client-Id': `load-${index}` },
    });
    this.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.ws.on('close', () => this.onClose());
    this.ws.on('error', (error) => this.helloReject?.(new LoadDeviceError('socket', error.message)));
  }

  /** Open the socket and complete the hello exchange (rejects on timeout, error or early close). */
  open(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new LoadDeviceError('hello_timeout', `no server hello within ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        this.helloResolve = undefined;
        this.helloReject = undefined;
        this.ws.terminate();
        reject(error);
      };
      this.helloReject = fail;
      this.helloResolve = () => {
        clearTimeout(timer);
        this.helloResolve = undefined;
        this.helloReject = undefined;
        resolve();
      };
      this.ws.once('open', () => {
        // The firmware's hello (protocol.md §2.1): MCP on, 16 kHz 60 ms Opus uplink.
        this.sendJson({
          type: 'hello',
          version: 1,
          features: { mcp: true },
          transport: 'websocket',
          audio_params: { format: 'opus', sample_rate: UPLINK_RATE_HZ, channels: 1, frame_duration: UPLINK_FRAME_MS },
        });
      });
    });
  }

  /** Enter listening: `listen start auto`, then think for `delayMs` before speaking. */
  startListening(nowMs: number, delayMs: number): void {
    if (this.closed || this.draining) {
      this.phase = 'done';
      return;
    }
    this.sendJson({ session_id: this.sessionId, type: 'listen', state: 'start', mode: 'auto' });
    this.phase = 'thinking';
    this.speakAtMs = nowMs + delayMs;
  }

  /**
   * One 60 ms microphone slot: send the frame the microphone would produce now. Returns true if a
   * frame was sent. Also times out a turn whose reply never ended.
   */
  tick(nowMs: number): boolean {
    switch (this.phase) {
      case 'thinking':
        if (this.draining) {
          this.phase = 'done';
          return false;
        }
        if (nowMs >= this.speakAtMs) {
          this.phase = 'talking';
          this.speechIndex = 0;
          this.turn = this.newTurn(nowMs);
          return this.tick(nowMs);
        }
        return this.sendFrame(this.options.speech.silenceFrame);
      case 'talking': {
        const frames = this.options.speech.speechFrames;
        const frame = frames[this.speechIndex++];
        if (!frame) return false;
        const sent = this.sendFrame(frame);
        if (this.speechIndex >= frames.length) {
          if (this.turn) this.turn.lastVoicedMs = nowMs;
          this.phase = 'awaiting';
        }
        return sent;
      }
      case 'awaiting':
        if (this.turnTimedOut(nowMs)) return false;
        return this.sendFrame(this.options.speech.silenceFrame);
      case 'playing':
        this.turnTimedOut(nowMs);
        return false;
      default:
        return false;
    }
  }

  /** Close the socket (terminate if the close handshake does not finish within `graceMs`). */
  close(graceMs = 2000): Promise<void> {
    this.phase = 'done';
    return new Promise<void>((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, graceMs);
      this.ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
      else this.ws.close(1000);
    });
  }

  private newTurn(nowMs: number): TurnRecord {
    return {
      deviceIndex: this.index,
      startedMs: nowMs,
      lastVoicedMs: Number.NaN,
      ttsStartMs: Number.NaN,
      firstAudioMs: Number.NaN,
      ttsStopMs: Number.NaN,
      framesReceived: 0,
      gapsMs: [],
      underruns: 0,
      sentences: 0,
      sttText: undefined,
      ok: false,
    };
  }

  private turnTimedOut(nowMs: number): boolean {
    const turn = this.turn;
    if (!turn) return false;
    // A reply may start before the command was fully sent (the VAD cut it): time from its start then.
    const fromMs = Number.isNaN(turn.lastVoicedMs) ? turn.startedMs : turn.lastVoicedMs;
    if (!(nowMs - fromMs > this.options.turnTimeoutMs)) return false;
    // Like the firmware's abort button: the server must answer with tts stop; the next listen starts a new turn.
    this.sendJson({ session_id: this.sessionId, type: 'abort' });
    this.finishTurn(nowMs, turn.framesReceived === 0 ? 'no reply audio within the turn timeout' : 'no tts stop within the turn timeout');
    return true;
  }

  private finishTurn(nowMs: number, error?: string): void {
    const turn = this.turn;
    if (!turn) return;
    this.turn = undefined;
    const stats = replyFrameStats(this.frameTimes, Math.min(turn.framesReceived, this.frameTimes.length), this.options.prerollFrames, this.downlinkFrameMs);
    turn.gapsMs = stats.gapsMs;
    turn.underruns = stats.underruns;
    if (error === undefined && turn.framesReceived === 0) error = 'tts stop without reply audio';
    turn.ok = error === undefined;
    if (error !== undefined) turn.error = error;
    this.options.onTurn(turn);
    this.startListening(nowMs, this.thinkMs());
  }

  private thinkMs(): number {
    return this.options.thinkMinMs + Math.random() * (this.options.thinkMaxMs - this.options.thinkMinMs);
  }

  private sendFrame(frame: Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(frame, { binary: true });
    this.framesSent++;
    return true;
  }

  private sendJson(message: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const now = performance.now();
    if (isBinary) {
      // The firmware drops audio outside the speaking state (protocol.md §3.3); so do we.
      const turn = this.turn;
      if (this.phase !== 'playing' || !turn) return;
      if (turn.framesReceived === 0) turn.firstAudioMs = now;
      if (turn.framesReceived < this.frameTimes.length) this.frameTimes[turn.framesReceived] = now;
      turn.framesReceived++;
      return;
    }
    let message: { type?: string; state?: string; session_id?: string; text?: string; audio_params?: { frame_duration?: unknown }; payload?: { id?: unknown; method?: string; jsonrpc?: string } };
    try {
      message = JSON.parse(data.toString('utf8')) as typeof message;
    } catch {
      return;
    }
    switch (message.type) {
      case 'hello':
        if (typeof message.session_id === 'string') this.sessionId = message.session_id;
        if (typeof message.audio_params?.frame_duration === 'number') this.downlinkFrameMs = message.audio_params.frame_duration;
        this.helloResolve?.();
        return;
      case 'mcp':
        this.answerMcp(message.payload);
        return;
      case 'stt':
        if (this.turn) this.turn.sttText = message.text;
        return;
      case 'tts':
        this.onTts(message.state, now);
        return;
      default:
        return;
    }
  }

  private onTts(state: string | undefined, now: number): void {
    const turn = this.turn;
    if (state === 'start') {
      // The microphone stops while the device speaks (auto mode, protocol.md §3.3).
      if (turn && (this.phase === 'awaiting' || this.phase === 'talking')) {
        turn.ttsStartMs = now;
        this.phase = 'playing';
      }
    } else if (state === 'sentence_start') {
      if (turn) turn.sentences++;
    } else if (state === 'stop') {
      if (turn && this.phase === 'playing') {
        turn.ttsStopMs = now;
        this.finishTurn(now);
      } else if (turn && this.phase === 'awaiting') {
        // The turn ended without speech (e.g. nothing recognised): a failed turn.
        turn.ttsStopMs = now;
        this.finishTurn(now, 'tts stop without tts start');
      }
    }
  }

  /** Answer the hub's MCP requests like the firmware (mcp_server.cc): numeric ids, no notifications. */
  private answerMcp(payload: { id?: unknown; method?: string; jsonrpc?: string } | undefined): void {
    if (!payload || payload.jsonrpc !== '2.0' || typeof payload.id !== 'number' || typeof payload.method !== 'string') return;
    if (payload.method.startsWith('notifications')) return;
    this.mcpRequests++;
    let result: object | undefined;
    if (payload.method === 'initialize') {
      result = { protocolVersion: '2024-11-05', capabilities: { tools: {} }, serverInfo: { name: 'bench-load-device', version: '1.0.0' } };
    } else if (payload.method === 'tools/list') {
      result = { tools: DEVICE_TOOLS };
    } else if (payload.method === 'tools/call') {
      result = { content: [{ type: 'text', text: 'true' }], isError: false };
    }
    const reply = result ? { jsonrpc: '2.0', id: payload.id, result } : { jsonrpc: '2.0', id: payload.id, error: { message: `Method not implemented: ${payload.method}` } };
    this.sendJson({ session_id: this.sessionId, type: 'mcp', payload: reply });
  }

  private onClose(): void {
    this.closed = true;
    this.helloReject?.(new LoadDeviceError('closed', 'socket closed before the server hello'));
    if (this.turn) this.finishTurn(performance.now(), 'socket closed');
    this.phase = 'done';
  }
}
