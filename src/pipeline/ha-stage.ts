/**
 * The Home Assistant step of the voice pipeline, framework-free: it publishes every voice device
 * of a gateway to Home Assistant (HaVoiceDevicePublisher, MQTT device discovery), keeps its
 * state / transcript / reply sensors current from the gateway's session events and the pipeline
 * msgs it sees, and turns Home Assistant's commands into device actions:
 *
 *   volume (HA number entity)                 -> MCP tool self.audio_speaker.set_volume
 *   announce (HA text entity, `<base>/<id>/announce`, `<base>/all/announce`, an `announce` msg)
 *                                             -> a new turn and a `say` msg for the TTS node
 *
 * Every msg it does not consume passes through unchanged (docs/pipeline-messages.md), so the
 * `xiaozhi ha` node can sit anywhere in the chain; between the LLM and the TTS node it sees the
 * whole reply text and its announcements reach the TTS node directly.
 *
 * "thinking" is not a gateway state: it lasts from the `stt` msg of a turn until the device
 * starts speaking (the first `tts.sentence` / downlink `audio` msg, or the session entering
 * speaking), the turn ends without speech (`tts.stop`, `abort`), the device starts a new turn,
 * or `thinkingTimeoutMs` passes (a pipeline that died must not leave HA showing "thinking").
 */
import type { BrokerLike } from '../broker/catalogue-types';
import { XIAOZHI_ORIGIN_NAME } from '../broker/catalogue';
import { ANNOUNCE_ALL, DEFAULT_VOICE_BASE_TOPIC, bridgeAvailabilityTopic, deviceTopicId } from '../broker/ha-topics';
import { HaVoiceDevicePublisher, type VoiceDeviceInfo, type VoiceDeviceState } from '../broker/ha-voice-devices';
import type { DeviceGateway } from '../gateway/device-gateway';
import type { Session, SessionState } from '../gateway/session';
import type { OtaRequest } from '../protocol/ota';
import type { StageMessage } from './llm-stage';

/** The device MCP tool that sets the speaker volume (xiaozhi firmware, protocol.md §2.6). */
export const SET_VOLUME_TOOL = 'self.audio_speaker.set_volume';
/** The device MCP tool whose answer carries the current volume (`audio_speaker.volume`). */
export const DEVICE_STATUS_TOOL = 'self.get_device_status';

/** What the stage needs of a gateway: its session events and the sessions already open. */
export type HaGateway = Pick<DeviceGateway, 'on' | 'off' | 'list'>;

/** Error codes of {@link HaStageError}. */
export type HaStageErrorCode = 'bad_announce' | 'closed';

/** A failure of the HA stage a flow can act on (bad announce msg, device not connected). */
export class HaStageError extends Error {
  readonly code: HaStageErrorCode;

  constructor(code: HaStageErrorCode, message: string) {
    super(message);
    this.name = 'HaStageError';
    this.code = code;
  }
}

/** What the stage reports for a status display. */
export interface HaStageStatus {
  /** Devices connected now (published online). */
  devices: number;
  /** Short text of the last failure (publish, volume call), cleared by the next device that connects. */
  lastError?: string;
}

/** Outcome of {@link HaStage.announce}. */
export interface AnnounceResult {
  /** Device ids a `say` msg was emitted for. */
  spoken: string[];
  /** Device ids asked for that are not connected (a warning was given for each). */
  notConnected: string[];
}

