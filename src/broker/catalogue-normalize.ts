/**
 * Normalisation helpers of the device catalogue: Home Assistant discovery abbreviations and
 * the `~` topic base, and spoken names/areas.
 */

/**
 * Abbreviations of Home Assistant MQTT discovery payload keys (entity level), as listed in
 * HA's mqtt/abbreviations.py. Only the keys the catalogue and actions read need to be here,
 * but the list is kept broad so stored configs read naturally when debugging.
 */
const ENTITY_ABBREVIATIONS: Record<string, string> = {
  avty: 'availability',
  avty_mode: 'availability_mode',
  avty_t: 'availability_topic',
  avty_tpl: 'availability_template',
  bri_cmd_t: 'brightness_command_topic',
  bri_cmd_tpl: 'brightness_command_template',
  bri_scl: 'brightness_scale',
  bri_stat_t: 'brightness_state_topic',
  bri_tpl: 'brightness_template',
  bri_val_tpl: 'brightness_value_template',
  clrm: 'color_mode',
  clr_temp_cmd_t: 'color_temp_command_topic',
  clr_temp_cmd_tpl: 'color_temp_command_template',
  clr_temp_k: 'color_temp_kelvin',
  clr_temp_stat_t: 'color_temp_state_topic',
  clr_temp_tpl: 'color_temp_template',
  clr_temp_val_tpl: 'color_temp_value_template',
  cmd_off_tpl: 'command_off_template',
  cmd_on_tpl: 'command_on_template',
  cmd_t: 'command_topic',
  cmd_tpl: 'command_template',
  cmps: 'components',
  curr_temp_t: 'current_temperature_topic',
  curr_temp_tpl: 'current_temperature_template',
  def_ent_id: 'default_entity_id',
  dev: 'device',
  dev_cla: 'device_class',
  e: 'encoding',
  en: 'enabled_by_default',
  ent_cat: 'entity_category',
  exp_aft: 'expire_after',
  fx_cmd_t: 'effect_command_topic',
  fx_list: 'effect_list',
  hs_cmd_t: 'hs_command_topic',
  hs_cmd_tpl: 'hs_command_template',
  hs_stat_t: 'hs_state_topic',
  hs_val_tpl: 'hs_value_template',
  ic: 'icon',
  json_attr_t: 'json_attributes_topic',
  json_attr_tpl: 'json_attributes_template',
  max_k: 'max_kelvin',
  max_mirs: 'max_mireds',
  max_temp: 'max_temp',
  min_k: 'min_kelvin',
  min_mirs: 'min_mireds',
  min_temp: 'min_temp',
  mode_cmd_t: 'mode_command_topic',
  mode_stat_t: 'mode_state_topic',
  o: 'origin',
  obj_id: 'object_id',
  on_cmd_type: 'on_command_type',
  opt: 'optimistic',
  ops: 'options',
  p: 'platform',
  pct_cmd_t: 'percentage_command_topic',
  pct_cmd_tpl: 'percentage_command_template',
  pct_stat_t: 'percentage_state_topic',
  pct_val_tpl: 'percentage_value_template',
  pl: 'payload',
  pl_avail: 'payload_available',
  pl_cls: 'payload_close',
  pl_lock: 'payload_lock',
  pl_not_avail: 'payload_not_available',
  pl_off: 'payload_off',
  pl_on: 'payload_on',
  pl_open: 'payload_open',
  pl_prs: 'payload_press',
  pl_stop: 'payload_stop',
  pl_unlk: 'payload_unlock',
  pos_clsd: 'position_closed',
  pos_open: 'position_open',
  pos_t: 'position_topic',
  pos_tpl: 'position_template',
  ret: 'retain',
  rgb_cmd_t: 'rgb_command_topic',
  rgb_cmd_tpl: 'rgb_command_template',
  rgb_stat_t: 'rgb_state_topic',
  rgb_val_tpl: 'rgb_value_template',
  set_pos_t: 'set_position_topic',
  set_pos_tpl: 'set_position_template',
  stat_cla: 'state_class',
  stat_closing: 'state_closing',
  stat_clsd: 'state_closed',
  stat_locked: 'state_locked',
  stat_off: 'state_off',
  stat_on: 'state_on',
  stat_open: 'state_open',
  stat_opening: 'state_opening',
  stat_stopped: 'state_stopped',
  stat_t: 'state_topic',
  stat_tpl: 'state_template',
  stat_unlocked: 'state_unlocked',
  stat_val_tpl: 'state_value_template',
  sup_clrm: 'supported_color_modes',
  t: 'topic',
  temp_cmd_t: 'temperature_command_topic',
  temp_cmd_tpl: 'temperature_command_template',
  temp_stat_t: 'temperature_state_topic',
  temp_stat_tpl: 'temperature_state_template',
  temp_unit: 'temperature_unit',
  uniq_id: 'unique_id',
  unit_of_meas: 'unit_of_measurement',
  val_tpl: 'value_template',
  xy_cmd_t: 'xy_command_topic',
  xy_cmd_tpl: 'xy_command_template',
  xy_stat_t: 'xy_state_topic',
  xy_val_tpl: 'xy_value_template',
};

