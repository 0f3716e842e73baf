/**
 * The OTA / activation endpoint (protocol.md §5): reading the device's check-in request and
 * building the answer that tells it where the WebSocket server is. Pure: the HTTP server that
 * calls these lives in gateway/.
 */
import { ProtocolError } from './errors';

/** What a device (or browser) told us in its OTA check-in. */
export interface OtaRequest {
  /** Wi-Fi MAC, lower-case (`Device-Id` header, else body `mac_address`). */
  deviceId: string;
  /** Per-install UUID (`Client-Id` header, else body `uuid`, else the device id). */
  clientId: string;
  /** body `application.version`, else the part after `/` in User-Agent. */
  firmwareVersion?: string;
  /** body `board.type`. */
  boardType?: string;
  /** body `board.name`, else the part before `/` in User-Agent. */
  boardName?: string;
  /** body `chip_model_name`. */
  chipModel?: string;
  /** body `language`, else the first Accept-Language tag. */
  language?: string;
  userAgent?: string;
  /** `Activation-Version` header: 1, or 2 when the chip has an efuse serial number. */
  activationVersion?: number;
  /** `Serial-Number` header. */
  serialNumber?: string;
  /** The request body as an object (`{}` when absent or not an object). */
  body: Record<string, unknown>;
}

/** Device ids longer than this are refused: a MAC is 17 characters, web ids are short too. */
export const MAX_DEVICE_ID_LENGTH = 128;

type Headers = Record<string, string | string[] | undefined>;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Case-insensitive header lookup (Node lower-cases names, other callers may not); first value wins. */
function header(headers: Headers, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    const first = Array.isArray(value) ? value[0] : value;
    const trimmed = first?.trim();
    if (trimmed !== undefined && trimmed !== '') return trimmed;
  }
  return undefined;
}

