import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { WebSocket, RawData } from 'ws';
import { ProtocolError } from '../protocol/errors';
import {
  parseClientMessage,
  serverHello,
  sttMessage,
  ttsMessage,
  llmEmotionMessage,
  mcpEnvelope,
  alertMessage,
  systemMessage,
  errorMessage,
  pongMessage,
  type ClientHello,
  type ClientMessage,
  type ListenMessage,
} from '../protocol/messages';
import { decodeAudioFrame, encodeAudioFrame, encodeGatewayDownlink, decodeGatewayUplink, type BinaryProtocolVersion } from '../protocol/framing';
import type { JsonRpcMessage, McpTool } from '../protocol/mcp';
import { OpusFrameDecoder } from '../audio/opus';
import { PcmToOpusEncoder } from '../audio/downlink-encoder';
import { DownlinkPacer } from './downlink-pacer';
import { DeviceMcpClient, type ToolCallResult } from './mcp-client';
import type { GatewayOptions, GatewayLogger } from './options';

/** Server-side view of the device's state. */
export type SessionState = 'awaiting_hello' | 'idle' | 'listening' | 'speaking' | 'closed';
export type ListenMode = 'auto' | 'manual' | 'realtime';

/** One uplink audio frame. */
export interface UplinkAudio {
  /** Raw Opus packet (framing header removed). */
  opus: Buffer;
  /** 16 kHz mono PCM, when the gateway decodes uplink audio. */
  pcm?: Int16Array;
  /** Device timestamp (v2 framing), else 0. */
  timestampMs: number;
  turn: number;
}

/** What a client said with `listen`. */
export interface ListenEvent {
  state: 'start' | 'stop' | 'detect';
  mode: ListenMode;
  text?: string;
  turn: number;
}

/** Close codes we use (4xxx are application codes, mirroring HTTP statuses). */
export const CloseCodes = {
  normal: 1000,
  goingAway: 1001,
  tooBig: 1009,
  idle: 4000,
  badRequest: 4400,
  unauthorized: 4401,
  helloTimeout: 4408,
  tooManyMessages: 4429,
  serverFull: 4503,
} as const;

/** Plain-data snapshot of a session, safe to put in a msg. */
export interface SessionInfo {
  id: string;
  deviceId: string;
  clientId: string;
  remoteAddress: string;
  protocolVersion: BinaryProtocolVersion;
  state: SessionState;
  mode: ListenMode;
  turn: number;
  features: Record<string, unknown>;
  uplinkFrameMs: number;
  connectedAt: number;
  tools: string[];
}

export interface SessionContext {
  options: GatewayOptions;
  deviceId: string;
  clientId: string;
  remoteAddress: string;
  protocolVersion: BinaryProtocolVersion;
  /** Connection from an MQTT+UDP gateway (path ends with ?from=mqtt_gateway): its own framing. */
  fromMqttGateway: boolean;
  logger?: GatewayLogger;
  /** True while the process is overloaded: uplink audio is dropped rather than queued. */
  overloaded?: () => boolean;
}

/** dBFS above which decoded uplink audio counts as voice activity for the idle timer. */
const VOICE_ACTIVITY_DBFS = -42;
/** At most this many error messages per second go back to one client (a flood must not echo). */
const ERROR_REPLIES_PER_SECOND = 5;
/** Messages dropped by the rate limiter within one second before the client is disconnected. */
const FLOOD_CLOSE_THRESHOLD = 500;

/**
 * One connected device. Owns the socket, the uplink decoder, the downlink pacer and encoder, the
 * MCP client and the turn counter.
 *
 * Turns: every `listen start`, `listen detect`, `abort` and `beginTurn()` starts a new turn.
 * Downlink calls take the turn they belong to; a call for an older turn is dropped, so a late
 * ASR/LLM/TTS result can never undo an abort or restart speech.
 *
 * Events: 'hello' (ClientHello), 'listen' (ListenEvent), 'audio' (UplinkAudio), 'abort'
 * ({reason, turn}), 'tools' (McpTool[]), 'iot' (message), 'mcp' (payload the device sent on its
 * own), 'state' (SessionState), 'speaking-done' ({turn, aborted}), 'protocol-error'
 * ({code, message}), 'frame-gap' (ms between paced downlink frames), 'close' ({code, reason}).
 */
