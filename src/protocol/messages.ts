/**
 * The JSON (WebSocket text-frame) messages of the xiaozhi protocol, both directions
 * (protocol.md §2). Client messages are validated here once, so the rest of the server can
 * trust their types; server messages are built here so their shape lives in one place.
 * Pure: no I/O, no framework.
 */
import { ProtocolError } from './errors';
import type { JsonRpcMessage } from './mcp';

// ------------------------------------------------------------------------------------------
// Client -> server

/** Fields every client message may carry. FW puts the last server-given session id in all of them. */
interface ClientMessageBase {
  session_id?: string;
  /** Unknown extra fields are kept (newer firmware adds some, e.g. `text_font`). */
  [extra: string]: unknown;
}

/** Client `hello` feature flags (§2.1). Unknown flags are kept. */
export interface HelloFeatures {
  mcp?: boolean;
  aec?: boolean;
  emoji?: boolean;
  glyph_push?: boolean;
  [flag: string]: unknown;
}

/** Uplink audio parameters the client announces (§2.1). Absent from the web client's hello. */
export interface ClientAudioParams {
  format?: string;
  sample_rate?: number;
  channels?: number;
  frame_duration?: number;
  [extra: string]: unknown;
}

/**
 * C->S `hello` (§2.1), in the firmware form (version, transport, features, audio_params) or the
 * web-client form (device_id, device_name, device_mac, token, features; no audio_params).
 */
export interface ClientHello extends ClientMessageBase {
  type: 'hello';
  /** Binary protocol version (1, 2 or 3); equals the Protocol-Version header. */
  version?: number;
  transport?: string;
  features?: HelloFeatures;
  audio_params?: ClientAudioParams;
  device_id?: string;
  device_name?: string;
  device_mac?: string;
  token?: string;
}

/** Listening modes (§2.3): auto (device AEC off), manual (push to talk), realtime (AEC on). */
export type ListenMode = 'auto' | 'manual' | 'realtime';

/** C->S `listen` (§2.3). `detect` carries the wake phrase or a typed utterance in `text`. */
export interface ListenMessage extends ClientMessageBase {
  type: 'listen';
  state: 'start' | 'stop' | 'detect';
  mode?: ListenMode;
  text?: string;
}

/** C->S `abort` (§2.4); `reason` is `wake_word_detected` or absent. Always answer with `tts stop`. */
export interface AbortMessage extends ClientMessageBase {
  type: 'abort';
  reason?: string;
}

/** `mcp` envelope (§2.6), both directions: a JSON-RPC 2.0 object in `payload`. */
export interface McpEnvelope extends ClientMessageBase {
  type: 'mcp';
  payload: JsonRpcMessage;
}

/** Legacy C->S `iot` (§2.7, FW <= 1.7.x): thing descriptors or states. */
export interface IotMessage extends ClientMessageBase {
  type: 'iot';
  update?: boolean;
  descriptors?: unknown[];
  states?: unknown[];
}

/** C->S `goodbye` (MQTT transport, §4.1): the device closes its audio channel. */
export interface GoodbyeMessage extends ClientMessageBase {
  type: 'goodbye';
}

/** C->S application-level `ping` (Python-server extension); answer with `pongMessage()`. */
export interface PingMessage extends ClientMessageBase {
  type: 'ping';
}

/** Every message a client may send. */
export type ClientMessage =
  | ClientHello
  | ListenMessage
  | AbortMessage
  | McpEnvelope
  | IotMessage
  | GoodbyeMessage
  | PingMessage;

/** The `type` values of client messages. */
export type ClientMessageType = ClientMessage['type'];