function nonEmptyString(x: unknown): string | undefined {
  if (typeof x !== 'string') return undefined;
  const trimmed = x.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** The body may arrive parsed, as a string, as a Buffer, or not at all; never throw on it. */
function bodyObject(body: unknown): Record<string, unknown> {
  if (isPlainObject(body) && !Buffer.isBuffer(body)) return body;
  let text: string | undefined;
  if (typeof body === 'string') text = body;
  else if (Buffer.isBuffer(body)) text = body.toString('utf8');
  if (text === undefined || text.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    return isPlainObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * Read an OTA check-in. Headers are matched case-insensitively. The body is whatever the HTTP
 * layer has (object, JSON string, Buffer, undefined); fields of the wrong type are ignored
 * (FW sends `minimum_free_heap_size` as a string, and other clients send less).
 * @throws ProtocolError('bad_request') when no device id can be found, or it is absurdly long
 */
export function parseOtaRequest(headers: Headers, body: unknown): OtaRequest {
  const obj = bodyObject(body);
  const rawDeviceId = header(headers, 'device-id') ?? nonEmptyString(obj.mac_address);
  if (rawDeviceId === undefined) {
    throw new ProtocolError('bad_request', 'Device-Id header (or mac_address in the body) is required', 'device-id');
  }
  if (rawDeviceId.length > MAX_DEVICE_ID_LENGTH) {
    throw new ProtocolError('bad_request', `Device-Id is longer than ${MAX_DEVICE_ID_LENGTH} characters`, 'device-id');
  }
  const deviceId = rawDeviceId.toLowerCase();
  // FW always sends a Client-Id; a client that sends none gets its device id, so the token
  // minted here still verifies if the WebSocket side applies the same fallback.
  const clientId = header(headers, 'client-id') ?? nonEmptyString(obj.uuid) ?? deviceId;

  const request: OtaRequest = { deviceId, clientId, body: obj };
  const userAgent = header(headers, 'user-agent');
  // FW's User-Agent is `<BOARD_NAME>/<firmware version>`.
  const slash = userAgent?.indexOf('/') ?? -1;
  const uaName = userAgent !== undefined && slash > 0 ? userAgent.slice(0, slash) : undefined;
  const uaVersion = userAgent !== undefined && slash > 0 ? nonEmptyString(userAgent.slice(slash + 1).split(' ')[0]) : undefined;

  const application = isPlainObject(obj.application) ? obj.application : {};
  const board = isPlainObject(obj.board) ? obj.board : {};
  const firmwareVersion = nonEmptyString(application.version) ?? uaVersion;
  if (firmwareVersion !== undefined) request.firmwareVersion = firmwareVersion;
  const boardType = nonEmptyString(board.type);
  if (boardType !== undefined) request.boardType = boardType;
  const boardName = nonEmptyString(board.name) ?? uaName;
  if (boardName !== undefined) request.boardName = boardName;
  const chipModel = nonEmptyString(obj.chip_model_name);
  if (chipModel !== undefined) request.chipModel = chipModel;
  const language = nonEmptyString(obj.language) ?? nonEmptyString(header(headers, 'accept-language')?.split(',')[0]?.split(';')[0]);
  if (language !== undefined) request.language = language;
  if (userAgent !== undefined) request.userAgent = userAgent;
  const activation = header(headers, 'activation-version');
  if (activation !== undefined && /^\d+$/.test(activation)) request.activationVersion = Number(activation);
  const serialNumber = header(headers, 'serial-number');
  if (serialNumber !== undefined) request.serialNumber = serialNumber;
  return request;
}

/** The OTA answer (§5.2), in the firmware's own field names. */
export interface OtaResponse {
  server_time: { timestamp: number; timezone_offset: number };
  firmware: { version: string; url: string; force?: 0 | 1 };
  websocket: { url: string; token: string; version?: 2 | 3 };
  mqtt?: {
    endpoint: string;
    client_id: string;
    username: string;
    password: string;
    publish_topic: string;
    subscribe_topic: string;
    keepalive: number;
  };
  activation?: { code: string; message: string; challenge?: string; timeout_ms?: number };
}

/** Options of {@link buildOtaResponse}. */
export interface OtaResponseOptions {
  /** `ws://` or `wss://` URL the device can reach (a LAN address, never 0.0.0.0). */
  websocketUrl: string;
  /** Device token (§1.4); empty when auth is off or the device is whitelisted. */
  token?: string;
  /** Binary protocol version to store on the device; sent only when it is not 1. */
  protocolVersion?: 1 | 2 | 3;
  /** Server clock, ms since the epoch. Default `Date.now()`. */
  nowMs?: number;
  /** Minutes east of UTC, added by FW before it sets its clock. Default: this server's zone. */
  timezoneOffsetMin?: number;
  /** Firmware on offer; announced only when it differs from (and, without force, is newer than) the device's. */
  firmware?: { version: string; url: string; force?: boolean };
  /** The device's running version (from {@link parseOtaRequest}). */
  currentFirmwareVersion?: string;
  /** MQTT+UDP settings. Sending them switches the device to MQTT for good, so only when asked. */
  mqtt?: {
    endpoint: string;
    clientId: string;
    username: string;
    password: string;
    publishTopic: string;
    subscribeTopic: string;
    keepaliveSec?: number;
  };
  /** Activation code to show and speak; omit to skip activation. */
  activation?: { code: string; message: string; challenge?: string; timeoutMs?: number };
}

/**
 * Build the OTA answer. It always has `server_time`, `firmware` and `websocket`; `mqtt` and
 * `activation` appear only when given (a WS-only server must not send `mqtt`, §5.2).
 * When no update applies, `firmware` repeats the device's own version with an empty url, so
 * FW never upgrades by accident; `force` is only sent with a version different from the
 * device's, so a forced image cannot put a device in a reflash loop.
 * @throws ProtocolError('invalid_field') when websocketUrl is not a reachable ws(s) URL
 */
export function buildOtaResponse(opts: OtaResponseOptions): OtaResponse {
  checkWebsocketUrl(opts.websocketUrl);
  const nowMs = opts.nowMs ?? Date.now();
  // getTimezoneOffset() is minutes *behind* UTC (UTC+8 gives -480); FW wants minutes ahead.
  const timezoneOffsetMin = opts.timezoneOffsetMin ?? -new Date(nowMs).getTimezoneOffset();

  const current = opts.currentFirmwareVersion ?? '';
  let firmware: OtaResponse['firmware'] = { version: current, url: '' };
  const offer = opts.firmware;
  if (offer !== undefined && offer.url !== '') {
    const order = current === '' ? 1 : compareFirmwareVersions(offer.version, current);
    if (order > 0 || (offer.force === true && order !== 0)) {
      firmware = { version: offer.version, url: offer.url, force: offer.force === true ? 1 : 0 };
    }
  }

  const websocket: OtaResponse['websocket'] = { url: opts.websocketUrl, token: opts.token ?? '' };
  if (opts.protocolVersion === 2 || opts.protocolVersion === 3) websocket.version = opts.protocolVersion;

  const response: OtaResponse = {
    server_time: { timestamp: Math.trunc(nowMs), timezone_offset: Math.trunc(timezoneOffsetMin) },
    firmware,
    websocket,
  };
  if (opts.mqtt !== undefined) {
    response.mqtt = {
      endpoint: opts.mqtt.endpoint,
      client_id: opts.mqtt.clientId,
      username: opts.mqtt.username,
      password: opts.mqtt.password,
      publish_topic: opts.mqtt.publishTopic,
      subscribe_topic: opts.mqtt.subscribeTopic,
      keepalive: opts.mqtt.keepaliveSec ?? 240,
    };
  }
  if (opts.activation !== undefined) {
    const activation: NonNullable<OtaResponse['activation']> = { code: opts.activation.code, message: opts.activation.message };
    if (opts.activation.challenge !== undefined) activation.challenge = opts.activation.challenge;
    if (opts.activation.timeoutMs !== undefined) activation.timeout_ms = opts.activation.timeoutMs;
    response.activation = activation;
  }
  return response;
}

/** Reject URLs a device can never use: FW stores the string verbatim and retries forever. */
function checkWebsocketUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ProtocolError('invalid_field', `websocket url ${JSON.stringify(url)} is not a URL`, 'websocketUrl');
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new ProtocolError('invalid_field', `websocket url must start with ws:// or wss://, got ${JSON.stringify(url)}`, 'websocketUrl');
  }
  if (parsed.hostname === '0.0.0.0' || parsed.hostname === '[::]') {
    throw new ProtocolError(
      'invalid_field',
      `websocket url ${JSON.stringify(url)} is a listen-all address; give the device an address it can reach`,
      'websocketUrl',
    );
  }
}

/** Leading decimal digits of a version part, as FW's `std::stoi` reads them ("2-6" -> 2); else 0. */
function versionPart(part: string | undefined): number {
  const match = /^\d+/.exec(part ?? '');
  return match === null ? 0 : Number(match[0]);
}

/**
 * Compare dotted-numeric firmware versions ("2.4.2" vs "2.10.0"): negative when a < b, 0 when
 * equal, positive when a > b. A leading `v` is ignored, missing parts count as 0, and each part
 * is read by its leading digits, as FW does.
 */
export function compareFirmwareVersions(a: string, b: string): number {
  const pa = a.trim().replace(/^v/i, '').split('.');
  const pb = b.trim().replace(/^v/i, '').split('.');
  const n = Math.max(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const diff = versionPart(pa[i]) - versionPart(pb[i]);
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return 0;
}