export class Session extends EventEmitter {
  readonly id = randomUUID();
  readonly deviceId: string;
  readonly clientId: string;
  readonly remoteAddress: string;
  readonly connectedAt = Date.now();
  protocolVersion: BinaryProtocolVersion;
  state: SessionState = 'awaiting_hello';
  mode: ListenMode = 'auto';
  features: Record<string, unknown> = {};
  uplinkFrameMs = 60;
  hello: ClientHello | undefined;
  /** Legacy IoT descriptors (firmware <= 1.7). */
  iotDescriptors: unknown[] = [];
  /** Counters for status and metrics. */
  readonly counters = { framesIn: 0, framesOut: 0, badFrames: 0, messagesIn: 0, droppedMessages: 0, errorsSent: 0, overloadDropped: 0 };

  private turnValue = 0;
  private readonly ws: WebSocket;
  private readonly options: GatewayOptions;
  private readonly logger?: GatewayLogger;
  private readonly fromMqttGateway: boolean;
  private readonly overloaded: () => boolean;
  private readonly pacer: DownlinkPacer;
  private readonly mcp: DeviceMcpClient;
  private decoder: OpusFrameDecoder | undefined;
  private encoder: Promise<PcmToOpusEncoder> | undefined;
  /** Ordered downlink operations (encoding is async; order must be kept). */
  private downlinkChain: Promise<void> = Promise.resolve();
  private helloTimer: NodeJS.Timeout | undefined;
  private lastActivityMs = performance.now();
  private tokens: number;
  private lastRefillMs = performance.now();
  private droppedThisSecond = 0;
  private droppedWindowStartMs = performance.now();
  private errorReplyBudget = ERROR_REPLIES_PER_SECOND;
  private errorBudgetStartMs = performance.now();
  private downlinkSequence = 0;
  private closeAfterSpeaking = false;
  /** Turn of the audio currently queued in the pacer, for 'speaking-done'. */
  private speakingTurn = -1;
  alive = true;

  constructor(ws: WebSocket, context: SessionContext) {
    super();
    this.ws = ws;
    this.options = context.options;
    this.logger = context.logger;
    this.deviceId = context.deviceId;
    this.clientId = context.clientId;
    this.remoteAddress = context.remoteAddress;
    this.protocolVersion = context.protocolVersion;
    this.fromMqttGateway = context.fromMqttGateway;
    this.overloaded = context.overloaded ?? (() => false);
    this.tokens = this.options.limits.messageBurst;
    const { downlink, limits } = this.options;
    this.pacer = new DownlinkPacer(
      {
        sendAudio: (frame) => this.sendAudioFrame(frame),
        sendJson: (message) => this.send(message),
        onStopped: () => this.onSpeakingStopped(false),
        onFrameGap: (gapMs) => this.emit('frame-gap', gapMs),
        // One write for a burst of frames (pre-roll: tts start + 5 frames) instead of one syscall each.
        cork: () => socketOf(this.ws)?.cork(),
        uncork: () => socketOf(this.ws)?.uncork(),
      },
      {
        frameMs: downlink.frameMs,
        prerollFrames: downlink.prerollFrames,
        stopMarginMs: downlink.stopMarginMs,
        maxQueuedFrames: limits.maxQueuedFrames,
        earlyMs: downlink.earlyReleaseMs,
      },
    );
    this.mcp = new DeviceMcpClient((payload) => this.send(mcpEnvelope(this.id, payload as JsonRpcMessage)), this.options.mcp);
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('close', (code, reason) => this.onSocketClosed(code, reason.toString()));
    ws.on('error', (error) => this.logger?.warn(`session ${this.shortId}: socket error: ${error.message}`));
    if (limits.helloTimeoutMs > 0) {
      this.helloTimer = setTimeout(() => {
        this.sendError('hello_timeout', `no hello within ${limits.helloTimeoutMs} ms`);
        this.close(CloseCodes.helloTimeout, 'hello timeout');
      }, limits.helloTimeoutMs);
    }
  }

  /** Current turn number. */
  get turn(): number {
    return this.turnValue;
  }

  get shortId(): string {
    return `${this.deviceId}/${this.id.slice(0, 8)}`;
  }

  /** Device tools found by the MCP handshake. */
  get tools(): McpTool[] {
    return this.mcp.tools;
  }

  get mcpReady(): boolean {
    return this.mcp.ready;
  }

  /** True while downlink audio or its stop is still to be played. */
  get speaking(): boolean {
    return this.state === 'speaking';
  }

  get queuedFrames(): number {
    return this.pacer.queuedFrames;
  }