/**
 * Default limit for one client text message. FW pages its tools/list results at about 8 KB,
 * so real messages stay far below this; anything bigger is a broken or hostile client.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

type Json = Record<string, unknown>;

function isPlainObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function fail(field: string, expected: string, value: unknown): never {
  throw new ProtocolError('invalid_field', `${field} must be ${expected}, got ${describe(value)}`, field);
}

function optionalString(obj: Json, key: string, path: string): void {
  const v = obj[key];
  if (v !== undefined && typeof v !== 'string') fail(`${path}.${key}`, 'a string', v);
}

function optionalBoolean(obj: Json, key: string, path: string): void {
  const v = obj[key];
  if (v !== undefined && typeof v !== 'boolean') fail(`${path}.${key}`, 'a boolean', v);
}

function optionalPositiveNumber(obj: Json, key: string, path: string): void {
  const v = obj[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${path}.${key}`, 'a number', v);
  if (v <= 0) {
    throw new ProtocolError('invalid_field', `${path}.${key} must be a positive number, got ${v}`, `${path}.${key}`);
  }
}

function optionalInteger(obj: Json, key: string, path: string): void {
  const v = obj[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${path}.${key}`, 'an integer', v);
}

function optionalArray(obj: Json, key: string, path: string): void {
  const v = obj[key];
  if (v !== undefined && !Array.isArray(v)) fail(`${path}.${key}`, 'an array', v);
}

function validateHello(msg: Json): ClientHello {
  optionalInteger(msg, 'version', 'hello');
  optionalString(msg, 'transport', 'hello');
  for (const key of ['device_id', 'device_name', 'device_mac', 'token']) optionalString(msg, key, 'hello');
  const features = msg.features;
  if (features !== undefined) {
    if (!isPlainObject(features)) fail('hello.features', 'an object', features);
    for (const key of ['mcp', 'aec', 'emoji', 'glyph_push']) optionalBoolean(features, key, 'hello.features');
  }
  const audio = msg.audio_params;
  if (audio !== undefined) {
    if (!isPlainObject(audio)) fail('hello.audio_params', 'an object', audio);
    optionalString(audio, 'format', 'hello.audio_params');
    optionalPositiveNumber(audio, 'sample_rate', 'hello.audio_params');
    optionalPositiveNumber(audio, 'channels', 'hello.audio_params');
    optionalPositiveNumber(audio, 'frame_duration', 'hello.audio_params');
  }
  return msg as ClientHello;
}

const LISTEN_STATES: ReadonlySet<unknown> = new Set(['start', 'stop', 'detect']);
const LISTEN_MODES: ReadonlySet<unknown> = new Set(['auto', 'manual', 'realtime']);

function validateListen(msg: Json): ListenMessage {
  if (!LISTEN_STATES.has(msg.state)) {
    throw new ProtocolError(
      'invalid_field',
      `listen.state must be "start", "stop" or "detect", got ${typeof msg.state === 'string' ? JSON.stringify(msg.state) : describe(msg.state)}`,
      'listen.state',
    );
  }
  if (msg.mode !== undefined && !LISTEN_MODES.has(msg.mode)) {
    throw new ProtocolError(
      'invalid_field',
      `listen.mode must be "auto", "manual" or "realtime", got ${typeof msg.mode === 'string' ? JSON.stringify(msg.mode) : describe(msg.mode)}`,
      'listen.mode',
    );
  }
  if (msg.state === 'detect' && typeof msg.text !== 'string') fail('listen.text', 'a string when state is "detect"', msg.text);
  optionalString(msg, 'text', 'listen');
  return msg as ListenMessage;
}

function validateAbort(msg: Json): AbortMessage {
  optionalString(msg, 'reason', 'abort');
  return msg as AbortMessage;
}

function validateMcp(msg: Json): McpEnvelope {
  // Only the envelope is checked here; JSON-RPC details (id type, result vs error) are the MCP
  // client's business, which answers a bad payload without tearing the session down.
  if (!isPlainObject(msg.payload)) fail('mcp.payload', 'a JSON-RPC object', msg.payload);
  return msg as McpEnvelope;
}

function validateIot(msg: Json): IotMessage {
  optionalBoolean(msg, 'update', 'iot');
  optionalArray(msg, 'descriptors', 'iot');
  optionalArray(msg, 'states', 'iot');
  return msg as IotMessage;
}

const VALIDATORS: Record<ClientMessageType, (msg: Json) => ClientMessage> = {
  hello: validateHello,
  listen: validateListen,
  abort: validateAbort,
  mcp: validateMcp,
  iot: validateIot,
  goodbye: (msg) => msg as GoodbyeMessage,
  ping: (msg) => msg as PingMessage,
};

/**
 * Parse and validate one client text message.
 *
 * The size is checked before `JSON.parse`, so a huge message costs no parsing. Unknown extra
 * fields are kept. `session_id: null` is dropped (treated as absent).
 *
 * @param text the WebSocket text frame
 * @param maxBytes limit on the UTF-8 size of `text` (default {@link DEFAULT_MAX_MESSAGE_BYTES})
 * @throws ProtocolError `too_large`, `invalid_json` (not JSON, or JSON that is not an object,
 *   e.g. a bare number), `missing_type`, `unknown_type`, `invalid_field`
 */
