/**
 * Per-client access rules of the embedded broker, as pure functions the aedes hooks call
 * (authorizePublish / authorizeSubscribe / authorizeForward).
 *
 * Voice devices and automation clients are kept apart: a xiaozhi device in MQTT+UDP mode talks
 * only on `device-server` (uplink) and its own `devices/p2p/<mac>` (downlink), and an automation
 * client (zigbee2mqtt, Home Assistant, Node-RED mqtt nodes) never sees or forges device traffic.
 */
import { DEVICE_P2P_PREFIX, DEVICE_PUBLISH_TOPIC, type BrokerRole } from './broker-types';

/** Who a connected client is, as authentication decided. */
export interface BrokerIdentity {
  role: BrokerRole;
  clientId: string;
  username?: string;
  /** For role `device`: the MAC with underscores that names its `devices/p2p/<deviceId>` topic. */
  deviceId?: string;
}

/** Outcome of an ACL check; `reason` is logged and counted on denial. */
export type AclDecision = { ok: true } | { ok: false; reason: string };

const ALLOW: AclDecision = { ok: true };
const deny = (reason: string): AclDecision => ({ ok: false, reason });

/**
 * The device id in a xiaozhi MQTT client id `GID_<board>@@@<mac_with_underscores>@@@<uuid or mac>`
 * (protocol.md §4.1), or undefined when the id has another shape.
 */
export function deviceIdFromClientId(clientId: string): string | undefined {
  const parts = clientId.split('@@@');
  const mac = parts[1];
  return parts.length === 3 && mac ? mac : undefined;
}

/** Is `topic` (a topic name) part of the device channel: `device-server` or anything under `devices`? */
export function isDeviceTopic(topic: string): boolean {
  return topic === DEVICE_PUBLISH_TOPIC || topic === 'devices' || topic.startsWith('devices/');
}

/**
 * Is `filter` aimed at the device channel by name (not through a leading wildcard)? `#` and
 * `+/p2p/x` are allowed to automation clients and filtered per message by {@link mayForward}.
 */
function filterTargetsDevices(filter: string): boolean {
  const first = filter.split('/')[0];
  return filter === DEVICE_PUBLISH_TOPIC || first === 'devices';
}

function ownDownlink(identity: BrokerIdentity): string | undefined {
  return identity.deviceId ? `${DEVICE_P2P_PREFIX}${identity.deviceId}` : undefined;
}

/** May this client publish to `topic`? (`$SYS/` stays reserved to the broker for everyone.) */
export function authorizePublishFor(identity: BrokerIdentity, topic: string): AclDecision {
  if (topic.startsWith('$SYS/') || topic === '$SYS') return deny('$SYS topics are reserved to the broker');
  switch (identity.role) {
    case 'admin':
      return ALLOW;
    case 'automation':
      return isDeviceTopic(topic) ? deny('automation clients may not publish on the device channel (device-server, devices/#)') : ALLOW;
    case 'readonly':
      return deny('readonly clients may not publish');
    case 'device':
      // FW publishes all its JSON to `publish_topic` (device-server); it never publishes elsewhere.
      return topic === DEVICE_PUBLISH_TOPIC ? ALLOW : deny(`devices may only publish to ${DEVICE_PUBLISH_TOPIC}`);
    default:
      return deny('unknown role');
  }
}

/** May this client subscribe to `filter`? */
export function authorizeSubscribeFor(identity: BrokerIdentity, filter: string): AclDecision {
  switch (identity.role) {
    case 'admin':
      return ALLOW;
    case 'automation':
    case 'readonly':
      return filterTargetsDevices(filter) ? deny(`${identity.role} clients may not subscribe to the device channel`) : ALLOW;
    case 'device': {
      const own = ownDownlink(identity);
      if (own && (filter === own || filter === `${own}/#`)) return ALLOW;
      return deny(own ? `devices may only subscribe to ${own}` : 'device without a device id may not subscribe');
    }
    default:
      return deny('unknown role');
  }
}

/**
 * May a message on `topic` be delivered to this client? Applies to wildcard subscriptions that
 * passed {@link authorizeSubscribeFor} (e.g. an automation client on `#`): device traffic is cut out.
 */
export function mayForward(identity: BrokerIdentity, topic: string): boolean {
  switch (identity.role) {
    case 'admin':
      return true;
    case 'automation':
    case 'readonly':
      return !isDeviceTopic(topic);
    case 'device': {
      const own = ownDownlink(identity);
      return own !== undefined && (topic === own || topic.startsWith(`${own}/`));
    }
    default:
      return false;
  }
}
