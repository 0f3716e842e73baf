/**
 * Authentication of MQTT CONNECTs on the embedded broker: configured users (with a role), signed
 * xiaozhi device credentials (protocol.md §4.2), and anonymous access from loopback only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { verifyMqttCredentials } from '../protocol/token';
import { deviceIdFromClientId, type BrokerIdentity } from './broker-acl';
import { BROKER_ROLES, BrokerError, type BrokerRole, type BrokerUser } from './broker-types';

/** Options of {@link BrokerAuthenticator}. */
export interface BrokerAuthOptions {
  /** Accepted username/password pairs. */
  users?: BrokerUser[];
  /** Let clients connect without credentials from 127.0.0.1 / ::1 (default true). Other addresses always need credentials. */
  allowAnonymousLoopback?: boolean;
  /** Role of anonymous loopback clients (default `admin`: the machine's own Node-RED and tools). */
  anonymousRole?: BrokerRole;
  /** Accept xiaozhi device credentials signed with this key (role `device`). */
  deviceSignatureKey?: string;
}

/** What the broker knows about a CONNECT when it authenticates it. */
export interface ConnectAttempt {
  clientId: string;
  username?: string;
  password?: Buffer | string;
  /** Peer address of the TCP connection (for WebSocket: of the HTTP request). */
  remoteAddress?: string;
  /** The connection came through a proxy (X-Forwarded-For / Forwarded header): never treated as loopback. */
  proxied?: boolean;
}

/** MQTT 3.1.1 CONNACK return codes used on refusal (§3.2.2.3). */
export const CONNACK_BAD_USERNAME_OR_PASSWORD = 4;
export const CONNACK_NOT_AUTHORIZED = 5;

/** Outcome of {@link BrokerAuthenticator.authenticate}. */
export type AuthResult =
  | { ok: true; identity: BrokerIdentity }
  | { ok: false; returnCode: typeof CONNACK_BAD_USERNAME_OR_PASSWORD | typeof CONNACK_NOT_AUTHORIZED; reason: string };

/** True for IPv4/IPv6 loopback addresses, including the IPv4-mapped IPv6 form. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice('::ffff:'.length) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

function digest(value: Buffer | string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time equality that also hides the length of the secret (both sides hashed first). */
function sameSecret(given: Buffer | string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Decides who a CONNECT is. Credentials, when present, are always checked (also from loopback):
 * a configured user first, then a signed device credential. Without credentials, only loopback
 * clients get in, and only if `allowAnonymousLoopback` is on.
 */
export class BrokerAuthenticator {
  private readonly users = new Map<string, BrokerUser>();
  private readonly allowAnonymousLoopback: boolean;
  private readonly anonymousRole: BrokerRole;
  private readonly deviceSignatureKey: string | undefined;

  constructor(options: BrokerAuthOptions = {}) {
    for (const user of options.users ?? []) {
      if (!BROKER_ROLES.includes(user.role)) throw new BrokerError('bad_config', `user ${user.username}: unknown role ${String(user.role)}`);
      if (!user.username) throw new BrokerError('bad_config', 'a broker user needs a username');
      this.users.set(user.username, user);
    }
    this.allowAnonymousLoopback = options.allowAnonymousLoopback ?? true;
    this.anonymousRole = options.anonymousRole ?? 'admin';
    this.deviceSignatureKey = options.deviceSignatureKey || undefined;
  }

  authenticate(attempt: ConnectAttempt): AuthResult {
    const { clientId, username } = attempt;
    if (username === undefined || username === '') {
      if (!this.allowAnonymousLoopback) return { ok: false, returnCode: CONNACK_NOT_AUTHORIZED, reason: 'credentials required' };
      if (attempt.proxied) return { ok: false, returnCode: CONNACK_NOT_AUTHORIZED, reason: 'credentials required (proxied connection)' };
      if (!isLoopbackAddress(attempt.remoteAddress)) {
        return { ok: false, returnCode: CONNACK_NOT_AUTHORIZED, reason: `credentials required from ${attempt.remoteAddress ?? 'unknown address'}` };
      }
      return { ok: true, identity: this.identity(this.anonymousRole, clientId, undefined) };
    }
    const password = attempt.password ?? '';
    const user = this.users.get(username);
    if (user) {
      if (!sameSecret(password, user.password)) return { ok: false, returnCode: CONNACK_BAD_USERNAME_OR_PASSWORD, reason: `wrong password for ${username}` };
      return { ok: true, identity: this.identity(user.role, clientId, username) };
    }
    if (this.deviceSignatureKey) {
      const text = Buffer.isBuffer(password) ? password.toString('utf8') : password;
      if (verifyMqttCredentials(this.deviceSignatureKey, clientId, username, text)) {
        const deviceId = deviceIdFromClientId(clientId);
        if (!deviceId) return { ok: false, returnCode: CONNACK_NOT_AUTHORIZED, reason: 'signed device credentials with a client id that names no device' };
        return { ok: true, identity: { role: 'device', clientId, username, deviceId } };
      }
    }
    return { ok: false, returnCode: CONNACK_BAD_USERNAME_OR_PASSWORD, reason: `unknown user or bad signature (${username.slice(0, 40)})` };
  }

  private identity(role: BrokerRole, clientId: string, username: string | undefined): BrokerIdentity {
    const identity: BrokerIdentity = { role, clientId };
    if (username !== undefined) identity.username = username;
    if (role === 'device') {
      // A configured device user names its downlink by the MAC in its client id, or by its username.
      const deviceId = deviceIdFromClientId(clientId) ?? username;
      if (deviceId) identity.deviceId = deviceId;
    }
    return identity;
  }
}

/**
 * Parse the editor's users field: one `user:password:role` per line (role optional, default
 * `automation`; the password may itself contain `:`), blank lines and `#` comments ignored, or a
 * JSON array of {username, password, role}. Throws a `bad_config` BrokerError naming the line.
 */
export function parseBrokerUsers(text: string | undefined): BrokerUser[] {
  const source = (text ?? '').trim();
  if (source === '') return [];
  if (source.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(source);
    } catch (error) {
      throw new BrokerError('bad_config', `users: invalid JSON (${(error as Error).message})`);
    }
    if (!Array.isArray(parsed)) throw new BrokerError('bad_config', 'users: expected a JSON array');
    return parsed.map((entry: unknown, i) => {
      const e = (entry ?? {}) as Record<string, unknown>;
      return checkedUser(String(e.username ?? ''), String(e.password ?? ''), String(e.role ?? 'automation'), `entry ${i + 1}`);
    });
  }
  const users: BrokerUser[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const first = line.indexOf(':');
    if (first <= 0) throw new BrokerError('bad_config', `users line ${i + 1}: expected user:password:role`);
    const username = line.slice(0, first);
    let password = line.slice(first + 1);
    let role = 'automation';
    const last = password.lastIndexOf(':');
    if (last >= 0 && (BROKER_ROLES as readonly string[]).includes(password.slice(last + 1).trim())) {
      role = password.slice(last + 1).trim();
      password = password.slice(0, last);
    }
    users.push(checkedUser(username, password, role, `line ${i + 1}`));
  });
  return users;
}

function checkedUser(username: string, password: string, role: string, where: string): BrokerUser {
  if (!username) throw new BrokerError('bad_config', `users ${where}: empty username`);
  if (!password) throw new BrokerError('bad_config', `users ${where}: empty password for ${username}`);
  if (!(BROKER_ROLES as readonly string[]).includes(role)) throw new BrokerError('bad_config', `users ${where}: unknown role ${role} (admin, automation, device, readonly)`);
  return { username, password, role: role as BrokerRole };
}