/** Options of {@link HaStage}. */
export interface HaStageOptions {
  /** The hub broker (embedded or external) Home Assistant is connected to. */
  broker: BrokerLike;
  /** Home Assistant discovery prefix (default `homeassistant`). */
  discoveryPrefix?: string;
  /** Base of the device topics (default `xiaozhi`). */
  baseTopic?: string;
  /** Emits one msg (the node's send): passed-through msgs and the `say` msgs of announcements. */
  send: (msg: StageMessage) => void;
  /** Reports something a user should see (device not connected, volume call failed). */
  warn?: (message: string) => void;
  /** Called whenever {@link HaStageStatus} changes. */
  onStatus?: (status: HaStageStatus) => void;
  /** Deadline of the device's volume tool call. Default 10000. */
  volumeTimeoutMs?: number;
  /** "thinking" falls back to the session's state after this long without speech. Default 30000. */
  thinkingTimeoutMs?: number;
  /** Ask each device with MCP for its volume once its tools are known. Default true. */
  readInitialVolume?: boolean;
}

/** Per-session bookkeeping. */
interface Tracked {
  session: Session;
  deviceId: string;
  /** Turn whose `stt` put the device into "thinking". */
  thinkingTurn?: number;
  thinkingTimer?: NodeJS.Timeout;
  /** Subtitles of the turn being spoken, for the reply sensor when no `reply.end` passes by. */
  replyTurn?: number;
  replyParts: string[];
  replyPublished: boolean;
  onState: (state: SessionState) => void;
  onTools: (tools: Array<{ name: string }>) => void;
}

/** Time retained discovery configs get to arrive when looking for devices to remove. */
const RETAINED_SETTLE_MS = 300;

/** OTA facts kept per device (board, firmware), at most this many devices. */
const MAX_OTA_RECORDS = 10_000;

const textOf = (value: unknown): string => (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value));

/** Publishes a gateway's voice devices to Home Assistant and routes HA's commands back to them. */
export class HaStage {
  /** The discovery publisher (exposed for tests and for flows that want `forget`). */
  readonly publisher: HaVoiceDevicePublisher;
  private readonly options: HaStageOptions;
  private readonly sessions = new Map<string, Tracked>();
  private readonly otaByDevice = new Map<string, OtaRequest>();
  /** Last state published per device, so repeated session events do not republish. */
  private readonly publishedState = new Map<string, VoiceDeviceState>();
  private readonly gateways: Array<{ gateway: HaGateway; off: () => void }> = [];
  /** Publishes run one after another so HA sees them in the order they happened. */
  private queue: Promise<void> = Promise.resolve();
  private lastError: string | undefined;
  private closed = false;

  constructor(options: HaStageOptions) {
    this.options = options;
    this.publisher = new HaVoiceDevicePublisher(options.broker, {
      discoveryPrefix: options.discoveryPrefix,
      baseTopic: options.baseTopic,
      onVolume: (deviceId, volume) => void this.setVolume(deviceId, volume),
      onAnnounce: (deviceId, text) => {
        this.announce(deviceId, text);
      },
      onError: (error) => this.fail(`home assistant publish failed: ${error.message}`),
    });
  }

  /** Subscribe to HA's status and command topics. Resolves once subscribed (rejects if the broker refuses). */
  start(): Promise<void> {
    return this.publisher.start();
  }

  /** Follow a gateway: its open sessions now, and every session that opens or closes later. */
  attach(gateway: HaGateway): void {
    if (this.closed) return;
    const onSession = (session: Session) => this.sessionOpened(session);
    const onClosed = (session: Session) => this.sessionClosed(session);
    const onOta = (ota: OtaRequest) => this.rememberOta(ota);
    gateway.on('session', onSession);
    gateway.on('session-closed', onClosed);
    gateway.on('ota', onOta);
    this.gateways.push({
      gateway,
      off: () => {
        gateway.off('session', onSession);
        gateway.off('session-closed', onClosed);
        gateway.off('ota', onOta);
      },
    });
    for (const session of gateway.list()) if (session.state !== 'awaiting_hello' && session.state !== 'closed') this.sessionOpened(session);
  }

  /** Devices connected now. */
  get connectedDevices(): number {
    return this.deviceIds().length;
  }

