/**
 * Device tokens (protocol.md §1.4) and MQTT credentials (§4.2, end). Byte-compatible with the
 * Python server and the MQTT gateway, so tokens minted by either side verify on the other.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Default token lifetime: 30 days, as in the Python server. */
export const DEFAULT_TOKEN_EXPIRE_SECONDS = 2_592_000;

/** Tokens stamped further than this in the future are refused (clock skew allowance). */
export const MAX_TOKEN_CLOCK_SKEW_SECONDS = 300;

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function tokenSignature(secret: string, clientId: string, deviceId: string, ts: string): string {
  // Node's base64url encoding has no padding, which is the format the Python server emits.
  return createHmac('sha256', secret).update(`${clientId}|${deviceId}|${ts}`, 'utf8').digest('base64url');
}

/**
 * Mint a device token `<base64url-nopad HMAC-SHA256(secret, "clientId|deviceId|ts")>.<ts>`.
 * The OTA endpoint hands it out; the device sends it back as `Authorization: Bearer <token>`.
 * Pass ids exactly as the device will present them on the WebSocket (FW uses a lower-case MAC).
 */
export function createDeviceToken(
  secret: string,
  clientId: string,
  deviceId: string,
  nowSec: number = nowSeconds(),
): string {
  const ts = String(Math.floor(nowSec));
  return `${tokenSignature(secret, clientId, deviceId, ts)}.${ts}`;
}

/** Result of {@link verifyDeviceToken}. */
export type TokenVerification =
  | { ok: true; issuedAtSec: number }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

const TOKEN_SHAPE = /^([A-Za-z0-9_-]+)\.(\d{1,12})$/;
const BEARER_PREFIX = /^bearer\s+/i;

/**
 * Check a device token against the ids the connection presents. Accepts the token with or
 * without a leading `Bearer ` (any case). The signature is compared in constant time and checked
 * before the clock, so a forged token learns nothing about timing windows. A token stamped more
 * than 5 minutes in the future is reported as `expired` (outside its validity window).
 */
export function verifyDeviceToken(
  secret: string,
  token: string,
  clientId: string,
  deviceId: string,
  opts: { expireSeconds?: number; nowSec?: number } = {},
): TokenVerification {
  const match = TOKEN_SHAPE.exec(token.trim().replace(BEARER_PREFIX, ''));
  if (match === null) return { ok: false, reason: 'malformed' };
  const [, signature = '', ts = ''] = match;
  const expected = Buffer.from(tokenSignature(secret, clientId, deviceId, ts), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual needs equal lengths; a length mismatch reveals only the (public) digest size.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad_signature' };
  const issuedAtSec = Number(ts);
  const now = opts.nowSec ?? nowSeconds();
  const expireSeconds = opts.expireSeconds ?? DEFAULT_TOKEN_EXPIRE_SECONDS;
  if (now - issuedAtSec > expireSeconds) return { ok: false, reason: 'expired' };
  if (issuedAtSec - now > MAX_TOKEN_CLOCK_SKEW_SECONDS) return { ok: false, reason: 'expired' };
  return { ok: true, issuedAtSec };
}

/** MQTT connection credentials for the MQTT+UDP transport, as the OTA endpoint hands them out. */
export interface MqttCredentials {
  /** `GID_<board type>@@@<mac_with_underscores>@@@<mac_with_underscores>` */
  clientId: string;
  /** base64 of a small JSON object (`{"ip": "unknown"}`) */
  username: string;
  /** base64(HMAC-SHA256(signatureKey, clientId + "|" + username)) */
  password: string;
}

function mqttPassword(signatureKey: string, clientId: string, username: string): string {
  return createHmac('sha256', signatureKey).update(`${clientId}|${username}`, 'utf8').digest('base64');
}

/**
 * Mint MQTT credentials the way the Python OTA does (and the MQTT gateway verifies). The group
 * id replaces `:` and spaces of the board type with `_`; the MAC's colons become underscores.
 * The username text matches Python's `json.dumps` output byte for byte (note the space).
 */
export function createMqttCredentials(signatureKey: string, boardType: string, mac: string): MqttCredentials {
  const groupId = `GID_${boardType}`.replace(/[: ]/g, '_');
  const safeMac = mac.replace(/:/g, '_');
  const clientId = `${groupId}@@@${safeMac}@@@${safeMac}`;
  const username = Buffer.from('{"ip": "unknown"}', 'utf8').toString('base64');
  return { clientId, username, password: mqttPassword(signatureKey, clientId, username) };
}

/** Check an MQTT CONNECT's credentials (constant-time); any client id / username shape is accepted if signed. */
export function verifyMqttCredentials(signatureKey: string, clientId: string, username: string, password: string): boolean {
  const expected = Buffer.from(mqttPassword(signatureKey, clientId, username), 'utf8');
  const given = Buffer.from(password, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
