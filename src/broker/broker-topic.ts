/**
 * MQTT topic helpers shared by the embedded and external brokers and the ACL: filter matching,
 * validation and payload encoding. Pure functions.
 */
import { BrokerError, type HubPayload } from './broker-types';

/** MQTT 3.1.1 §4.7.3: topics are at most 65,535 bytes of UTF-8. */
const MAX_TOPIC_BYTES = 65_535;

/** Strip a shared-subscription prefix (`$share/<group>/<filter>`, MQTT 5 §4.8.2) to the plain filter. */
function plainFilter(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? '' : rest.slice(slash + 1);
}

/**
 * Does `topic` match the subscription `filter`? `+` matches one level, a trailing `#` matches the
 * parent and any number of levels. Per MQTT 3.1.1 §4.7.2, a filter starting with a wildcard does
 * not match topics starting with `$` (so `#` does not see `$SYS/...`).
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = plainFilter(filter);
  if (topic.startsWith('$') && (f.startsWith('+') || f.startsWith('#'))) return false;
  const fl = f.split('/');
  const tl = topic.split('/');
  for (let i = 0; i < fl.length; i++) {
    const level = fl[i];
    if (level === '#') return true; // '#' also matches the parent level: 'a/#' matches 'a'
    if (i >= tl.length) return false;
    if (level !== '+' && level !== tl[i]) return false;
  }
  return fl.length === tl.length;
}

/** Throw a `bad_topic` BrokerError unless `topic` is a valid topic name to publish to. */
export function assertPublishTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0) throw new BrokerError('bad_topic', 'topic must be a non-empty string');
  if (/[+#]/.test(topic)) throw new BrokerError('bad_topic', `wildcards are not allowed in a publish topic: ${topic}`);
  if (topic.includes('\u0000')) throw new BrokerError('bad_topic', 'topic must not contain NUL');
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) throw new BrokerError('bad_topic', 'topic longer than 65535 bytes');
}

/**
 * Throw a `bad_topic` BrokerError unless `filter` is a valid subscription filter: `#` only as the
 * whole last level, `+` only as a whole level (MQTT 3.1.1 §4.7.1).
 */
export function assertTopicFilter(filter: string): void {
  if (typeof filter !== 'string' || filter.length === 0) throw new BrokerError('bad_topic', 'topic filter must be a non-empty string');
  if (filter.includes('\u0000')) throw new BrokerError('bad_topic', 'topic filter must not contain NUL');
  if (Buffer.byteLength(filter, 'utf8') > MAX_TOPIC_BYTES) throw new BrokerError('bad_topic', 'topic filter longer than 65535 bytes');
  const levels = plainFilter(filter).split('/');
  levels.forEach((level, i) => {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      throw new BrokerError('bad_topic', `'#' must be the whole last level of a filter: ${filter}`);
    }
    if (level.includes('+') && level !== '+') throw new BrokerError('bad_topic', `'+' must be a whole level of a filter: ${filter}`);
  });
}

/** Encode a payload: strings as UTF-8, bytes as is, null as empty (clears a retained value), anything else as JSON. */
export function encodePayload(payload: HubPayload): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (payload === null || payload === undefined) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(payload), 'utf8');
}