/** Abbreviations inside the `device` object. */
const DEVICE_ABBREVIATIONS: Record<string, string> = {
  cns: 'connections',
  cu: 'configuration_url',
  hw: 'hw_version',
  ids: 'identifiers',
  mdl: 'model',
  mdl_id: 'model_id',
  mf: 'manufacturer',
  sa: 'suggested_area',
  sn: 'serial_number',
  sw: 'sw_version',
};

/** Abbreviations inside the `origin` object. */
const ORIGIN_ABBREVIATIONS: Record<string, string> = {
  sw: 'sw_version',
  url: 'support_url',
};

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expandKeys(source: Json, table: Record<string, string>): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(source)) {
    // A full key wins over its abbreviation when a payload carries both (HA does the same:
    // it renames abbreviations in place, so the later write decides; full keys are explicit).
    const full = table[key] ?? key;
    if (full !== key && full in source) continue;
    out[full] = value;
  }
  return out;
}

/**
 * Expand abbreviated keys of a discovery payload (entity level, `device`, `origin`,
 * `availability` entries and, for device-based payloads, each component). Returns a copy.
 */
export function expandDiscoveryPayload(payload: Json): Json {
  const out = expandKeys(payload, ENTITY_ABBREVIATIONS);
  if (isObject(out.device)) out.device = expandKeys(out.device, DEVICE_ABBREVIATIONS);
  if (isObject(out.origin)) out.origin = expandKeys(out.origin, ORIGIN_ABBREVIATIONS);
  if (Array.isArray(out.availability)) {
    out.availability = out.availability.map((entry) =>
      isObject(entry) ? expandKeys(entry, ENTITY_ABBREVIATIONS) : entry,
    );
  } else if (isObject(out.availability)) {
    out.availability = [expandKeys(out.availability, ENTITY_ABBREVIATIONS)];
  }
  if (isObject(out.components)) {
    const components: Json = {};
    for (const [key, value] of Object.entries(out.components)) {
      components[key] = isObject(value) ? expandDiscoveryPayload(value) : value;
    }
    out.components = components;
  }
  return out;
}

/**
 * Substitute the `~` topic base in every `*_topic` value (at the start or the end, as HA does)
 * and in availability topics. Returns a copy without the `~` key.
 */
export function applyTopicBase(payload: Json, inheritedBase?: string): Json {
  const base = typeof payload['~'] === 'string' ? (payload['~'] as string) : inheritedBase;
  const out: Json = { ...payload };
  delete out['~'];
  if (base === undefined) return out;
  const substitute = (value: string): string => {
    if (value.startsWith('~')) return base + value.slice(1);
    if (value.endsWith('~')) return value.slice(0, -1) + base;
    return value;
  };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'string' && value && (key.endsWith('topic') || key === 'topic')) out[key] = substitute(value);
  }
  if (Array.isArray(out.availability)) {
    out.availability = out.availability.map((entry) =>
      isObject(entry) && typeof entry.topic === 'string' ? { ...entry, topic: substitute(entry.topic) } : entry,
    );
  }
  return out;
}