  get pacerStats(): DownlinkPacer['stats'] {
    return this.pacer.stats;
  }

  /** Milliseconds since the last voice, text or downlink speech. */
  get idleMs(): number {
    if (this.state === 'speaking' || this.pacer.busy) return 0;
    return performance.now() - this.lastActivityMs;
  }

  /** True if `turn` (undefined = current) is the session's current turn and the socket is open. */
  isCurrentTurn(turn: number | undefined): boolean {
    return this.state !== 'closed' && (turn === undefined || turn === this.turnValue);
  }

  info(): SessionInfo {
    return {
      id: this.id,
      deviceId: this.deviceId,
      clientId: this.clientId,
      remoteAddress: this.remoteAddress,
      protocolVersion: this.protocolVersion,
      state: this.state,
      mode: this.mode,
      turn: this.turnValue,
      features: { ...this.features },
      uplinkFrameMs: this.uplinkFrameMs,
      connectedAt: this.connectedAt,
      tools: this.mcp.tools.map((t) => t.name),
    };
  }

  /** Start a new turn (e.g. barge-in detected by VAD). Queued speech of older turns is dropped. */
  beginTurn(): number {
    this.turnValue++;
    return this.turnValue;
  }

  /** A VAD reports voice: keeps the idle timer from firing. */
  markVoiceActivity(): void {
    this.lastActivityMs = performance.now();
  }

  // ------------------------------------------------------------------------------------------
  // Downlink API (used by flows through the out node)
  // ------------------------------------------------------------------------------------------

  /** Send any JSON message now. Returns false if the socket is not open. */
  send(message: object): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Show what the user said. Dropped for a stale turn. */
  sendStt(text: string, turn?: number): boolean {
    if (!this.isCurrentTurn(turn)) return false;
    return this.send(sttMessage(this.id, text));
  }

  /** Set the face from an emotion name (llm message). */
  sendEmotion(emotion: string, text: string, turn?: number): boolean {
    if (!this.isCurrentTurn(turn)) return false;
    return this.send(llmEmotionMessage(this.id, emotion, text));
  }

  sendAlert(status: string, message: string, emotion: string): boolean {
    return this.send(alertMessage(this.id, status, message, emotion));
  }

  sendSystem(command: string): boolean {
    return this.send(systemMessage(this.id, command));
  }

  /** `tts start` (once per speaking stretch). Audio is dropped by firmware before it. */
  startSpeaking(turn?: number): boolean {
    if (!this.isCurrentTurn(turn)) return false;
    this.enterSpeaking();
    return true;
  }

  /** Queue a subtitle (`tts sentence_start`) timed with the audio queued after it. */
  queueSentence(text: string, turn?: number): boolean {
    const opTurn = turn ?? this.turnValue;
    if (!this.isCurrentTurn(opTurn)) return false;
    this.chain(opTurn, () => {
      this.enterSpeaking();
      this.pacer.pushJson(ttsMessage(this.id, 'sentence_start', text));
    });
    return true;
  }

  /** Queue Opus frames already encoded at the downlink rate and frame length. */
  queueOpus(frames: readonly Buffer[], turn?: number): boolean {
    const opTurn = turn ?? this.turnValue;
    if (!this.isCurrentTurn(opTurn)) return false;
    this.chain(opTurn, () => {
      this.enterSpeaking();
      if (!this.pacer.pushAudio(frames)) {
        this.sendError('too_much_audio', `downlink queue full (${this.options.limits.maxQueuedFrames} frames); audio dropped`);
      }
    });
    return true;
  }

  /** Queue PCM at any rate: resampled and encoded to the downlink Opus format, in order. */
  queuePcm(pcm: Int16Array, sampleRateHz: number, turn?: number): boolean {
    const opTurn = turn ?? this.turnValue;
    if (!this.isCurrentTurn(opTurn)) return false;
    this.chain(opTurn, async () => {
      const encoder = await this.getEncoder();
      const frames = await encoder.push(pcm, sampleRateHz);
      if (!this.isCurrentTurn(opTurn)) return;
      this.enterSpeaking();
      if (frames.length > 0 && !this.pacer.pushAudio(frames)) {
        this.sendError('too_much_audio', `downlink queue full (${this.options.limits.maxQueuedFrames} frames); audio dropped`);
      }
    });
    return true;
  }