  /**
   * Handle one msg: `announce` msgs are consumed (each target gets a `say` msg); everything else
   * updates the sensors it concerns and is passed on unchanged. Throws {@link HaStageError} for
   * an announce msg without text or target, so the node's done(err) reaches Catch nodes.
   */
  handle(msg: StageMessage): void {
    if (msg.topic === 'announce') {
      this.announceMsg(msg);
      return;
    }
    const tracked = typeof msg.session === 'string' ? this.sessions.get(msg.session) : undefined;
    if (tracked && !this.closed) this.observe(tracked, msg);
    this.options.send(msg);
  }

  /**
   * Make devices speak `text`: `target` is a device id (any MAC spelling) or 'all'. Each
   * connected target gets a new turn (what it was saying is cut off) and a `say` msg
   * {session, turn, device, payload: text}; a target that is not connected gets a warning.
   */
  announce(target: string, text: string, base: StageMessage = {}): AnnounceResult {
    const result: AnnounceResult = { spoken: [], notConnected: [] };
    if (this.closed) return result;
    const trimmed = text.trim();
    if (!trimmed) return result;
    const sessions = target === ANNOUNCE_ALL ? this.latestSessions() : [this.latestSessionOf(target)].filter((s): s is Tracked => s !== undefined);
    if (sessions.length === 0) {
      if (target === ANNOUNCE_ALL) {
        this.options.warn?.('no device is connected');
      } else {
        result.notConnected.push(target);
        this.options.warn?.(`device ${target} is not connected`);
      }
      return result;
    }
    for (const tracked of sessions) {
      const { session } = tracked;
      // A new turn drops whatever the pipeline was still producing for the old one; speech in
      // progress is cut (tts stop) so the announcement is not queued behind a long answer.
      const turn = session.state === 'speaking' ? session.abortSpeaking('announce') : session.beginTurn();
      this.endThinking(tracked, false);
      const say: StageMessage = { topic: 'say', session: session.id, turn, device: { id: session.deviceId, clientId: session.clientId }, payload: trimmed };
      if (base._msgid !== undefined) say._msgid = base._msgid;
      this.options.send(say);
      result.spoken.push(session.deviceId);
    }
    return result;
  }

  /**
   * Stop following the gateways, mark every device offline and unsubscribe. Idempotent.
   * `forget` (the node was deleted) also removes the devices from Home Assistant: those published
   * in this run and those left retained by earlier runs (found by their discovery origin).
   */
  async close(options: { forget?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { off } of this.gateways.splice(0)) off();
    for (const tracked of this.sessions.values()) this.untrack(tracked);
    this.sessions.clear();
    await this.queue.catch(() => undefined);
    if (options.forget) {
      const ids = new Set([...this.publisher.deviceIds(), ...(await this.retainedDeviceIds().catch(() => []))]);
      for (const id of ids) await this.publisher.forget(id).catch((error: Error) => this.options.warn?.(`removing ${id} from home assistant: ${error.message}`));
    }
    await this.publisher.close();
    if (options.forget) {
      // No device left to be available for: clear the hub's retained availability too.
      const base = this.options.baseTopic ?? DEFAULT_VOICE_BASE_TOPIC;
      await this.options.broker.publish(bridgeAvailabilityTopic(base), '', { qos: 1, retain: true }).catch(() => undefined);
    }
  }

  /**
   * Topic ids of voice devices whose discovery configs are retained on the broker and were
   * published by this package for this base topic (an earlier run may have left them).
   */
  private async retainedDeviceIds(): Promise<string[]> {
    const prefix = this.options.discoveryPrefix ?? 'homeassistant';
    const base = this.options.baseTopic ?? DEFAULT_VOICE_BASE_TOPIC;
    const found: string[] = [];
    const unsubscribe = await this.options.broker.subscribe(`${prefix}/device/+/config`, (topic, payload, packet) => {
      const id = topic.split('/')[2] ?? '';
      if (!packet.retain || !id.startsWith('xiaozhi_') || payload.length === 0) return;
      try {
        const config = JSON.parse(payload.toString('utf8')) as { origin?: { name?: unknown }; availability?: Array<{ topic?: unknown }> };
        const ours = config.origin?.name === XIAOZHI_ORIGIN_NAME && config.availability?.some((a) => typeof a.topic === 'string' && a.topic.startsWith(`${base}/`));
        if (ours) found.push(id.slice('xiaozhi_'.length));
      } catch {
        // not a config of ours
      }
    });
    // An external broker sends the retained configs after the SUBACK: give them a moment.
    await new Promise((resolve) => setTimeout(resolve, RETAINED_SETTLE_MS));
    await unsubscribe();
    return found;
  }