export function parseClientMessage(text: string, maxBytes: number = DEFAULT_MAX_MESSAGE_BYTES): ClientMessage {
  // A UTF-16 code unit is at least one UTF-8 byte, so the length test alone rejects most
  // oversize input without scanning it; byteLength settles the rest.
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new ProtocolError('too_large', `message is larger than the ${maxBytes}-byte limit`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ProtocolError('invalid_json', 'message is not valid JSON');
  }
  if (!isPlainObject(parsed)) {
    throw new ProtocolError('invalid_json', `message must be a JSON object, got ${describe(parsed)}`);
  }
  const type = parsed.type;
  if (type === undefined || type === null || type === '') {
    throw new ProtocolError('missing_type', 'message has no "type" field', 'type');
  }
  if (typeof type !== 'string') fail('type', 'a string', type);
  if (!Object.prototype.hasOwnProperty.call(VALIDATORS, type)) {
    throw new ProtocolError('unknown_type', `unknown message type ${JSON.stringify(type.slice(0, 64))}`, 'type');
  }
  if (parsed.session_id === null) delete parsed.session_id;
  optionalString(parsed, 'session_id', type);
  return VALIDATORS[type as ClientMessageType](parsed);
}

// ------------------------------------------------------------------------------------------
// Server -> client

/** UDP channel parameters of an MQTT-transport server hello (§4.1); key and nonce are 32 hex chars. */
export interface ServerHelloUdp {
  server: string;
  port: number;
  key: string;
  nonce: string;
  /** FW ignores it; the gateway sends `aes-128-ctr`. */
  encryption?: string;
}

/** S->C `hello` (§2.2). FW requires `transport` to match its own and reads the audio params. */
export interface ServerHello {
  type: 'hello';
  version: number;
  transport: 'websocket' | 'udp';
  session_id: string;
  audio_params: { format: 'opus'; sample_rate: number; channels: 1; frame_duration: number };
  udp?: Required<ServerHelloUdp>;
}

/** S->C `stt`: the recognised user text (shows the user bubble). */
export interface SttMessage {
  type: 'stt';
  session_id: string;
  text: string;
}

/** TTS states FW acts on (`sentence_end` is not handled by FW and is not offered). */
export type TtsState = 'start' | 'sentence_start' | 'stop';

/** S->C `tts`. Audio is dropped by FW unless `start` came first; `stop` ends every turn. */
export interface TtsMessage {
  type: 'tts';
  session_id: string;
  state: TtsState;
  text?: string;
}

/** S->C `llm` emotion: FW sets its face from `emotion` and ignores `text` (the emoji). */
export interface LlmEmotionMessage {
  type: 'llm';
  session_id: string;
  emotion: string;
  text: string;
}

/** S->C `mcp` envelope. */
export interface ServerMcpEnvelope {
  type: 'mcp';
  session_id: string;
  payload: JsonRpcMessage;
}

/** S->C `alert`: FW requires all three strings. */
export interface AlertMessage {
  type: 'alert';
  session_id: string;
  status: string;
  message: string;
  emotion: string;
}

/** S->C `system`: FW knows only `reboot`. */
export interface SystemMessage {
  type: 'system';
  session_id: string;
  command: string;
}

/** S->C `goodbye` (MQTT transport): FW closes UDP only when session_id matches. */
export interface ServerGoodbyeMessage {
  type: 'goodbye';
  session_id: string;
}

/** S->C `error`: our own report of bad input. FW ignores unknown types; browsers and tests read it. */
export interface ErrorMessage {
  type: 'error';
  session_id?: string;
  code: string;
  message: string;
}

/** S->C `pong`, answering an application `ping`; the timestamp is local `YYYY-MM-DD HH:MM:SS`. */
export interface PongMessage {
  type: 'pong';
  timestamp: string;
}

/** Every message the server sends. */
export type ServerMessage =
  | ServerHello
  | SttMessage
  | TtsMessage
  | LlmEmotionMessage
  | ServerMcpEnvelope
  | AlertMessage
  | SystemMessage
  | ServerGoodbyeMessage
  | ErrorMessage
  | PongMessage;

/** Options of {@link serverHello}. */
export interface ServerHelloOptions {
  sessionId: string;
  /** Rate the downlink Opus is encoded at; FW sets its decoder from it. Default 24000. */
  sampleRateHz?: number;
  /** Downlink packet duration; each packet must be no longer. Default 60. */
  frameMs?: number;
  /** Must equal the device's transport. Default `websocket`. */
  transport?: 'websocket' | 'udp';
  /** Binary protocol version echoed to the client. Default 1. */
  version?: number;
  /** UDP channel, for the MQTT transport only. */
  udp?: ServerHelloUdp;
}

/** Build the server `hello` that must answer the client hello within 10 s (5 s for the web client). */
export function serverHello(opts: ServerHelloOptions): ServerHello {
  const hello: ServerHello = {
    type: 'hello',
    version: opts.version ?? 1,
    transport: opts.transport ?? 'websocket',
    session_id: opts.sessionId,
    audio_params: { format: 'opus', sample_rate: opts.sampleRateHz ?? 24000, channels: 1, frame_duration: opts.frameMs ?? 60 },
  };
  if (opts.udp !== undefined) {
    hello.udp = {
      server: opts.udp.server,
      port: opts.udp.port,
      encryption: opts.udp.encryption ?? 'aes-128-ctr',
      key: opts.udp.key,
      nonce: opts.udp.nonce,
    };
  }
  return hello;
}