  /**
   * End the turn's speech: `tts stop` goes out once the queued audio has played on the device.
   * Also when nothing was spoken (a turn always ends with `tts stop`). `closeAfter` closes the
   * connection after the stop (farewell).
   */
  finishSpeaking(turn?: number, options: { closeAfter?: boolean } = {}): boolean {
    const opTurn = turn ?? this.turnValue;
    if (!this.isCurrentTurn(opTurn)) return false;
    this.chain(opTurn, async () => {
      if (this.encoder) {
        const encoder = await this.encoder;
        const rest = encoder.flush();
        if (!this.isCurrentTurn(opTurn)) return;
        if (rest.length > 0) this.pacer.pushAudio(rest);
      }
      if (options.closeAfter) this.closeAfterSpeaking = true;
      if (this.state !== 'speaking' && !this.pacer.busy) {
        // Nothing was spoken: still end the turn so the device never waits.
        this.send(ttsMessage(this.id, 'stop'));
        this.onSpeakingStopped(false);
        return;
      }
      this.pacer.finish(ttsMessage(this.id, 'stop'));
    });
    return true;
  }

  /**
   * Stop speaking now: queued audio is dropped, `tts stop` is sent at once and a new turn
   * begins (so late results of the old turn are dropped). Used for abort and barge-in.
   */
  abortSpeaking(reason = 'abort'): number {
    const turn = this.beginTurn();
    this.pacer.flush();
    if (this.encoder) void this.encoder.then((e) => e.reset()).catch(() => undefined);
    this.send(ttsMessage(this.id, 'stop'));
    this.logger?.debug?.(`session ${this.shortId}: speech aborted (${reason})`);
    this.onSpeakingStopped(true);
    return turn;
  }

  /** Call a device MCP tool. */
  callTool(name: string, args: Record<string, unknown> = {}, timeoutMs?: number): Promise<ToolCallResult> {
    return this.mcp.callTool(name, args, timeoutMs);
  }

