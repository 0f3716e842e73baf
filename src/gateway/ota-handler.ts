import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProtocolError } from '../protocol/errors';
import { buildOtaResponse, parseOtaRequest, type OtaRequest } from '../protocol/ota';
import { createDeviceToken } from '../protocol/token';
import type { GatewayOptions, GatewayLogger } from './options';

/** Largest OTA request body read (the firmware sends ~1-2 KB of system info). */
const MAX_OTA_BODY_BYTES = 64 * 1024;

const CORS_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'client-id, content-type, device-id, authorization, activation-version, serial-number, accept-language',
  'Access-Control-Allow-Credentials': 'true',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
};

export interface OtaHandlerContext {
  options: GatewayOptions;
  logger?: GatewayLogger;
  /** ws:// URL for a device that reached us with this request. */
  websocketUrlFor(request: IncomingMessage): string;
  /** Called for every successful OTA check (device registry, status). */
  onCheck?(request: OtaRequest): void;
}

/**
 * The OTA / activation endpoint (protocol.md §5): POST answers with the WebSocket URL, token and
 * server time; OPTIONS answers the browser preflight; GET is a health check; POST .../activate
 * answers 200 (activation is not required by this server).
 * Returns false if the request is not for the OTA path, so the caller can route it elsewhere.
 */
export function handleOtaRequest(request: IncomingMessage, response: ServerResponse, context: OtaHandlerContext): boolean {
  const { options } = context;
  const url = new URL(request.url ?? '/', 'http://localhost');
  const base = options.ota.path.replace(/\/+$/, '');
  const pathname = url.pathname.replace(/\/+$/, '');
  const isActivate = pathname === `${base}/activate`;
  if (!options.ota.enabled || (pathname !== base && !isActivate)) return false;

  for (const [k, v] of Object.entries(CORS_HEADERS)) response.setHeader(k, v);
  if (request.method === 'OPTIONS') {
    response.writeHead(204).end();
    return true;
  }
  if (request.method === 'GET') {
    response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end(`OTA endpoint is running. WebSocket for devices: ${context.websocketUrlFor(request)}\n`);
    return true;
  }
  if (request.method !== 'POST') {
    response.writeHead(405, { Allow: 'GET, POST, OPTIONS' }).end();
    return true;
  }
  readBody(request, MAX_OTA_BODY_BYTES)
    .then((raw) => {
      if (isActivate) {
        // Activation is optional (protocol.md §5.2) and we never ask for it: accept at once.
        sendJson(response, 200, { success: true });
        return;
      }
      let body: unknown = undefined;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          sendJson(response, 400, { success: false, message: 'request body is not valid JSON' });
          return;
        }
      }
      let ota: OtaRequest;
      try {
        ota = parseOtaRequest(request.headers, body);
      } catch (error) {
        if (error instanceof ProtocolError) {
          sendJson(response, 400, { success: false, message: error.message });
          return;
        }
        throw error;
      }
      const { auth } = options;
      const needsToken = auth.enabled && !auth.allowedDevices.includes(ota.deviceId);
      const token = needsToken ? createDeviceToken(auth.secret, ota.clientId, ota.deviceId) : '';
      const answer = buildOtaResponse({
        websocketUrl: context.websocketUrlFor(request),
        token,
        timezoneOffsetMin: options.ota.timezoneOffsetMin,
        currentFirmwareVersion: ota.firmwareVersion,
        firmware: options.ota.firmware,
      });
      context.onCheck?.(ota);
      sendJson(response, 200, answer);
    })
    .catch((error: Error) => {
      if (!response.headersSent) sendJson(response, error.message.includes('too large') ? 413 : 500, { success: false, message: error.message });
      context.logger?.warn(`OTA request failed: ${error.message}`);
    });
  return true;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new Error(`request body too large (limit ${maxBytes} bytes)`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
