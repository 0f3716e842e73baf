/**
 * Shapes shared by the intent matcher, its template language and the built-in sentence packs.
 * The device catalogue (src/broker) is seen only through {@link IntentCatalogue}, so the matcher
 * stays independent of how devices are discovered.
 */

/** Languages the built-in sentence packs cover. */
export type IntentLanguage = 'en' | 'zh';

/** Capabilities an intent may require of its target entities. */
export interface IntentCapabilities {
  onOff?: boolean;
  brightness?: boolean;
  colorTemp?: boolean;
  color?: boolean;
  position?: boolean;
  setpoint?: boolean;
}

/** Name of one capability flag. */
export type IntentCapabilityName = keyof IntentCapabilities;

/** One controllable thing as the matcher needs to know it. */
export interface IntentEntity {
  /** Stable id (e.g. the catalogue's entity id); the action layer looks the entity up by it. */
  id: string;
  /** Name people say ("Kitchen Light", "客厅灯"). */
  name: string;
  /** Other names for the same entity. */
  aliases: string[];
  /** Area (room) the entity is in, as listed by {@link IntentCatalogue.areas}. */
  area?: string;
  /** Home Assistant style domain: light, switch, fan, cover, climate, scene, lock, media_player... */
  domain: string;
  capabilities: IntentCapabilities;
}

/** Read-only view of the device catalogue. */
export interface IntentCatalogue {
  entities(): IntentEntity[];
  areas(): string[];
}

/** A recognised intent. */
export interface IntentMatch {
  /** Intent name, e.g. `HassTurnOn`, `HassLightSet`, `DeviceSetVolume`, or a custom one. */
  intent: string;
  /**
   * Slot values: numbers as numbers (`brightness: 50`), list values by their canonical value
   * (`color: 'red'`, `domain: 'light'`), `name`/`area` as the catalogue spells them, plus the
   * fixed slots of the matched sentence group.
   */
  slots: Record<string, string | number>;
  /**
   * Resolved targets: the named entity, or every entity of the domain in the area. Empty for
   * intents without a device target (volume of the voice device, custom intents without slots).
   */
  entities: IntentEntity[];
  language: IntentLanguage;
  /** The text as given to {@link IntentMatcher.match}. */
  text: string;
  /**
   * Spoken confirmation, rendered with what is known at match time. Placeholders the matcher
   * cannot know (e.g. `{state}` of a query) are left in place for the action layer (see
   * `renderResponse`).
   */
  response?: string;
  /** The words each slot was filled from (`{color: '红色'}`), for responses in the user's words. */
  slotText?: Record<string, string>;
}

/** Sentences of one intent that share fixed slots, target rules and a response. */
export interface IntentSentenceGroup {
  /** Intent name this group produces. */
  intent: string;
  /** Templates (see template.ts for the syntax). */
  sentences: string[];
  /** Slots added to every match of this group (e.g. `{domain: 'light'}`). */
  slots?: Record<string, string | number>;
  /** Restrict resolved entities; a match whose targets all fail this is rejected. */
  requires?: {
    /** Entity domain must be one of these. */
    domains?: string[];
    /** Entity must have this capability. */
    capability?: IntentCapabilityName;
  };
  /**
   * How targets are found. `entities` (default when the sentences use {name}, {area} or
   * {domain}): a target must resolve or the match is rejected. `none`: no device target.
   * `all`: with no name or area spoken, every entity passing `requires` (or the slot's domain) is
   * the target ("turn off all the lights", "set the temperature to 21").
   */
  target?: 'entities' | 'none' | 'all';
  /**
   * With target `all`: when the caller passes the voice device's area (match context) and that
   * area has matching entities, only those are targets ("turn on the lights" means this room).
   */
  useContextArea?: boolean;
  /** Response template (see `renderResponse`). */
  response?: string;
}

/** A value of a slot list: what is said (a template) and what the slot gets. */
export interface IntentListValue {
  /** Words (may use template syntax: `(red|crimson)`). */
  in: string;
  /** Slot value; defaults to `in`. */
  out?: string | number;
}

/** A slot list: fixed values, or a number range. */
export type IntentSlotList =
  | { kind: 'values'; values: IntentListValue[] }
  | { kind: 'range'; from: number; to: number; step?: number };

/** Everything one language contributes: lists, expansion rules, filler words, sentence groups. */
export interface IntentLanguagePack {
  language: IntentLanguage;
  /** Filler words/phrases dropped from input and templates before matching ("please", "请"). */
  skipWords: string[];
  /** Expansion rules `<name>` -> template. */
  rules: Record<string, string>;
  /** Slot lists by name (the catalogue adds `name` and `area`). */
  lists: Record<string, IntentSlotList>;
  groups: IntentSentenceGroup[];
}
