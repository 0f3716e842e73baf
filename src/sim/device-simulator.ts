/**
 * A software xiaozhi device: speaks the WebSocket JSON + Opus protocol the way the firmware
 * (78/xiaozhi-esp32 v2.4.2) does, so the hub can be tried without hardware and tests can drive a
 * server end to end. protocol.md §1 (handshake), §2 (messages, MCP), §3 (framing), §5 (OTA).
 */
import { EventEmitter } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { OpusFrameDecoder, OpusFrameEncoder } from '../audio/opus';
import { splitFrames } from '../audio/frames';
import { concatInt16 } from '../audio/pcm';
import { readWav, writeWav } from '../audio/wav';
import { resample } from '../audio/resample';
import { decodeAudioFrame, encodeAudioFrame } from '../protocol/framing';
import type { BinaryProtocolVersion } from '../protocol/framing';
import { requestOta } from './ota-client';
import type { OtaResponse } from './ota-client';
import { SimError } from './sim-error';
import { SimMcpServer } from './sim-mcp-server';
import { createDefaultSimTools, defaultSimDeviceState } from './sim-tools';
import type { SimDeviceState, SimTool } from './sim-tools';
import { SimTurn } from './sim-turn';
import type { SimTurnTrigger } from './sim-turn';

/** Device states the simulator models (the FW states that matter on the wire). */
export type SimState = 'idle' | 'connecting' | 'listening' | 'speaking';

/** Listening modes (§2.3). */
export type SimListenMode = 'auto' | 'manual' | 'realtime';

/** A JSON message as received or sent. */
export type SimJson = Record<string, unknown>;

/** Options of DeviceSimulator. */
export interface DeviceSimulatorOptions {
  /** OTA endpoint; `connect()` asks it for the WebSocket URL when `wsUrl` is not given. */
  otaUrl?: string;
  /** WebSocket URL to use directly (skips the OTA check). */
  wsUrl?: string;
  /** Wi-Fi MAC, lower case with colons; default a random locally administered MAC. */
  deviceId?: string;
  /** Board UUID; default a random UUID v4. */
  clientId?: string;
  /** Access token; overrides the OTA `websocket.token`. Sent as `Bearer <token>` unless it has a space. */
  token?: string;
  /** Binary protocol version; overrides the OTA `websocket.version`; default 1. */
  protocolVersion?: BinaryProtocolVersion;
  /** Browser style: identity and token in the query string, no request headers (§1.3). */
  useQueryAuth?: boolean;
  /** Tools offered over MCP; default: device status, speaker volume, light on/off acting on `deviceState`. */
  tools?: SimTool[];
  /** How long to wait for the server hello (FW: 10 s). */
  helloTimeoutMs?: number;
  /** Close the channel after this long with nothing received (FW: 120 s). 0 disables. */
  channelTimeoutMs?: number;
  /** Board name for User-Agent and MCP serverInfo; default `sim-board`. */
  boardName?: string;
  /** Firmware version reported; default `2.4.2`. */
  firmwareVersion?: string;
  /** Accept-Language / OTA `language`; default `zh-CN`. */
  language?: string;
  /** Announce `features.aec` in hello (server-side AEC builds). */
  aec?: boolean;
  /** tools/list page budget in bytes (FW: about 8000); small values force paging. */
  mcpPageBudgetBytes?: number;
  /** Receives one human-readable line per protocol event. */
  log?: (line: string) => void;
}

/** What the server hello told the device (§2.2). */
export interface ServerHelloInfo {
  sessionId?: string;
  /** Downlink Opus rate (default 24000 when absent). */
  sampleRateHz: number;
  /** Downlink frame length (default 60 when absent). */
  frameMs: number;
  version?: number;
  raw: SimJson;
}

/** One thing received on the channel. `atMs` is ms since the simulator was created. */
export interface SimReceived {
  atMs: number;
  /** A parsed JSON text message. */
  json?: SimJson;
  /** A text frame that was not a JSON object (e.g. an auth failure notice). */
  text?: string;
  /** Size of a binary frame as received (framing header included). */
  audioBytes?: number;
  /** True when the frame was discarded because the device was not speaking. */
  dropped?: boolean;
}

/** One thing sent on the channel. */
export interface SimSent {
  atMs: number;
  json?: SimJson;
  /** Size of a binary frame as sent (framing header included). */
  audioBytes?: number;
  /** Uplink timestamp written into v2 headers (also tracked for v1/v3). */
  timestampMs?: number;
}