  // ------------------------------------------------------------------------------------------

  private announceMsg(msg: StageMessage): void {
    const payload = msg.payload;
    const text =
      typeof payload === 'string'
        ? payload
        : payload && typeof payload === 'object' && typeof (payload as { text?: unknown }).text === 'string'
          ? (payload as { text: string }).text
          : '';
    if (!text.trim()) throw new HaStageError('bad_announce', 'announce needs the text to speak in msg.payload');
    const device = msg.device as unknown;
    let target: string | undefined;
    if (typeof device === 'string' && device.trim()) target = device.trim();
    else if (device && typeof device === 'object' && typeof (device as { id?: unknown }).id === 'string') target = (device as { id: string }).id;
    else if (typeof msg.session === 'string') {
      const tracked = this.sessions.get(msg.session);
      if (!tracked) {
        this.options.warn?.(`session ${msg.session} is not connected`);
        return;
      }
      target = tracked.deviceId;
    }
    if (!target) throw new HaStageError('bad_announce', 'announce needs msg.device.id (or msg.device = "all") or msg.session');
    this.announce(target, text, msg);
  }

  /** Update the sensors a passing msg concerns. */
  private observe(tracked: Tracked, msg: StageMessage): void {
    const turn = typeof msg.turn === 'number' ? msg.turn : tracked.session.turn;
    switch (msg.topic) {
      case 'stt': {
        const text = textOf(msg.payload).trim();
        if (text) this.enqueue(() => this.publisher.transcript(tracked.deviceId, text));
        this.startThinking(tracked, turn);
        return;
      }
      case 'tts.sentence': {
        this.collectReply(tracked, turn, textOf(msg.payload).trim());
        this.endThinking(tracked, true);
        return;
      }
      case 'audio': {
        // Only downlink speech (Opus packets from a TTS node), not microphone audio from `in`.
        const encoding = (msg.audio as { encoding?: unknown } | undefined)?.encoding;
        if (encoding === 'opus' || Array.isArray(msg.payload)) this.endThinking(tracked, true);
        return;
      }
      case 'reply.end':
      case 'say': {
        const text = textOf(msg.payload).trim();
        if (text) {
          tracked.replyTurn = turn;
          tracked.replyParts = [];
          tracked.replyPublished = true;
          this.enqueue(() => this.publisher.reply(tracked.deviceId, text));
        }
        return;
      }
      case 'tts.stop': {
        if (tracked.replyTurn === turn && !tracked.replyPublished && tracked.replyParts.length > 0) {
          const text = tracked.replyParts.join(' ');
          tracked.replyPublished = true;
          this.enqueue(() => this.publisher.reply(tracked.deviceId, text));
        }
        this.endThinking(tracked, false);
        return;
      }
      case 'abort':
      case 'session.end':
        this.endThinking(tracked, false);
        return;
      default:
    }
  }

  private collectReply(tracked: Tracked, turn: number, text: string): void {
    if (tracked.replyTurn !== turn) {
      tracked.replyTurn = turn;
      tracked.replyParts = [];
      tracked.replyPublished = false;
    }
    if (text && !tracked.replyPublished) tracked.replyParts.push(text);
  }

