import type { Server as HttpServer } from 'node:http';

/** Where log lines go. Node-RED nodes pass their own `node.log/warn/error`. */
export interface GatewayLogger {
  debug?(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Device authentication (protocol.md §1.4). Off by default, like the reference server. */
export interface GatewayAuthOptions {
  enabled: boolean;
  /** HMAC secret used to mint and check device tokens. */
  secret: string;
  /** Device ids (MAC, lower case) that may connect without a token. */
  allowedDevices: string[];
  /** Token lifetime; the reference server uses 30 days. */
  expireSeconds: number;
}

/** Limits on every resource a client can make the server hold. */
export interface GatewayLimits {
  /** Sessions held at once (including those still waiting for hello). Over it: close 4503. */
  maxSessions: number;
  /** Largest binary (audio) frame accepted; 60 ms Opus is ~100-400 bytes. */
  maxFrameBytes: number;
  /** Largest text (JSON) message; anything longer is refused before parsing. */
  maxTextBytes: number;
  /** Sustained messages per second per session (token bucket). 60 ms audio is ~17/s, 20 ms is 50/s. */
  maxMessagesPerSecond: number;
  /** Burst allowance of the token bucket. */
  messageBurst: number;
  /** Downlink frames queued per session (60 ms each) before further audio is refused. */
  maxQueuedFrames: number;
  /** A client that has not sent hello by then is closed (firmware itself waits 10 s for ours). */
  helloTimeoutMs: number;
  /** Close after this long without voice, text or downlink speech (reference: 120 s). 0 = never. */
  idleTimeoutMs: number;
  /** WebSocket ping interval; a client that misses two pongs is dropped. 0 = off. */
  pingIntervalMs: number;
  /**
   * Overload guard: while the event loop lags more than this, uplink audio is dropped (counted)
   * and new connections are refused with 4503, so a saturated process sheds load instead of
   * queueing frames without bound. 0 = off.
   */
  maxEventLoopLagMs: number;
}

/** Downlink audio parameters, announced in the server hello and really used by the encoder. */
export interface DownlinkOptions {
  sampleRateHz: number;
  frameMs: number;
  /** Frames sent at once before pacing starts (reference: 5). */
  prerollFrames: number;
  /** Extra wait after the last frame's play-out before `tts stop`. */
  stopMarginMs: number;
  /** A frame may leave this many ms before its due time, absorbing timer jitter (see DownlinkPacer). */
  earlyReleaseMs: number;
}

export interface McpClientOptions {
  enabled: boolean;
  toolCallTimeoutMs: number;
  /** Pages of tools/list followed at most (protects against a looping cursor). */
  maxToolPages: number;
  /** Vision endpoint advertised in initialize (optional). */
  visionUrl?: string;
  visionToken?: string;
}

export interface OtaOptions {
  enabled: boolean;
  /** HTTP path of the OTA endpoint (firmware default shape). */
  path: string;
  /** Timezone offset handed to devices, minutes east of UTC. */
  timezoneOffsetMin: number;
  /** Optional firmware offer. Devices upgrade only when version is newer (or force). */
  firmware?: { version: string; url: string; force?: boolean };
}

export interface GatewayOptions {
  /** Own listening port (default 8000). Ignored when `server` is given. */
  port: number;
  /** Bind address of the own server. */
  host?: string;
  /** Attach to an existing http server instead of opening a port. */
  server?: HttpServer;
  /** WebSocket path. With an own server any path is accepted (like the reference server). */
  path: string;
  /**
   * ws:// URL handed to devices in the OTA answer. Default: the host the device used to reach
   * the OTA endpoint, else this machine's LAN address, with our port and path.
   */
  publicUrl?: string;
  auth: GatewayAuthOptions;
  limits: GatewayLimits;
  downlink: DownlinkOptions;
  mcp: McpClientOptions;
  ota: OtaOptions;
  /** Decode uplink Opus to 16 kHz PCM inside the gateway (needed by VAD/ASR). */
  decodeUplink: boolean;
  /** Prometheus text metrics at this path of the own HTTP server ('' = off). */
  metricsPath: string;
  logger?: GatewayLogger;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxSessions: 10000,
  maxFrameBytes: 4096,
  maxTextBytes: 64 * 1024,
  maxMessagesPerSecond: 100,
  messageBurst: 200,
  maxQueuedFrames: 6000,
  helloTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  pingIntervalMs: 30_000,
  maxEventLoopLagMs: 500,
};

export const DEFAULT_GATEWAY_OPTIONS: GatewayOptions = {
  port: 8000,
  path: '/xiaozhi/v1/',
  auth: { enabled: false, secret: '', allowedDevices: [], expireSeconds: 30 * 24 * 3600 },
  limits: DEFAULT_LIMITS,
  downlink: { sampleRateHz: 24000, frameMs: 60, prerollFrames: 5, stopMarginMs: 60, earlyReleaseMs: 4 },
  mcp: { enabled: true, toolCallTimeoutMs: 30_000, maxToolPages: 20 },
  ota: { enabled: true, path: '/xiaozhi/ota/', timezoneOffsetMin: -new Date().getTimezoneOffset() },
  decodeUplink: true,
  metricsPath: '/metrics',
};

/** Deep partial used by callers: every option has a default. */
export type GatewayOptionsInput = Partial<Omit<GatewayOptions, 'auth' | 'limits' | 'downlink' | 'mcp' | 'ota'>> & {
  auth?: Partial<GatewayAuthOptions>;
  limits?: Partial<GatewayLimits>;
  downlink?: Partial<DownlinkOptions>;
  mcp?: Partial<McpClientOptions>;
  ota?: Partial<OtaOptions>;
};

/** Fill defaults and check values, so a bad config fails at start with a clear message. */
export function resolveGatewayOptions(input: GatewayOptionsInput = {}): GatewayOptions {
  const d = DEFAULT_GATEWAY_OPTIONS;
  const options: GatewayOptions = {
    ...d,
    ...stripUndefined(input),
    auth: { ...d.auth, ...stripUndefined(input.auth ?? {}) },
    limits: { ...d.limits, ...stripUndefined(input.limits ?? {}) },
    downlink: { ...d.downlink, ...stripUndefined(input.downlink ?? {}) },
    mcp: { ...d.mcp, ...stripUndefined(input.mcp ?? {}) },
    ota: { ...d.ota, ...stripUndefined(input.ota ?? {}) },
  };
  if (!options.path.startsWith('/')) options.path = `/${options.path}`;
  if (!options.ota.path.startsWith('/')) options.ota.path = `/${options.ota.path}`;
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new RangeError(`port must be an integer 0-65535, got ${String(options.port)}`);
  }
  if (![20, 40, 60].includes(options.downlink.frameMs)) {
    throw new RangeError(`downlink.frameMs must be 20, 40 or 60, got ${options.downlink.frameMs}`);
  }
  if (![8000, 12000, 16000, 24000, 48000].includes(options.downlink.sampleRateHz)) {
    throw new RangeError(`downlink.sampleRateHz must be an Opus rate, got ${options.downlink.sampleRateHz}`);
  }
  if (options.auth.enabled && !options.auth.secret) {
    throw new Error('auth is enabled but no secret is set');
  }
  for (const [key, value] of Object.entries(options.limits)) {
    if (typeof value !== 'number' || !(value >= 0)) throw new RangeError(`limits.${key} must be a number >= 0`);
  }
  options.auth.allowedDevices = options.auth.allowedDevices.map((id) => id.trim().toLowerCase()).filter(Boolean);
  return options;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