/**
 * Normalise a spoken or written name for matching: lower case, `_`, `-`, `/` and `.` as
 * spaces, other punctuation removed, single spaces. CJK characters are kept as they are.
 */
export function normalizeName(name: string): string {
  return name
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[_\-/.:]+/g, ' ')
    .replace(/[^\p{L}\p{N}\s]+/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Turn an identifier (`kitchen_light`, `0x1234`) into a readable name. */
export function humanizeId(id: string): string {
  return id.replace(/[_\-/.]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * Room names recognised as an area when they start (or end, for Chinese) a device name:
 * "kitchen light" -> kitchen. Callers can add their own through the catalogue options.
 */
export const DEFAULT_AREAS: readonly string[] = [
  'living room',
  'dining room',
  'bedroom',
  'master bedroom',
  'guest room',
  'kids room',
  'kitchen',
  'bathroom',
  'toilet',
  'office',
  'study',
  'hallway',
  'hall',
  'garage',
  'garden',
  'balcony',
  'basement',
  'attic',
  'lounge',
  'porch',
  'laundry',
  'nursery',
  '客厅',
  '餐厅',
  '卧室',
  '主卧',
  '次卧',
  '儿童房',
  '厨房',
  '卫生间',
  '浴室',
  '洗手间',
  '书房',
  '办公室',
  '走廊',
  '玄关',
  '阳台',
  '车库',
  '花园',
];

const CJK = /[\u3400-\u9fff]/;

/**
 * Find an area at the start of a name ("kitchen ceiling light" -> kitchen, "客厅灯" -> 客厅).
 * Longest known area wins; the rest of the name must not be empty.
 */
export function areaFromName(name: string, areas: Iterable<string>): string | undefined {
  const normalized = normalizeName(name);
  let best: string | undefined;
  for (const area of areas) {
    const a = normalizeName(area);
    if (!a || a === normalized) continue;
    const matches = CJK.test(a)
      ? normalized.startsWith(a)
      : normalized.startsWith(a + ' ');
    if (matches && (!best || a.length > best.length)) best = a;
  }
  return best;
}

/**
 * Read an area out of a free-text description (zigbee2mqtt device `description`):
 * `area: kitchen`, `room=kitchen`, `位置:厨房`, or a known area word inside it.
 */
export function areaFromDescription(description: string, areas: Iterable<string>): string | undefined {
  const explicit = /(?:^|[\s,;])(?:area|room|位置|房间|区域)\s*[:=：]\s*([^,;\n]+)/i.exec(description);
  if (explicit?.[1]) return normalizeName(explicit[1]);
  const normalized = normalizeName(description);
  let best: string | undefined;
  for (const area of areas) {
    const a = normalizeName(area);
    if (!a) continue;
    const found = CJK.test(a) ? normalized.includes(a) : ` ${normalized} `.includes(` ${a} `);
    if (found && (!best || a.length > best.length)) best = a;
  }
  return best;
}

/** Build the alias list of an entity: normalised, de-duplicated, without empty entries. */
export function buildAliases(names: Array<string | undefined>, area?: string): string[] {
  const out = new Set<string>();
  for (const name of names) {
    if (!name) continue;
    const n = normalizeName(name);
    if (!n) continue;
    out.add(n);
    // "kitchen ceiling light" also answers to "ceiling light" (the area is said separately).
    if (area) {
      const a = normalizeName(area);
      if (CJK.test(a) ? n.startsWith(a) && n.length > a.length : n.startsWith(a + ' ')) {
        const rest = n.slice(a.length).trim();
        if (rest) out.add(rest);
      }
    }
  }
  return [...out];
}