  private startThinking(tracked: Tracked, turn: number): void {
    if (tracked.thinkingTimer) clearTimeout(tracked.thinkingTimer);
    tracked.thinkingTurn = turn;
    tracked.thinkingTimer = setTimeout(() => this.endThinking(tracked, false), this.options.thinkingTimeoutMs ?? 30_000);
    tracked.thinkingTimer.unref?.();
    this.publishState(tracked, 'thinking');
  }

  /** Leave "thinking": to speaking (speech began) or to whatever the session is doing now. */
  private endThinking(tracked: Tracked, speaking: boolean): void {
    const wasThinking = tracked.thinkingTurn !== undefined;
    if (tracked.thinkingTimer) clearTimeout(tracked.thinkingTimer);
    tracked.thinkingTimer = undefined;
    tracked.thinkingTurn = undefined;
    if (speaking) this.publishState(tracked, 'speaking');
    else if (wasThinking) this.publishState(tracked, voiceStateOf(tracked.session.state));
  }

  private onSessionState(tracked: Tracked, state: SessionState): void {
    if (state === 'closed' || state === 'awaiting_hello') return;
    if (state === 'speaking') return this.endThinking(tracked, true);
    // Still the turn being answered (auto mode keeps listening, manual goes idle after listen stop).
    if (tracked.thinkingTurn !== undefined && tracked.session.turn === tracked.thinkingTurn) return;
    if (tracked.thinkingTurn !== undefined) this.endThinking(tracked, false);
    this.publishState(tracked, voiceStateOf(state));
  }

  private publishState(tracked: Tracked, state: VoiceDeviceState): void {
    // Only the device's newest session speaks for it (a device may reconnect before the old socket closed).
    if (this.latestSessionOf(tracked.deviceId) !== tracked) return;
    if (this.publishedState.get(tracked.deviceId) === state) return;
    this.publishedState.set(tracked.deviceId, state);
    this.enqueue(() => this.publisher.deviceState(tracked.deviceId, state));
  }

  private sessionOpened(session: Session): void {
    if (this.closed || this.sessions.has(session.id)) return;
    const tracked: Tracked = {
      session,
      deviceId: session.deviceId,
      replyParts: [],
      replyPublished: false,
      onState: (state) => this.onSessionState(tracked, state),
      onTools: (tools) => {
        if (this.options.readInitialVolume !== false && tools.some((t) => t.name === DEVICE_STATUS_TOOL)) void this.readVolume(tracked);
      },
    };
    this.sessions.set(session.id, tracked);
    session.on('state', tracked.onState);
    session.on('tools', tracked.onTools);
    const info = this.deviceInfo(session);
    this.publishedState.delete(tracked.deviceId);
    this.lastError = undefined;
    this.enqueue(() => this.publisher.deviceConnected(info));
    this.publishState(tracked, voiceStateOf(session.state));
    this.reportStatus();
  }

  private sessionClosed(session: Session): void {
    const tracked = this.sessions.get(session.id);
    if (!tracked) return;
    this.untrack(tracked);
    this.sessions.delete(session.id);
    const deviceId = tracked.deviceId;
    const next = this.latestSessionOf(deviceId);
    if (next) {
      // The device is still connected through a newer session: it stays online.
      this.publishState(next, voiceStateOf(next.session.state));
    } else {
      this.publishedState.delete(deviceId);
      this.enqueue(() => this.publisher.deviceDisconnected(deviceId));
    }
    this.reportStatus();
  }

  private untrack(tracked: Tracked): void {
    tracked.session.off('state', tracked.onState);
    tracked.session.off('tools', tracked.onTools);
    if (tracked.thinkingTimer) clearTimeout(tracked.thinkingTimer);
    tracked.thinkingTimer = undefined;
  }

