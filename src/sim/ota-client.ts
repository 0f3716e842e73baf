/**
 * The firmware's OTA check (protocol.md §5.1): a POST with the device's identity headers and its
 * system-info JSON. The answer tells the device where the WebSocket server is (§5.2).
 */
import { SimError } from './sim-error';

/** The parts of an OTA answer the firmware reads (§5.2); every section is optional. */
export interface OtaResponse {
  server_time?: { timestamp?: number; timezone_offset?: number; [k: string]: unknown };
  firmware?: { version?: string; url?: string; force?: number; [k: string]: unknown };
  websocket?: { url?: string; token?: string; version?: number | string; [k: string]: unknown };
  mqtt?: Record<string, unknown>;
  activation?: { code?: string; message?: string; challenge?: string; timeout_ms?: number; [k: string]: unknown };
  [k: string]: unknown;
}

/** Who is asking: the identity a real board sends. */
export interface OtaRequestIdentity {
  deviceId: string;
  clientId: string;
  /** Board name (User-Agent prefix, `board.name`). */
  boardName: string;
  firmwareVersion: string;
  /** Accept-Language and `language`, e.g. `zh-CN`. */
  language: string;
}

/** The system-info JSON body the firmware posts (§5.1); `minimum_free_heap_size` is a string there. */
export function otaRequestBody(id: OtaRequestIdentity): Record<string, unknown> {
  return {
    version: 2,
    language: id.language,
    flash_size: 16777216,
    minimum_free_heap_size: '123456',
    mac_address: id.deviceId,
    uuid: id.clientId,
    chip_model_name: 'esp32s3',
    chip_info: { model: 9, cores: 2, revision: 2, features: 18 },
    application: {
      name: 'xiaozhi',
      version: id.firmwareVersion,
      compile_time: 'Aug  8 2026T08:33:45Z',
      idf_version: 'v5.4.1',
      elf_sha256: '0'.repeat(64),
    },
    partition_table: [
      { label: 'nvs', type: 1, subtype: 2, address: 36864, size: 16384 },
      { label: 'otadata', type: 1, subtype: 0, address: 53248, size: 8192 },
      { label: 'ota_0', type: 0, subtype: 16, address: 131072, size: 4128768 },
      { label: 'ota_1', type: 0, subtype: 17, address: 4259840, size: 4128768 },
    ],
    ota: { label: 'ota_0' },
    display: { monochrome: false, width: 240, height: 240 },
    board: {
      type: id.boardName,
      name: id.boardName,
      manufacturer: 'simulator',
      ssid: 'sim-wifi',
      rssi: -50,
      channel: 1,
      ip: '127.0.0.1',
      mac: id.deviceId,
    },
  };
}

/**
 * POST the OTA check like the firmware and parse the answer.
 * @throws SimError `ota_unreachable`, `ota_http_status` (not 200), `ota_bad_response` (not a JSON object)
 */
export async function requestOta(otaUrl: string, id: OtaRequestIdentity, timeoutMs = 10000): Promise<OtaResponse> {
  let res: Response;
  try {
    res = await fetch(otaUrl, {
      method: 'POST',
      headers: {
        'Activation-Version': '1',
        'Device-Id': id.deviceId,
        'Client-Id': id.clientId,
        'User-Agent': `${id.boardName}/${id.firmwareVersion}`,
        'Accept-Language': id.language,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify(otaRequestBody(id)),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : err instanceof Error ? `: ${err.message}` : '';
    throw new SimError('ota_unreachable', `OTA server ${otaUrl} is unreachable${cause}`, { cause: err });
  }
  const text = await res.text();
  if (res.status !== 200) {
    throw new SimError('ota_http_status', `OTA server ${otaUrl} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SimError('ota_bad_response', `OTA answer from ${otaUrl} is not JSON: ${text.slice(0, 200)}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SimError('ota_bad_response', `OTA answer from ${otaUrl} is not a JSON object`);
  }
  return parsed as OtaResponse;
}