/** Options of sendFrames. */
export interface SendFramesOptions {
  /** Pace at one frame per `frameMs` on an absolute schedule (drift does not accumulate). */
  realtime?: boolean;
  /** Duration of each frame; default 60. */
  frameMs?: number;
}

/** What sendFrames did. */
export interface SendFramesResult {
  /** Frames actually sent. */
  sent: number;
  /** Uplink timestamps given to the sent frames. */
  timestampsMs: number[];
  /** True when sending stopped because the device left listening (FW turns the mic off). */
  stoppedEarly: boolean;
}

/** Options of speakPcm / speakWav. */
export interface SpeakOptions {
  /** Real-time pacing like a microphone (default true). */
  realtime?: boolean;
  /** manual: listen start manual, frames, listen stop. auto: listen start auto, frames, trailing silence. */
  mode?: 'manual' | 'auto';
  /** Auto mode: silence sent after the speech so the server's VAD sees the end (default 1500). */
  trailingSilenceMs?: number;
}

/** Typed events of DeviceSimulator. */
export type DeviceSimulatorEvents = {
  /** Every JSON message received, after the simulator acted on it. */
  json: [msg: SimJson];
  /** A downlink frame accepted while speaking: the Opus packet and its decoded PCM. */
  audio: [packet: Buffer, pcm: Int16Array];
  /** A downlink frame discarded because the device was not speaking. */
  'audio-dropped': [packet: Buffer];
  state: [state: SimState, previous: SimState];
  /** A `tts stop` arrived; the turn it ended. */
  'tts-stop': [turn: SimTurn];
  closed: [code: number, reason: string];
};

const UPLINK_RATE_HZ = 16000;
const UPLINK_FRAME_MS = 60;
const DEFAULT_DOWNLINK_RATE_HZ = 24000;
const DEFAULT_DOWNLINK_FRAME_MS = 60;