  private deviceInfo(session: Session): VoiceDeviceInfo {
    const info: VoiceDeviceInfo = { id: session.deviceId };
    const name = session.hello?.device_name;
    if (typeof name === 'string' && name.trim()) info.name = name.trim();
    const ota = this.otaByDevice.get(session.deviceId);
    const model = ota?.boardName ?? ota?.boardType;
    if (model) info.model = model;
    if (ota?.firmwareVersion) info.firmwareVersion = ota.firmwareVersion;
    return info;
  }

  private rememberOta(ota: OtaRequest): void {
    if (!ota.deviceId) return;
    this.otaByDevice.delete(ota.deviceId);
    this.otaByDevice.set(ota.deviceId, ota);
    if (this.otaByDevice.size > MAX_OTA_RECORDS) {
      const oldest = this.otaByDevice.keys().next().value;
      if (oldest !== undefined) this.otaByDevice.delete(oldest);
    }
  }

  private async setVolume(deviceId: string, volume: number): Promise<void> {
    const tracked = this.latestSessionOf(deviceId);
    if (!tracked) {
      this.options.warn?.(`device ${deviceId} is not connected`);
      return;
    }
    try {
      const result = await tracked.session.callTool(SET_VOLUME_TOOL, { volume }, this.options.volumeTimeoutMs ?? 10_000);
      if (result.isError) throw new Error(result.text || 'the device refused');
      if (this.closed) return;
      this.enqueue(() => this.publisher.deviceVolume(deviceId, volume));
    } catch (error) {
      this.fail(`setting the volume of ${deviceId} to ${volume}: ${(error as Error).message}`);
    }
  }

  /** Ask the device for its status once and publish the volume it reports (best effort). */
  private async readVolume(tracked: Tracked): Promise<void> {
    try {
      const result = await tracked.session.callTool(DEVICE_STATUS_TOOL, {}, this.options.volumeTimeoutMs ?? 10_000);
      const volume = (JSON.parse(result.text) as { audio_speaker?: { volume?: unknown } }).audio_speaker?.volume;
      if (typeof volume === 'number' && Number.isFinite(volume) && !this.closed) {
        this.enqueue(() => this.publisher.deviceVolume(tracked.deviceId, volume));
      }
    } catch {
      // Older firmware answers differently or not at all: the volume shows once HA sets it.
    }
  }

  /** Newest open session of a device; the id may be spelled with or without separators, any case. */
  private latestSessionOf(deviceId: string): Tracked | undefined {
    const want = deviceTopicId(deviceId);
    let found: Tracked | undefined;
    for (const tracked of this.sessions.values()) {
      if (tracked.deviceId !== deviceId && deviceTopicId(tracked.deviceId) !== want) continue;
      if (!found || tracked.session.connectedAt >= found.session.connectedAt) found = tracked;
    }
    return found;
  }

  private latestSessions(): Tracked[] {
    const byDevice = new Map<string, Tracked>();
    for (const tracked of this.sessions.values()) {
      const current = byDevice.get(tracked.deviceId);
      if (!current || tracked.session.connectedAt >= current.session.connectedAt) byDevice.set(tracked.deviceId, tracked);
    }
    return [...byDevice.values()];
  }

  private deviceIds(): string[] {
    return [...new Set([...this.sessions.values()].map((t) => t.deviceId))];
  }

  private enqueue(publish: () => Promise<void>): void {
    this.queue = this.queue.then(publish).catch((error: Error) => this.fail(`home assistant publish failed: ${error.message}`));
  }

  private fail(message: string): void {
    this.lastError = message;
    this.options.warn?.(message);
    this.reportStatus();
  }

  private reportStatus(): void {
    const status: HaStageStatus = { devices: this.connectedDevices };
    if (this.lastError) status.lastError = this.lastError;
    this.options.onStatus?.(status);
  }
}

/** The HA state of a session state ('thinking' is decided by the stage, never by the gateway). */
function voiceStateOf(state: SessionState): VoiceDeviceState {
  return state === 'listening' || state === 'speaking' ? state : 'idle';
}
