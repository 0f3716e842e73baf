/**
 * Topic layout of xiaozhi voice devices on the hub broker, shared by the Home Assistant
 * publisher and the announcement listener:
 *
 *   <base>/<topicId>/availability   online | offline (retained)
 *   <base>/<topicId>/state          idle | listening | thinking | speaking (retained)
 *   <base>/<topicId>/transcript     last thing the user said (retained)
 *   <base>/<topicId>/reply          last thing the device answered (retained)
 *   <base>/<topicId>/volume         speaker volume 0..100 (retained)
 *   <base>/<topicId>/volume/set     set the volume (from HA or any client)
 *   <base>/<topicId>/announce       text for the device to speak
 *   <base>/all/announce             text for every device to speak
 *   <base>/bridge/availability      the hub itself: online | offline (retained)
 *
 * `topicId` is the device id (usually its MAC) in lower case with separators removed, which is
 * also valid in Home Assistant discovery ids ([a-zA-Z0-9_-]).
 */

/** Default base topic of voice devices. */
export const DEFAULT_VOICE_BASE_TOPIC = 'xiaozhi';

/** Topic id meaning "every device" in announcement topics. */
export const ANNOUNCE_ALL = 'all';

/** Topic-safe id of a device: `AA:BB:CC:DD:EE:FF` -> `aabbccddeeff`. */
export function deviceTopicId(deviceId: string): string {
  const id = deviceId.toLowerCase().replace(/[^a-z0-9_]/g, '');
  return id || 'unknown';
}

/** The colon form of a MAC address when the id is one (12 hex digits, any separators), else undefined. */
export function macAddressOf(deviceId: string): string | undefined {
  const hex = deviceId.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length !== 12 || !/^[0-9a-f:\-_.]+$/i.test(deviceId)) return undefined;
  return hex.match(/../g)?.join(':');
}

/** Every topic of one voice device. */
export interface VoiceDeviceTopics {
  availability: string;
  state: string;
  transcript: string;
  reply: string;
  volume: string;
  volumeSet: string;
  announce: string;
}

/** Topics of one device under `baseTopic`. */
export function voiceDeviceTopics(baseTopic: string, deviceId: string): VoiceDeviceTopics {
  const root = `${baseTopic}/${deviceTopicId(deviceId)}`;
  return {
    availability: `${root}/availability`,
    state: `${root}/state`,
    transcript: `${root}/transcript`,
    reply: `${root}/reply`,
    volume: `${root}/volume`,
    volumeSet: `${root}/volume/set`,
    announce: `${root}/announce`,
  };
}

/** The hub's own availability topic under `baseTopic`. */
export function bridgeAvailabilityTopic(baseTopic: string): string {
  return `${baseTopic}/bridge/availability`;
}