interface Waiter {
  match: (msg: SimJson) => boolean;
  resolve: (msg: SimJson) => void;
  reject: (err: Error) => void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A random unicast, locally administered MAC in the FW's lower-case form. */
function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = ((bytes[0] ?? 0) & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Build a waitFor matcher from a message type (`"stt"`) or type:state (`"tts:stop"`). */
function toMatcher(match: string | ((msg: SimJson) => boolean)): (msg: SimJson) => boolean {
  if (typeof match === 'function') return match;
  const [type, state] = match.split(':');
  return (msg) => msg.type === type && (state === undefined || msg.state === state);
}

/**
 * A simulated xiaozhi device. Create, `connect()`, then drive it with `listen`, `speakPcm`,
 * `detect`, `abort`; inspect `turns`, `received`, `sent`; `close()` when done.
 *
 * Like the firmware: downlink audio is kept only in the speaking state (after `tts start`);
 * `tts stop` returns to idle (manual mode) or to listening (auto: a new `listen start` is sent);
 * MCP requests from the server are answered by the simulated device's tools.
 */
export class DeviceSimulator extends EventEmitter<DeviceSimulatorEvents> {
  readonly deviceId: string;
  readonly clientId: string;
  /** State the default tools act on (volume, light...). */
  readonly deviceState: SimDeviceState;
  /** The device's MCP server (its `calls` list every tool call). */
  readonly mcp: SimMcpServer;
  /** Everything received, in order. */
  readonly received: SimReceived[] = [];
  /** Everything sent, in order. */
  readonly sent: SimSent[] = [];
  /** Every turn, in order. */
  readonly turns: SimTurn[] = [];
  /** The last OTA answer. */
  ota?: OtaResponse;
  /** The server hello of the current connection. */
  serverHello?: ServerHelloInfo;
  /** Session id from the server hello; put in every message sent afterwards (FW). */
  sessionId?: string;
  /** Listening mode of the last listen start (FW default: auto). */
  listenMode: SimListenMode = 'auto';

  private readonly opts: DeviceSimulatorOptions;
  private readonly t0 = performance.now();
  private ws?: WebSocket;
  private stateValue: SimState = 'idle';
  private version: BinaryProtocolVersion = 1;
  private decoder?: OpusFrameDecoder;
  private encoder?: OpusFrameEncoder;
  private uplinkClockMs = 0;
  private waiters = new Set<Waiter>();
  private channelTimer?: NodeJS.Timeout;
  private closedPromise?: Promise<void>;
  private readonly log: (line: string) => void;

  constructor(opts: DeviceSimulatorOptions = {}) {
    super();
    this.opts = opts;
    this.deviceId = (opts.deviceId ?? randomMac()).toLowerCase();
    this.clientId = opts.clientId ?? randomUUID();
    this.deviceState = defaultSimDeviceState();
    this.mcp = new SimMcpServer(opts.tools ?? createDefaultSimTools(this.deviceState), {
      boardName: this.boardName,
      firmwareVersion: this.firmwareVersion,
      ...(opts.mcpPageBudgetBytes !== undefined ? { pageBudgetBytes: opts.mcpPageBudgetBytes } : {}),
    });
    this.log = opts.log ?? (() => undefined);
  }

  private get boardName(): string {
    return this.opts.boardName ?? 'sim-board';
  }

  private get firmwareVersion(): string {
    return this.opts.firmwareVersion ?? '2.4.2';
  }

  /** Current device state. */
  get state(): SimState {
    return this.stateValue;
  }

  /** Binary protocol version in use (after connect). */
  get protocolVersion(): BinaryProtocolVersion {
    return this.version;
  }

  /** True while the WebSocket is open. */
  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** The latest turn, if any. */
  get currentTurn(): SimTurn | undefined {
    return this.turns[this.turns.length - 1];
  }

  /** ms since the simulator was created (the clock of every `atMs`). */
  nowMs(): number {
    return performance.now() - this.t0;
  }

  /**
   * The firmware's OTA check (§5.1). Stores the answer; its `websocket` section supplies the URL,
   * token and binary protocol version for `connect()` unless options override them.
   */
  async checkOta(): Promise<OtaResponse> {
    const otaUrl = this.opts.otaUrl;
    if (!otaUrl) throw new SimError('no_server_url', 'no OTA URL configured');
    this.log(`> OTA POST ${otaUrl} (device ${this.deviceId}, client ${this.clientId})`);
    const ota = await requestOta(otaUrl, {
      deviceId: this.deviceId,
      clientId: this.clientId,
      boardName: this.boardName,
      firmwareVersion: this.firmwareVersion,
      language: this.opts.language ?? 'zh-CN',
    });
    this.ota = ota;
    const ws = ota.websocket;
    this.log(
      `< OTA websocket ${ws?.url ?? '(none)'}${ws?.token ? ' token set' : ''}${ws?.version !== undefined ? ` version ${String(ws.version)}` : ''}` +
        `${ota.mqtt ? ' (mqtt section present: a real device would use MQTT+UDP)' : ''}${ota.activation ? ` activation code ${String(ota.activation.code)}` : ''}`,
    );
    return ota;
  }

  /**
   * Open the audio channel like FW `OpenAudioChannel`: headers (or query string), client hello,
   * then wait for a server hello with transport "websocket".
   * @throws SimError `no_server_url`, `ota_*`, `connect_failed`, `hello_timeout`, `closed`
   */
  async connect(): Promise<ServerHelloInfo> {
    if (this.ws) throw new SimError('connect_failed', 'already connected; close() first');
    if (!this.opts.wsUrl && !this.ota?.websocket && this.opts.otaUrl) await this.checkOta();
    const urlText = this.opts.wsUrl ?? this.ota?.websocket?.url;
    if (!urlText) {
      throw new SimError('no_server_url', this.ota ? 'the OTA answer has no websocket.url (a WebSocket-only device cannot continue)' : 'no wsUrl or otaUrl given');
    }
    const otaVersion = Number(this.ota?.websocket?.version);
    this.version = this.opts.protocolVersion ?? (otaVersion === 2 || otaVersion === 3 ? otaVersion : 1);
    const rawToken = this.opts.token ?? (typeof this.ota?.websocket?.token === 'string' ? this.ota.websocket.token : '');
    // FW: a token without a space gets "Bearer " in front; one with a space is sent as is.
    const authorization = rawToken ? (rawToken.includes(' ') ? rawToken : `Bearer ${rawToken}`) : undefined;

    const url = new URL(urlText);
    const headers: Record<string, string> = {};
    if (this.opts.useQueryAuth) {
      url.searchParams.set('device-id', this.deviceId);
      url.searchParams.set('client-id', this.clientId);
      if (authorization) url.searchParams.set('authorization', authorization);
    } else {
      if (authorization) headers.Authorization = authorization;
      headers['Protocol-Version'] = String(this.version);
      headers['Device-Id'] = this.deviceId;
      headers['Client-Id'] = this.clientId;
    }
    const helloTimeoutMs = this.opts.helloTimeoutMs ?? 10000;
    this.setState('connecting');
    this.serverHello = undefined;
    this.sessionId = undefined;
    this.log(`> connect ${url.toString()} (protocol v${this.version}${this.opts.useQueryAuth ? ', query auth' : ''})`);

    const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: helloTimeoutMs });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    this.closedPromise = new Promise<void>((resolve) => {
      ws.once('close', (code, reasonBuf) => {
        const reason = reasonBuf.toString();
        this.onClosed(ws, code, reason);
        resolve();
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => {
          cleanup();
          reject(new SimError('connect_failed', `cannot open ${url.toString()}: ${err.message}`, { cause: err }));
        };
        const onUnexpected = (_req: unknown, res: { statusCode?: number; statusMessage?: string }): void => {
          cleanup();
          ws.terminate();
          reject(new SimError('connect_failed', `server refused the WebSocket upgrade: HTTP ${res.statusCode ?? '?'} ${res.statusMessage ?? ''}`.trim()));
        };
        const onOpen = (): void => {
          cleanup();
          resolve();
        };
        const cleanup = (): void => {
          ws.off('error', onError);
          ws.off('unexpected-response', onUnexpected);
          ws.off('open', onOpen);
        };
        ws.on('error', onError);
        ws.on('unexpected-response', onUnexpected);
        ws.on('open', onOpen);
      });
    } catch (err) {
      this.ws = undefined;
      this.setState('idle');
      throw err;
    }
    ws.on('error', (err) => this.log(`! socket error: ${err.message}`));
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.touchChannel();
      if (isBinary) this.onBinary(buf);
      else this.onText(buf.toString('utf8'));
    });
    this.touchChannel();