  /** Close the connection (idempotent). */
  close(code: number = CloseCodes.normal, reason = ''): void {
    if (this.state === 'closed') return;
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      this.ws.terminate();
    }
    // Some clients never answer the close handshake.
    setTimeout(() => this.ws.terminate(), 2000).unref();
    this.onSocketClosed(code, reason);
  }

  /** Keep-alive: ping; a peer that did not answer the previous ping is dropped. */
  ping(): void {
    if (this.state === 'closed') return;
    if (!this.alive) {
      this.logger?.debug?.(`session ${this.shortId}: no pong, dropping`);
      this.terminate();
      return;
    }
    this.alive = false;
    try {
      this.ws.ping();
    } catch {
      this.terminate();
    }
  }

  /** Drop the connection without a close handshake (dead peer). */
  terminate(): void {
    this.ws.terminate();
    this.onSocketClosed(1006, 'terminated');
  }

  // ------------------------------------------------------------------------------------------
  // Internals
  // ------------------------------------------------------------------------------------------

  private chain(turn: number, op: () => void | Promise<void>): void {
    this.downlinkChain = this.downlinkChain
      .then(() => {
        if (!this.isCurrentTurn(turn)) return;
        return op();
      })
      .catch((error: unknown) => {
        this.logger?.warn(`session ${this.shortId}: downlink error: ${error instanceof Error ? error.message : String(error)}`);
        this.sendError('downlink_failed', 'the server could not play its answer');
        if (this.isCurrentTurn(turn)) this.abortSpeaking('downlink error');
      });
  }

  private getEncoder(): Promise<PcmToOpusEncoder> {
    if (!this.encoder) {
      const { sampleRateHz, frameMs } = this.options.downlink;
      this.encoder = PcmToOpusEncoder.create({ outputRateHz: sampleRateHz, frameMs });
    }
    return this.encoder;
  }

  private enterSpeaking(): void {
    this.speakingTurn = this.turnValue;
    if (this.state === 'speaking' || this.state === 'closed') return;
    this.send(ttsMessage(this.id, 'start'));
    this.setState('speaking');
  }

  private onSpeakingStopped(aborted: boolean): void {
    if (this.state === 'closed') return;
    const turn = this.speakingTurn;
    this.speakingTurn = -1;
    this.lastActivityMs = performance.now();
    if (this.state === 'speaking' || this.state === 'listening' || this.state === 'idle') {
      // Firmware: manual mode goes idle after tts stop, the others listen again.
      this.setState(this.mode === 'manual' ? 'idle' : 'listening');
    }
    this.emit('speaking-done', { turn, aborted });
    if (this.closeAfterSpeaking && !aborted) {
      this.closeAfterSpeaking = false;
      this.close(CloseCodes.normal, 'goodbye');
    }
  }

  private setState(state: SessionState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private sendAudioFrame(opus: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    let frame: Buffer;
    if (this.fromMqttGateway) {
      frame = encodeGatewayDownlink(opus, ++this.downlinkSequence, Date.now() >>> 0);
    } else {
      frame = encodeAudioFrame(this.protocolVersion, opus, 0);
    }
    this.counters.framesOut++;
    this.ws.send(frame, { binary: true });
  }

  /** Our own `{"type":"error"}` reply, rate limited so a flood does not echo back. */
  private sendError(code: string, message: string): void {
    const now = performance.now();
    if (now - this.errorBudgetStartMs >= 1000) {
      this.errorBudgetStartMs = now;
      this.errorReplyBudget = ERROR_REPLIES_PER_SECOND;
    }
    this.emit('protocol-error', { code, message });
    if (this.errorReplyBudget <= 0) return;
    this.errorReplyBudget--;
    this.counters.errorsSent++;
    this.send(errorMessage(this.id, code, message));
  }

  /** Token bucket: true if the message may be processed. */
  private admit(): boolean {
    const { maxMessagesPerSecond, messageBurst } = this.options.limits;
    const now = performance.now();
    this.tokens = Math.min(messageBurst, this.tokens + ((now - this.lastRefillMs) / 1000) * maxMessagesPerSecond);
    this.lastRefillMs = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    if (now - this.droppedWindowStartMs >= 1000) {
      this.droppedWindowStartMs = now;
      this.droppedThisSecond = 0;
    }
    this.droppedThisSecond++;
    this.counters.droppedMessages++;
    if (this.droppedThisSecond === 1) {
      this.sendError('rate_limited', `more than ${maxMessagesPerSecond} messages per second; messages dropped`);
    }
    if (this.droppedThisSecond >= FLOOD_CLOSE_THRESHOLD) {
      this.close(CloseCodes.tooManyMessages, 'message flood');
    }
    return false;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === 'closed') return;
    this.counters.messagesIn++;
    if (!this.admit()) return;
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    try {
      if (isBinary) this.onBinary(buffer);
      else this.onText(buffer);
    } catch (error) {
      // Never let one client's bad input escape to the process.
      this.logger?.warn(`session ${this.shortId}: ${error instanceof Error ? error.message : String(error)}`);
      this.sendError('internal_error', 'the server could not handle that message');
    }
  }

  private onText(buffer: Buffer): void {
    let message: ClientMessage;
    try {
      message = parseClientMessage(buffer.toString('utf8'), this.options.limits.maxTextBytes);
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.sendError(error.code, error.message);
        return;
      }
      throw error;
    }
    if (message.type !== 'hello' && this.state === 'awaiting_hello') {
      this.sendError('hello_required', `"${message.type}" before hello: send hello first`);
      return;
    }
    this.lastActivityMs = performance.now();
    switch (message.type) {
      case 'hello':
        this.onHello(message);
        break;
      case 'listen':
        this.onListen(message);
        break;
      case 'abort': {
        // Firmware stays in "speaking" until it gets tts stop: always answer (protocol.md §2.4).
        const turn = this.abortSpeaking(message.reason ?? 'client abort');
        this.emit('abort', { reason: message.reason ?? '', turn });
        break;
      }
      case 'mcp':
        if (!this.mcp.handleIncoming(message.payload)) this.emit('mcp', message.payload);
        break;
      case 'iot':
        if (Array.isArray(message.descriptors)) this.iotDescriptors.push(...message.descriptors);
        this.emit('iot', message);
        break;
      case 'goodbye':
        this.close(CloseCodes.normal, 'goodbye');
        break;
      case 'ping':
        this.send(pongMessage());
        break;
      default:
        break;
    }
  }

  private onHello(hello: ClientHello): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
    const first = this.hello === undefined;
    this.hello = hello;
    if (typeof hello.version === 'number' && [1, 2, 3].includes(hello.version) && !this.fromMqttGateway) {
      this.protocolVersion = hello.version as BinaryProtocolVersion;
    }
    this.features = { ...(hello.features ?? {}) };
    const frameDuration = hello.audio_params?.frame_duration;
    if (typeof frameDuration === 'number' && frameDuration > 0 && frameDuration <= 120) this.uplinkFrameMs = frameDuration;
    const { sampleRateHz, frameMs } = this.options.downlink;
    this.send(serverHello({ sessionId: this.id, sampleRateHz, frameMs, transport: 'websocket' }));
    if (this.state === 'awaiting_hello') this.setState('idle');
    this.emit('hello', hello);
    if (first && this.options.mcp.enabled && hello.features?.mcp === true) {
      this.mcp
        .handshake()
        .then((tools) => this.emit('tools', tools))
        .catch((error: Error) => this.logger?.warn(`session ${this.shortId}: MCP handshake failed: ${error.message}`));
    }
  }

  private onListen(message: ListenMessage): void {
    if (message.mode) this.mode = message.mode;
    switch (message.state) {
      case 'start': {
        if (this.state === 'speaking' || this.pacer.busy) {
          // The device left speaking on its own (e.g. realtime or a button): drop what was queued.
          this.pacer.flush();
          this.onSpeakingStopped(true);
        }
        const turn = this.beginTurn();
        this.setState('listening');
        this.emit('listen', { state: 'start', mode: this.mode, turn } satisfies ListenEvent);
        break;
      }
      case 'stop':
        if (this.state === 'listening') this.setState('idle');
        this.emit('listen', { state: 'stop', mode: this.mode, turn: this.turnValue } satisfies ListenEvent);
        break;
      case 'detect': {
        const turn = this.beginTurn();
        this.emit('listen', { state: 'detect', mode: this.mode, text: message.text, turn } satisfies ListenEvent);
        break;
      }
    }
  }

  private onBinary(buffer: Buffer): void {
    if (this.state === 'awaiting_hello') {
      this.counters.badFrames++;
      this.sendError('hello_required', 'audio before hello: send hello first');
      return;
    }
    if (buffer.length > this.options.limits.maxFrameBytes) {
      this.counters.badFrames++;
      this.sendError('too_large', `audio frame of ${buffer.length} bytes exceeds the ${this.options.limits.maxFrameBytes}-byte limit`);
      return;
    }
    let opus: Buffer;
    let timestampMs = 0;
    try {
      const frame = this.fromMqttGateway ? decodeGatewayUplink(buffer) : decodeAudioFrame(this.protocolVersion, buffer, this.options.limits.maxFrameBytes);
      opus = frame.payload;
      timestampMs = frame.timestampMs;
    } catch (error) {
      this.counters.badFrames++;
      if (error instanceof ProtocolError) {
        this.sendError(error.code, error.message);
        return;
      }
      throw error;
    }
    if (opus.length === 0) return;
    if (this.overloaded()) {
      // Shed load: a frame queued behind a saturated event loop would be too late to matter anyway.
      this.counters.overloadDropped++;
      if (this.counters.overloadDropped === 1) this.emit('protocol-error', { code: 'overloaded', message: 'server overloaded: uplink audio dropped' });
      return;
    }
    let pcm: Int16Array | undefined;
    if (this.options.decodeUplink) {
      this.decoder ??= new OpusFrameDecoder(16000);
      try {
        pcm = this.decoder.decode(opus);
      } catch {
        this.counters.badFrames++;
        this.sendError('bad_audio', 'binary frame is not a 16 kHz Opus packet; dropped');
        return;
      }
      if (isVoiceLevel(pcm)) this.lastActivityMs = performance.now();
    }
    this.counters.framesIn++;
    this.emit('audio', { opus, pcm, timestampMs, turn: this.turnValue } satisfies UplinkAudio);
  }

  private onSocketClosed(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.pacer.close();
    this.mcp.close();
    if (this.encoder) void this.encoder.then((e) => e.reset()).catch(() => undefined);
    this.emit('state', 'closed');
    this.emit('close', { code, reason });
    this.removeAllListeners('audio');
  }
}

/** The TCP socket under a ws WebSocket (ws keeps it in `_socket`). */
function socketOf(ws: WebSocket): { cork(): void; uncork(): void } | undefined {
  return (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
}

/** Cheap level gate: RMS over the frame above VOICE_ACTIVITY_DBFS. */
function isVoiceLevel(pcm: Int16Array): boolean {
  if (pcm.length === 0) return false;
  let sum = 0;
  for (let i = 0; i < pcm.length; i += 4) {
    const s = pcm[i]!;
    sum += s * s;
  }
  const rms = Math.sqrt(sum / Math.ceil(pcm.length / 4));
  return 20 * Math.log10(rms / 32768 + 1e-12) > VOICE_ACTIVITY_DBFS;
}
