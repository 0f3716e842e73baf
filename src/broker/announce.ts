/**
 * Announcements over MQTT: a message on `<base>/<device>/announce` makes that voice device speak
 * it, one on `<base>/all/announce` every device. The payload is plain text, or JSON with a
 * `text` (or `message`) field, as Home Assistant's text entity, `mqtt.publish` and Node-RED's
 * mqtt out all can send.
 */
import type { BrokerLike } from './catalogue-types';
import { ANNOUNCE_ALL, DEFAULT_VOICE_BASE_TOPIC } from './ha-topics';

/** Called for each announcement; deviceId is ANNOUNCE_ALL ('all') for the broadcast topic. */
export type AnnounceHandler = (deviceId: string, text: string) => void;

/** Options of AnnounceListener. */
export interface AnnounceListenerOptions {
  /** Base topic (default `xiaozhi`). */
  baseTopic?: string;
  onAnnounce: AnnounceHandler;
  /**
   * Map a topic id (`aabbccddeeff`) back to the gateway's device id (`aa:bb:cc:dd:ee:ff`).
   * Return undefined for unknown devices to drop the message. Default: the topic id itself.
   */
  resolveDeviceId?: (topicId: string) => string | undefined;
  /** Longer texts are cut here (a TTS turn should stay short). Default 1000 characters. */
  maxTextChars?: number;
  /** Told about dropped messages (empty, unknown device, handler error). */
  onDropped?: (topic: string, reason: string) => void;
}

/** Extract the text of an announcement payload; undefined when there is none. */
export function announcementText(payload: Buffer, maxTextChars = 1000): string | undefined {
  const raw = payload.toString('utf8').trim();
  if (!raw) return undefined;
  let text = raw;
  if (raw.startsWith('{')) {
    try {
      const json = JSON.parse(raw) as Record<string, unknown>;
      const field = json.text ?? json.message ?? json.payload;
      text = typeof field === 'string' ? field.trim() : '';
    } catch {
      // Not JSON after all: speak it as written.
    }
  }
  if (!text) return undefined;
  return [...text].slice(0, maxTextChars).join('');
}

/** Subscribes to the announcement topics and calls `onAnnounce(deviceId, text)`. */
export class AnnounceListener {
  private readonly baseTopic: string;
  private unsubscribe: Promise<() => unknown> | undefined;
  private closed = false;

  constructor(private readonly broker: BrokerLike, private readonly options: AnnounceListenerOptions) {
    this.baseTopic = options.baseTopic ?? DEFAULT_VOICE_BASE_TOPIC;
  }

  /** Subscribe. Retained announcements are ignored: an old message must not be spoken again. */
  async start(): Promise<void> {
    if (this.unsubscribe || this.closed) return;
    this.unsubscribe = this.broker.subscribe(`${this.baseTopic}/+/announce`, (topic, payload, packet) => {
      if (!packet.retain) this.onMessage(topic, payload);
    });
    await this.unsubscribe;
  }

  /** Unsubscribe. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const u = this.unsubscribe;
    this.unsubscribe = undefined;
    if (u) await (await u)();
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (this.closed) return;
    const topicId = topic.slice(this.baseTopic.length + 1, -'/announce'.length);
    const text = announcementText(payload, this.options.maxTextChars ?? 1000);
    if (!text) return this.options.onDropped?.(topic, 'empty');
    let deviceId: string | undefined = topicId;
    if (topicId !== ANNOUNCE_ALL && this.options.resolveDeviceId) deviceId = this.options.resolveDeviceId(topicId);
    if (!deviceId) return this.options.onDropped?.(topic, 'unknown device');
    try {
      this.options.onAnnounce(deviceId, text);
    } catch (err) {
      this.options.onDropped?.(topic, `handler failed: ${(err as Error).message}`);
    }
  }
}