/** Build `stt` (the user's words, shown as the user bubble). */
export function sttMessage(sessionId: string, text: string): SttMessage {
  return { type: 'stt', session_id: sessionId, text };
}

/** Build `tts`; `text` belongs to `sentence_start` (the subtitle) and is omitted when undefined. */
export function ttsMessage(sessionId: string, state: TtsState, text?: string): TtsMessage {
  const msg: TtsMessage = { type: 'tts', session_id: sessionId, state };
  if (text !== undefined) msg.text = text;
  return msg;
}

/** Build `llm` (emotion name and its emoji). */
export function llmEmotionMessage(sessionId: string, emotion: string, text: string): LlmEmotionMessage {
  return { type: 'llm', session_id: sessionId, emotion, text };
}

/** Build an `mcp` envelope around a JSON-RPC message. */
export function mcpEnvelope(sessionId: string, payload: JsonRpcMessage): ServerMcpEnvelope {
  return { type: 'mcp', session_id: sessionId, payload };
}

/** Build `alert` (shown on screen with a vibration sound). */
export function alertMessage(sessionId: string, status: string, message: string, emotion: string): AlertMessage {
  return { type: 'alert', session_id: sessionId, status, message, emotion };
}

/** Build `system` (FW knows only `reboot`). */
export function systemMessage(sessionId: string, command: string): SystemMessage {
  return { type: 'system', session_id: sessionId, command };
}

/** Build `goodbye` (MQTT transport: tells the device to close its UDP channel). */
export function goodbyeMessage(sessionId: string): ServerGoodbyeMessage {
  return { type: 'goodbye', session_id: sessionId };
}

/** Build our `error` report; `sessionId` may be undefined before the hello. */
export function errorMessage(sessionId: string | undefined, code: string, message: string): ErrorMessage {
  const msg: ErrorMessage = { type: 'error', code, message };
  if (sessionId !== undefined) msg.session_id = sessionId;
  return msg;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Build `pong` with the server's local time, as the Python server does. */
export function pongMessage(nowMs: number = Date.now()): PongMessage {
  const d = new Date(nowMs);
  const timestamp =
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return { type: 'pong', timestamp };
}

// ------------------------------------------------------------------------------------------
// Emotions (§2.5)

/** Emotion names FW faces know, with the emoji the Python server maps them from. */
export const EMOTIONS: Record<string, string> = {
  funny: '😂',
  crying: '😭',
  angry: '😠',
  sad: '😔',
  loving: '😍',
  surprised: '😲',
  shocked: '😱',
  thinking: '🤔',
  relaxed: '😌',
  sleepy: '😴',
  silly: '😜',
  confused: '🙄',
  neutral: '😶',
  happy: '🙂',
  laughing: '😆',
  embarrassed: '😳',
  winking: '😉',
  cool: '😎',
  delicious: '🤤',
  kissy: '😘',
  confident: '😏',
};

/** The emotion to send when the reply carries no known emoji (the Python server's choice). */
export const DEFAULT_EMOTION = 'happy';

const EMOTION_BY_EMOJI: ReadonlyMap<string, string> = new Map(
  Object.entries(EMOTIONS).map(([name, emoji]) => [emoji, name]),
);

// Variation selectors (U+FE0E text, U+FE0F emoji presentation) do not change which emoji it is.
const VARIATION_SELECTORS = /[\uFE0E\uFE0F]/g;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The first emoji in `text` that names an emotion, or undefined. Works on grapheme clusters,
 * ignoring variation selectors; a cluster that is not itself in the map (a ZWJ sequence or a
 * skin-tone variant) counts by its first code point, as the Python server (which scans code
 * points) would see it.
 */
export function emotionFromText(text: string): { emotion: string; emoji: string } | undefined {
  for (const { segment } of graphemes.segment(text)) {
    // Fast skip for plain text: every mapped emoji is outside the BMP.
    if (segment.length === 1) continue;
    const bare = segment.replace(VARIATION_SELECTORS, '');
    let emotion = EMOTION_BY_EMOJI.get(bare);
    if (emotion === undefined) {
      const first = String.fromCodePoint(bare.codePointAt(0) ?? 0);
      emotion = EMOTION_BY_EMOJI.get(first);
    }
    if (emotion !== undefined) return { emotion, emoji: EMOTIONS[emotion] ?? bare };
  }
  return undefined;
}