    const helloWait = this.waitFor((m) => m.type === 'hello' && m.transport === 'websocket', helloTimeoutMs);
    const hello: SimJson = {
      type: 'hello',
      version: this.version,
      features: { mcp: true, ...(this.opts.aec ? { aec: true } : {}), glyph_push: false },
      transport: 'websocket',
      audio_params: { format: 'opus', sample_rate: UPLINK_RATE_HZ, channels: 1, frame_duration: UPLINK_FRAME_MS },
    };
    this.sendJson(hello, false);
    try {
      await helloWait;
    } catch (err) {
      // FW reports SERVER_TIMEOUT and goes idle; a socket that stays open would leak.
      if (err instanceof SimError && err.code === 'wait_timeout') {
        this.ws?.terminate();
        await this.closedPromise;
        throw new SimError('hello_timeout', `no server hello with transport "websocket" within ${helloTimeoutMs} ms`);
      }
      throw err;
    }
    this.setState('idle');
    const info = this.serverHello;
    if (!info) throw new SimError('closed', 'server hello lost'); // unreachable: onText stored it
    return info;
  }

  /** Send `listen start` in `mode` and enter listening (a new turn). */
  listen(mode: SimListenMode = 'auto'): SimTurn {
    this.sendJson({ type: 'listen', state: 'start', mode });
    this.listenMode = mode;
    const turn = this.newTurn('listen');
    turn.listenMode = mode;
    this.setState('listening');
    return turn;
  }

  /**
   * Send `listen stop` (FW: button released in manual mode) and go idle. Like FW, only from the
   * listening state; returns false (nothing sent) otherwise.
   */
  stopListening(): boolean {
    if (this.stateValue !== 'listening') {
      this.log(`  (listen stop not sent: state is ${this.stateValue})`);
      return false;
    }
    this.sendJson({ type: 'listen', state: 'stop' });
    const turn = this.currentTurn;
    if (turn) turn.speechEndAtMs = this.nowMs();
    this.setState('idle');
    return true;
  }

  /** Send `listen detect` with `text`: a wake phrase, or typed chat the server answers as an utterance. */
  detect(text: string): SimTurn {
    this.sendJson({ type: 'listen', state: 'detect', text });
    const turn = this.newTurn('detect');
    turn.speechEndAtMs = this.nowMs();
    return turn;
  }

  /** Send `abort` (FW: button while speaking, or reason `wake_word_detected`). State stays until `tts stop`. */
  abort(reason?: string): void {
    this.sendJson(reason ? { type: 'abort', reason } : { type: 'abort' });
    const turn = this.currentTurn;
    if (turn && turn.abortedAtMs === undefined) turn.abortedAtMs = this.nowMs();
  }

  /**
   * Send Opus packets as binary frames in the connection's framing (v1/v2/v3). With `realtime`,
   * frame i leaves at start + i*frameMs, so a late timer does not push later frames back. If the
   * device was listening and leaves that state (server sent `tts start`) outside realtime mode,
   * sending stops, as the FW mic does.
   */
  async sendFrames(frames: Buffer[], opts: SendFramesOptions = {}): Promise<SendFramesResult> {
    const frameMs = opts.frameMs ?? UPLINK_FRAME_MS;
    const result: SendFramesResult = { sent: 0, timestampsMs: [], stoppedEarly: false };
    const wasListening = this.stateValue === 'listening';
    const startMs = performance.now();
    for (let i = 0; i < frames.length; i++) {
      if (opts.realtime) {
        const waitMs = startMs + i * frameMs - performance.now();
        if (waitMs > 0) await sleep(waitMs);
      } else if (i > 0 && i % 32 === 0) {
        // Let incoming messages (tts start...) be processed during a burst.
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (wasListening && this.stateValue !== 'listening' && this.listenMode !== 'realtime') {
        result.stoppedEarly = true;
        break;
      }
      const ws = this.openSocket();
      const frame = frames[i];
      if (!frame) continue;
      const timestampMs = this.uplinkClockMs;
      this.uplinkClockMs += frameMs;
      const wire = encodeAudioFrame(this.version, frame, timestampMs);
      ws.send(wire, { binary: true });
      this.sent.push({ atMs: this.nowMs(), audioBytes: wire.length, timestampMs });
      result.sent++;
      result.timestampsMs.push(timestampMs);
      const turn = this.currentTurn;
      if (turn && !turn.completed) turn.uplinkFrames++;
    }
    return result;
  }

  /** Encode 16 kHz mono PCM into 60 ms Opus packets (last frame zero-padded). */
  encodeUplink(pcm16k: Int16Array): Buffer[] {
    this.encoder ??= new OpusFrameEncoder({ sampleRateHz: UPLINK_RATE_HZ, frameMs: UPLINK_FRAME_MS });
    const encoder = this.encoder;
    return splitFrames(pcm16k, encoder.frameSamples).map((f) => encoder.encode(f));
  }

  /**
   * Say `pcm16k` like a user talking to the device. manual: listen start manual, speech, listen
   * stop. auto: listen start auto, speech, then silence until `trailingSilenceMs` has passed or
   * the server starts speaking. Resolves with the turn once the audio is sent; use
   * `waitForTurnEnd(turn)` for the reply.
   */
  async speakPcm(pcm16k: Int16Array, opts: SpeakOptions = {}): Promise<SimTurn> {
    if (pcm16k.length === 0) throw new SimError('bad_audio', 'no audio to speak');
    const mode = opts.mode ?? 'manual';
    const realtime = opts.realtime ?? true;
    const frames = this.encodeUplink(pcm16k);
    // Auto mode after a reply: FW already re-sent listen start and the mic is on; just talk.
    const open = this.currentTurn;
    const reuse = mode === 'auto' && this.stateValue === 'listening' && this.listenMode === 'auto' && open?.trigger === 'listen' && !open.completed;
    const turn = reuse && open ? open : this.listen(mode);
    const speech = await this.sendFrames(frames, { realtime });
    turn.speechEndAtMs = this.nowMs();
    this.log(`> audio ${speech.sent} frames (${speech.sent * UPLINK_FRAME_MS} ms)${speech.stoppedEarly ? ', cut short: device left listening' : ''}`);
    if (mode === 'manual') {
      this.stopListening();
    } else if (!speech.stoppedEarly) {
      const silenceFrames = Math.ceil((opts.trailingSilenceMs ?? 1500) / UPLINK_FRAME_MS);
      const silent = this.encodeUplink(new Int16Array((UPLINK_RATE_HZ * UPLINK_FRAME_MS) / 1000))[0];
      if (silent && silenceFrames > 0) {
        const r = await this.sendFrames(new Array<Buffer>(silenceFrames).fill(silent), { realtime });
        this.log(`> silence ${r.sent} frames${r.stoppedEarly ? ' (stopped: server started speaking)' : ''}`);
      }
    }
    return turn;
  }

  /** speakPcm with a WAV file (any rate/channels; converted to 16 kHz mono). */
  async speakWav(path: string, opts: SpeakOptions = {}): Promise<SimTurn> {
    let wav;
    try {
      wav = readWav(await readFile(path));
    } catch (err) {
      throw new SimError('bad_audio', `cannot read WAV ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const pcm = wav.sampleRateHz === UPLINK_RATE_HZ ? wav.pcm : await resample(wav.pcm, wav.sampleRateHz, UPLINK_RATE_HZ);
    return this.speakPcm(pcm, opts);
  }

  /**
   * Resolve with the next JSON message matching `match` (a predicate, a type like `"stt"`, or
   * `"type:state"` like `"tts:stop"`). With `sinceIndex`, messages already in `received` from that
   * index on count too, which avoids the race of a reply arriving before the call.
   * @throws SimError `wait_timeout`, or `closed` if the channel closes first
   */
  waitFor(match: string | ((msg: SimJson) => boolean), timeoutMs = 10000, opts: { sinceIndex?: number } = {}): Promise<SimJson> {
    const matcher = toMatcher(match);
    if (opts.sinceIndex !== undefined) {
      for (let i = opts.sinceIndex; i < this.received.length; i++) {
        const json = this.received[i]?.json;
        if (json && matcher(json)) return Promise.resolve(json);
      }
    }
    if (!this.ws) return Promise.reject(new SimError('not_connected', 'waitFor needs an open channel'));
    return new Promise<SimJson>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new SimError('wait_timeout', `no matching message within ${timeoutMs} ms${typeof match === 'string' ? ` (waiting for ${match})` : ''}`));
      }, timeoutMs);
      const waiter: Waiter = {
        match: matcher,
        resolve: (msg) => {
          clearTimeout(timer);
          resolve(msg);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * Resolve when `turn` (default: the current turn) has received `tts stop`.
   * @throws SimError `wait_timeout` or `closed`
   */
  waitForTurnEnd(turn: SimTurn | undefined = this.currentTurn, timeoutMs = 60000): Promise<SimTurn> {
    if (turn?.completed) return Promise.resolve(turn);
    return new Promise<SimTurn>((resolve, reject) => {
      const onStop = (ended: SimTurn): void => {
        if (turn && ended !== turn) return;
        done();
        resolve(ended);
      };
      const onClosed = (code: number, reason: string): void => {
        done();
        reject(new SimError('closed', `channel closed (${code}${reason ? ` ${reason}` : ''}) before tts stop`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new SimError('wait_timeout', `no tts stop within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.off('tts-stop', onStop);
        this.off('closed', onClosed);
      };
      this.on('tts-stop', onStop);
      this.on('closed', onClosed);
    });
  }

  /**
   * Write the decoded downlink audio of `turns` (default: all) as a mono 16-bit WAV at the
   * downlink rate. Returns the sample count and duration written.
   */
  async saveDownlinkWav(path: string, turns: SimTurn[] = this.turns): Promise<{ samples: number; durationMs: number; sampleRateHz: number }> {
    const sampleRateHz = turns[0]?.downlinkSampleRateHz ?? this.serverHello?.sampleRateHz ?? DEFAULT_DOWNLINK_RATE_HZ;
    const pcm = concatInt16(turns.map((t) => t.downlinkPcm));
    await writeFile(path, writeWav(pcm, sampleRateHz));
    return { samples: pcm.length, durationMs: (pcm.length * 1000) / sampleRateHz, sampleRateHz };
  }

  /** Close the channel (plain socket close, as FW) and wait until it is closed. */
  async close(): Promise<void> {
    const ws = this.ws;
    if (!ws) return;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
    const timer = setTimeout(() => ws.terminate(), 2000);
    await this.closedPromise;
    clearTimeout(timer);
  }

  // ------------------------------------------------------------------------------------------

  private openSocket(): WebSocket {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new SimError('not_connected', 'the audio channel is not open');
    return ws;
  }

  /** Send a JSON message; FW adds the session id to everything but its hello. */
  private sendJson(msg: SimJson, withSession = true): void {
    const ws = this.openSocket();
    const full: SimJson = withSession && this.sessionId !== undefined ? { session_id: this.sessionId, ...msg } : msg;
    ws.send(JSON.stringify(full));
    this.sent.push({ atMs: this.nowMs(), json: full });
    this.log(`> ${describeJson(full)}`);
  }

  private setState(next: SimState): void {
    const previous = this.stateValue;
    if (previous === next) return;
    this.stateValue = next;
    this.emit('state', next, previous);
  }

  private newTurn(trigger: SimTurnTrigger): SimTurn {
    const turn = new SimTurn(this.turns.length + 1, trigger, this.nowMs(), this.serverHello?.sampleRateHz ?? DEFAULT_DOWNLINK_RATE_HZ);
    this.turns.push(turn);
    return turn;
  }

  /** The turn a server message belongs to: the open one, or a new server-initiated turn. */
  private turnForIncoming(): SimTurn {
    const turn = this.currentTurn;
    return turn && !turn.completed ? turn : this.newTurn('server');
  }

  private touchChannel(): void {
    const timeoutMs = this.opts.channelTimeoutMs ?? 120000;
    if (timeoutMs <= 0) return;
    if (this.channelTimer) {
      this.channelTimer.refresh();
      return;
    }
    this.channelTimer = setTimeout(() => {
      // FW Protocol::IsTimeout: nothing received for 120 s means the channel is dead.
      this.log(`! nothing received for ${timeoutMs} ms: closing the channel`);
      this.ws?.close(1000);
    }, timeoutMs);
    this.channelTimer.unref();
  }

  private onClosed(ws: WebSocket, code: number, reason: string): void {
    if (this.ws === ws) this.ws = undefined;
    if (this.channelTimer) clearTimeout(this.channelTimer);
    this.channelTimer = undefined;
    this.log(`< closed ${code}${reason ? ` ${reason}` : ''}`);
    this.setState('idle');
    const err = new SimError('closed', `channel closed (${code}${reason ? ` ${reason}` : ''})`);
    for (const w of this.waiters) w.reject(err);
    this.waiters.clear();
    this.emit('closed', code, reason);
  }

  private onText(text: string): void {
    const atMs = this.nowMs();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    // FW drops anything that is not an object with a string type.
    if (!isPlainObject(parsed) || typeof parsed.type !== 'string') {
      this.received.push({ atMs, text });
      this.log(`< (ignored text) ${text.slice(0, 200)}`);
      return;
    }
    const msg = parsed;
    this.received.push({ atMs, json: msg });
    if (msg.type !== 'mcp') this.log(`< ${describeJson(msg)}`);
    this.handleJson(msg, atMs);
    this.emit('json', msg);
    for (const w of [...this.waiters]) {
      if (w.match(msg)) {
        this.waiters.delete(w);
        w.resolve(msg);
      }
    }
  }

  private handleJson(msg: SimJson, atMs: number): void {
    switch (msg.type) {
      case 'hello':
        this.onServerHello(msg);
        break;
      case 'stt': {
        const turn = this.turnForIncoming();
        if (typeof msg.text === 'string') turn.sttText = msg.text;
        break;
      }
      case 'llm': {
        const turn = this.turnForIncoming();
        if (typeof msg.emotion === 'string') turn.emotion = msg.emotion;
        break;
      }
      case 'tts':
        this.onTts(msg, atMs);
        break;
      case 'mcp':
        void this.onMcp(msg.payload);
        break;
      default:
        // system, alert, custom, goodbye...: recorded above; the simulator has no screen or reboot.
        break;
    }
  }

  private onServerHello(msg: SimJson): void {
    // FW: the transport must match its own, else the hello is ignored.
    if (msg.transport !== 'websocket') return;
    const params = isPlainObject(msg.audio_params) ? msg.audio_params : {};
    const sampleRateHz = typeof params.sample_rate === 'number' ? params.sample_rate : DEFAULT_DOWNLINK_RATE_HZ;
    const frameMs = typeof params.frame_duration === 'number' ? params.frame_duration : DEFAULT_DOWNLINK_FRAME_MS;
    const info: ServerHelloInfo = { sampleRateHz, frameMs, raw: msg };
    if (typeof msg.session_id === 'string') {
      info.sessionId = msg.session_id;
      this.sessionId = msg.session_id;
    }
    if (typeof msg.version === 'number') info.version = msg.version;
    this.serverHello = info;
    if (this.decoder?.sampleRateHz !== sampleRateHz) {
      try {
        this.decoder = new OpusFrameDecoder(sampleRateHz);
      } catch (err) {
        this.decoder = undefined;
        this.log(`! cannot decode downlink at ${sampleRateHz} Hz: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private onTts(msg: SimJson, atMs: number): void {
    const turn = this.turnForIncoming();
    if (msg.state === 'start') {
      turn.ttsStartAtMs ??= atMs;
      if (this.stateValue === 'idle' || this.stateValue === 'listening') this.setState('speaking');
    } else if (msg.state === 'sentence_start') {
      if (typeof msg.text === 'string' && msg.text !== '') turn.sentences.push(msg.text);
    } else if (msg.state === 'stop') {
      turn.ttsStopAtMs = atMs;
      const wasSpeaking = this.stateValue === 'speaking';
      const gaps = turn.frameGapStats();
      this.log(
        `  turn ${turn.index}: ${turn.audioFrames} audio frames, ${Math.round(turn.audioDurationMs)} ms` +
          (turn.replyLatencyMs !== undefined ? `, end of speech -> first audio ${Math.round(turn.replyLatencyMs)} ms` : '') +
          (gaps ? `, frame gaps mean ${gaps.meanMs.toFixed(1)} / max ${gaps.maxMs.toFixed(1)} ms` : '') +
          (turn.droppedAudioFrames > 0 ? `, ${turn.droppedAudioFrames} frames dropped (not speaking)` : ''),
      );
      this.emit('tts-stop', turn);
      // FW acts on tts stop only while speaking: manual -> idle, else -> listening (auto re-sends listen start).
      if (wasSpeaking) {
        if (this.listenMode === 'manual') {
          this.setState('idle');
        } else if (this.listenMode === 'auto' && this.connected) {
          this.listen('auto');
        } else {
          this.setState('listening');
        }
      }
    }
  }

  private async onMcp(payload: unknown): Promise<void> {
    if (isPlainObject(payload)) {
      const method = typeof payload.method === 'string' ? payload.method : '(response)';
      const params = isPlainObject(payload.params) ? payload.params : undefined;
      const detail = method === 'tools/call' && params ? ` ${String(params.name)} ${JSON.stringify(params.arguments ?? {})}` : method === 'tools/list' && params?.cursor ? ` cursor=${String(params.cursor)}` : '';
      this.log(`< mcp ${method} id=${String(payload.id)}${detail}`);
    } else {
      this.log('< mcp (payload is not an object)');
    }
    const reply = await this.mcp.handle(payload);
    if (!reply || !this.connected) return;
    this.sendJson({ type: 'mcp', payload: reply });
  }

  private onBinary(data: Buffer): void {
    const entry: SimReceived = { atMs: this.nowMs(), audioBytes: data.length };
    this.received.push(entry);
    const turn = this.turnForIncoming();
    let payload: Buffer;
    try {
      payload = decodeAudioFrame(this.version, data).payload;
    } catch (err) {
      turn.decodeErrors++;
      this.log(`! bad v${this.version} audio frame (${data.length} bytes): ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    // FW: audio is pushed to the decoder only in the speaking state; anything else is discarded.
    if (this.stateValue !== 'speaking') {
      entry.dropped = true;
      turn.droppedAudioFrames++;
      this.emit('audio-dropped', payload);
      return;
    }
    let pcm: Int16Array;
    try {
      if (!this.decoder) throw new Error('no downlink decoder');
      pcm = this.decoder.decode(payload);
    } catch (err) {
      turn.decodeErrors++;
      this.log(`! undecodable downlink packet: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    turn.audioFrames++;
    turn.audioBytes += payload.length;
    turn.frameArrivalMs.push(entry.atMs);
    turn.firstAudioAtMs ??= entry.atMs;
    if (turn.abortedAtMs !== undefined) turn.framesAfterAbort++;
    turn.downlinkSampleRateHz = this.decoder.sampleRateHz;
    turn.addPcm(pcm);
    this.emit('audio', payload, pcm);
  }
}

/** A one-line summary of a protocol message for transcripts. */
function describeJson(msg: SimJson): string {
  const type = String(msg.type);
  switch (type) {
    case 'hello': {
      const ap = isPlainObject(msg.audio_params) ? msg.audio_params : {};
      return `hello v${String(msg.version ?? '?')} transport=${String(msg.transport)}${msg.session_id ? ` session=${String(msg.session_id)}` : ''} audio=${String(ap.format ?? '?')}/${String(ap.sample_rate ?? '?')}Hz/${String(ap.frame_duration ?? '?')}ms`;
    }
    case 'listen':
      return `listen ${String(msg.state)}${msg.mode ? ` ${String(msg.mode)}` : ''}${msg.text !== undefined ? ` ${JSON.stringify(msg.text)}` : ''}`;
    case 'tts':
      return `tts ${String(msg.state)}${msg.text !== undefined ? ` ${JSON.stringify(msg.text)}` : ''}`;
    case 'stt':
      return `stt ${JSON.stringify(msg.text)}`;
    case 'llm':
      return `llm emotion=${String(msg.emotion)}${msg.text ? ` ${String(msg.text)}` : ''}`;
    case 'abort':
      return `abort${msg.reason ? ` ${String(msg.reason)}` : ''}`;
    case 'mcp': {
      const p = isPlainObject(msg.payload) ? msg.payload : {};
      if (p.error !== undefined) return `mcp error id=${String(p.id)} ${JSON.stringify(p.error)}`;
      const result = isPlainObject(p.result) ? p.result : {};
      if (Array.isArray(result.tools)) {
        return `mcp tools id=${String(p.id)} [${result.tools.map((t) => (isPlainObject(t) ? String(t.name) : '?')).join(', ')}]${result.nextCursor ? ` nextCursor=${String(result.nextCursor)}` : ''}`;
      }
      if (Array.isArray(result.content)) {
        const first = result.content[0];
        return `mcp result id=${String(p.id)} ${isPlainObject(first) ? String(first.text) : ''}`;
      }
      return `mcp result id=${String(p.id)} ${JSON.stringify(p.result ?? null).slice(0, 120)}`;
    }
    default:
      return JSON.stringify(msg).slice(0, 300);
  }
}
