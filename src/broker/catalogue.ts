/**
 * DeviceCatalogue: the hub's live list of things that can be named by voice, built from what
 * the broker sees (no hand-typed device list, no restart):
 *
 * - Home Assistant MQTT discovery: `<prefix>/<component>/[<node_id>/]<object_id>/config` and
 *   device-based `<prefix>/device/<id>/config` (a `components`/`cmps` map). An empty retained
 *   payload removes what that topic declared.
 * - zigbee2mqtt: `<base>/bridge/devices` (exposes give features, ranges and access flags) and
 *   `<base>/bridge/groups` (groups and their scenes).
 *
 * It also follows every entity's state topic(s) and keeps the last decoded state, so
 * "is the kitchen light on" and action confirmations read from one place.
 */
import { EventEmitter } from 'node:events';
import type { BrokerLike, CatalogueChange, CatalogueEntity, EntityDomain, EntityState } from './catalogue-types';
import { DEFAULT_AREAS, normalizeName } from './catalogue-normalize';
import { haConfigToEntity, originName, readDiscoveryMessage } from './catalogue-ha';
import { z2mDevicesToEntities, z2mGroupsToEntities } from './catalogue-z2m';
import { decodeStateMessage, stateTopicsOf, type StateField } from './catalogue-state';

/** Options of DeviceCatalogue. */
export interface DeviceCatalogueOptions {
  /** Home Assistant discovery prefix; false to ignore HA discovery. Default `homeassistant`. */
  discoveryPrefix?: string | false;
  /** zigbee2mqtt base topic; false to ignore zigbee2mqtt. Default `zigbee2mqtt`. */
  zigbee2mqttBaseTopic?: string | false;
  /** Extra room names recognised at the start of device names (added to DEFAULT_AREAS). */
  areas?: string[];
  /**
   * Skip HA discovery configs that zigbee2mqtt itself published (origin "Zigbee2MQTT" or device
   * identifiers `zigbee2mqtt_...`) when zigbee2mqtt is read directly, so a light is not listed
   * twice. Default true.
   */
  skipZigbee2mqttDiscovery?: boolean;
  /** Origin names (case-insensitive) whose discovery configs are ignored, e.g. our own voice devices. */
  ignoreOrigins?: string[];
  /** Follow state topics. Default true. */
  trackState?: boolean;
  /** Clock, for tests. */
  nowMs?: () => number;
}

/** Origin name the hub uses for its own discovery configs (voice devices). */
export const XIAOZHI_ORIGIN_NAME = 'node-red-contrib-xiaozhi';

/** Error of the catalogue, with a code. */
export class CatalogueError extends Error {
  constructor(readonly code: 'not_started' | 'closed' | 'subscribe_failed', message: string) {
    super(message);
    this.name = 'CatalogueError';
  }
}

type Unsubscribe = () => unknown;

interface StateWatch {
  unsubscribe?: Promise<Unsubscribe | undefined>;
  entries: Array<{ entityId: string; field: StateField }>;
}

/** Query of DeviceCatalogue.find. */
export interface FindQuery {
  area?: string;
  domain?: EntityDomain | EntityDomain[];
}

const HA_ID_SEGMENT = /^[a-zA-Z0-9_-]+$/;

/**
 * Live catalogue of entities. Emits 'changed' (CatalogueChange) for every entity added,
 * updated or removed, and 'state' (entityId, state, previous) for every decoded state message.
 */
export class DeviceCatalogue extends EventEmitter {
  private readonly broker: BrokerLike;
  private readonly discoveryPrefix: string | false;
  private readonly z2mBase: string | false;
  private readonly areaNames: string[];
  private readonly skipZ2mDiscovery: boolean;
  private readonly ignoreOrigins: Set<string>;
  private readonly trackState: boolean;
  private readonly nowMs: () => number;

  private readonly entityMap = new Map<string, CatalogueEntity>();
  private readonly states = new Map<string, EntityState>();
  /** Entity ids declared by each HA discovery topic path. */
  private readonly haTopicEntities = new Map<string, string[]>();
  private z2mDeviceIds: string[] = [];
  private z2mGroupIds: string[] = [];
  private lastZ2mDevices: unknown = [];
  private lastZ2mGroups: unknown = [];
  private readonly watches = new Map<string, StateWatch>();
  private readonly unsubscribes: Array<Promise<Unsubscribe>> = [];
  private started = false;
  private closed = false;

  constructor(broker: BrokerLike, options: DeviceCatalogueOptions = {}) {
    super();
    this.broker = broker;
    this.discoveryPrefix = options.discoveryPrefix === undefined ? 'homeassistant' : options.discoveryPrefix;
    this.z2mBase = options.zigbee2mqttBaseTopic === undefined ? 'zigbee2mqtt' : options.zigbee2mqttBaseTopic;
    this.areaNames = [...DEFAULT_AREAS, ...(options.areas ?? [])];
    this.skipZ2mDiscovery = options.skipZigbee2mqttDiscovery ?? true;
    this.ignoreOrigins = new Set((options.ignoreOrigins ?? [XIAOZHI_ORIGIN_NAME]).map((o) => o.toLowerCase()));
    this.trackState = options.trackState ?? true;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /**
   * Subscribe to discovery and zigbee2mqtt bridge topics. Resolves once the subscriptions are in
   * place and the retained configs they delivered have been read (entities() is then complete
   * for what was retained).
   */
  async start(): Promise<void> {
    if (this.closed) throw new CatalogueError('closed', 'catalogue is closed');
    if (this.started) return;
    this.started = true;
    const filters: string[] = [];
    if (this.discoveryPrefix !== false) {
      // `<prefix>/+/+/config` also covers device-based `<prefix>/device/+/config`, and
      // `<prefix>/+/+/+/config` covers configs with a node id (and device/<node>/<id>).
      filters.push(`${this.discoveryPrefix}/+/+/config`, `${this.discoveryPrefix}/+/+/+/config`);
    }
    if (this.z2mBase !== false) filters.push(`${this.z2mBase}/bridge/devices`, `${this.z2mBase}/bridge/groups`);
    for (const filter of filters) {
      const unsubscribe = Promise.resolve(this.broker.subscribe(filter, (topic, payload) => this.onMessage(topic, payload)));
      this.unsubscribes.push(unsubscribe);
    }
    try {
      await Promise.all(this.unsubscribes);
    } catch (err) {
      throw new CatalogueError('subscribe_failed', `catalogue could not subscribe: ${(err as Error).message}`);
    }
    // HubBroker.subscribe delivers the matching retained messages before it resolves, so the
    // catalogue is complete for what was retained once every subscription is in place.
  }

  /** Unsubscribe everything. Entities stay readable; no more events. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all: Array<Promise<unknown>> = [];
    for (const u of this.unsubscribes) all.push(u.then((fn) => fn()).catch(() => undefined));
    for (const watch of this.watches.values()) {
      all.push((watch.unsubscribe ?? Promise.resolve(undefined)).then((fn) => fn?.()).catch(() => undefined));
    }
    this.watches.clear();
    await Promise.all(all);
    this.removeAllListeners('state');
  }

  /** Every entity, in insertion order. */
  entities(): CatalogueEntity[] {
    return [...this.entityMap.values()];
  }

  /** One entity by id. */
  get(id: string): CatalogueEntity | undefined {
    return this.entityMap.get(id);
  }

  /** Last known state of an entity. */
  state(id: string): EntityState | undefined {
    return this.states.get(id);
  }

  /** Areas of the known entities, normalised, sorted. */
  areas(): string[] {
    const set = new Set<string>();
    for (const e of this.entityMap.values()) if (e.area) set.add(e.area);
    return [...set].sort();
  }

  /**
   * Entities answering to a spoken name: an alias equal to the name, or the name said with its
   * area ("kitchen light" for "light" in the kitchen). Optionally limited to an area/domain.
   */
  find(name: string, query: FindQuery = {}): CatalogueEntity[] {
    const q = normalizeName(name);
    const area = query.area ? normalizeName(query.area) : undefined;
    const domains = query.domain === undefined ? undefined : Array.isArray(query.domain) ? query.domain : [query.domain];
    const out: CatalogueEntity[] = [];
    for (const e of this.entityMap.values()) {
      if (domains && !domains.includes(e.domain)) continue;
      if (area && e.area !== area) continue;
      const hit = e.aliases.some(
        (alias) => alias === q || (e.area !== undefined && (q === `${e.area} ${alias}` || q === `${e.area}${alias}`)),
      );
      if (hit) out.push(e);
    }
    return out;
  }

  /**
   * Wait for a state of `entityId` for which `accept` is true, up to `timeoutMs`. Resolves with
   * that state, or undefined on timeout/abort. Only states decoded after the call count.
   */
  waitForState(
    entityId: string,
    accept: (state: EntityState, previous: EntityState | undefined) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<EntityState | undefined> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (value: EntityState | undefined): void => {
        if (timer) clearTimeout(timer);
        this.off('state', onState);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onState = (id: string, state: EntityState, previous: EntityState | undefined): void => {
        if (id === entityId && accept(state, previous)) finish(state);
      };
      const onAbort = (): void => finish(undefined);
      if (signal?.aborted) return resolve(undefined);
      this.on('state', onState);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => finish(undefined), Math.max(0, timeoutMs));
    });
  }

  // --- message handling -------------------------------------------------------------------

  private onMessage(topic: string, payload: Buffer): void {
    if (this.closed) return;
    try {
      if (this.z2mBase !== false && topic === `${this.z2mBase}/bridge/devices`) {
        this.lastZ2mDevices = parseJson(payload) ?? [];
        this.z2mDeviceIds = this.replaceSet(this.z2mDeviceIds, z2mDevicesToEntities(this.lastZ2mDevices, this.z2mOptions()));
        this.refreshZ2mGroups();
        return;
      }
      if (this.z2mBase !== false && topic === `${this.z2mBase}/bridge/groups`) {
        this.lastZ2mGroups = parseJson(payload) ?? [];
        this.refreshZ2mGroups();
        return;
      }
      if (this.discoveryPrefix !== false && topic.startsWith(`${this.discoveryPrefix}/`) && topic.endsWith('/config')) {
        this.onDiscovery(topic.slice(this.discoveryPrefix.length + 1, -'/config'.length), payload);
      }
    } catch (err) {
      this.emit('warning', err);
    }
  }

  private onDiscovery(topicPath: string, payload: Buffer): void {
    const segments = topicPath.split('/');
    // HA's TOPIC_MATCHER: component, optional node_id, object_id of [a-zA-Z0-9_-].
    if (segments.length < 2 || segments.length > 3 || !segments.slice(1).every((s) => HA_ID_SEGMENT.test(s))) return;
    const previous = this.haTopicEntities.get(topicPath) ?? [];
    const json = payload.length === 0 ? undefined : parseJson(payload);
    const next: CatalogueEntity[] = [];
    if (isObject(json)) {
      for (const item of readDiscoveryMessage(topicPath, json)) {
        if (this.isIgnoredConfig(item.config)) continue;
        const entity = haConfigToEntity(item, { areas: this.areaNames });
        if (entity) next.push(entity);
      }
    }
    const ids = this.replaceSet(previous, next);
    if (ids.length > 0) this.haTopicEntities.set(topicPath, ids);
    else this.haTopicEntities.delete(topicPath);
  }

  private isIgnoredConfig(config: Record<string, unknown>): boolean {
    const origin = originName(config);
    if (origin && this.ignoreOrigins.has(origin)) return true;
    if (this.skipZ2mDiscovery && this.z2mBase !== false) {
      if (origin === 'zigbee2mqtt') return true;
      const device = isObject(config.device) ? config.device : {};
      const ids = Array.isArray(device.identifiers) ? device.identifiers : [device.identifiers];
      if (ids.some((id) => typeof id === 'string' && id.startsWith('zigbee2mqtt_'))) return true;
    }
    return false;
  }

  private refreshZ2mGroups(): void {
    const byIeee = new Map<string, CatalogueEntity[]>();
    for (const id of this.z2mDeviceIds) {
      const e = this.entityMap.get(id);
      if (!e?.deviceId) continue;
      const list = byIeee.get(e.deviceId) ?? [];
      list.push(e);
      byIeee.set(e.deviceId, list);
    }
    this.z2mGroupIds = this.replaceSet(this.z2mGroupIds, z2mGroupsToEntities(this.lastZ2mGroups, byIeee, this.z2mOptions()));
  }

  private z2mOptions(): { baseTopic: string; areas: string[] } {
    return { baseTopic: this.z2mBase === false ? 'zigbee2mqtt' : this.z2mBase, areas: this.areaNames };
  }

  /** Replace the entities of one source set with `next`; emit changes; answer the new ids. */
  private replaceSet(previousIds: string[], next: CatalogueEntity[]): string[] {
    const nextIds = new Set(next.map((e) => e.id));
    for (const id of previousIds) {
      if (nextIds.has(id)) continue;
      const old = this.entityMap.get(id);
      if (!old) continue;
      this.entityMap.delete(id);
      this.states.delete(id);
      this.unwatch(old);
      this.emit('changed', { kind: 'removed', entity: old } satisfies CatalogueChange);
    }
    for (const entity of next) {
      const old = this.entityMap.get(entity.id);
      if (old && JSON.stringify(old) === JSON.stringify(entity)) continue;
      this.entityMap.set(entity.id, entity);
      if (old) this.unwatch(old);
      this.watch(entity);
      this.emit('changed', { kind: old ? 'updated' : 'added', entity } satisfies CatalogueChange);
    }
    return [...nextIds];
  }

  // --- state tracking ----------------------------------------------------------------------

  private watch(entity: CatalogueEntity): void {
    if (!this.trackState || this.closed) return;
    for (const { topic, field } of stateTopicsOf(entity)) {
      if (/[+#]/.test(topic)) continue;
      let watch = this.watches.get(topic);
      if (!watch) {
        const created: StateWatch = { entries: [] };
        watch = created;
        this.watches.set(topic, created);
        created.unsubscribe = Promise.resolve(
          this.broker.subscribe(topic, (t, payload) => this.onState(t, payload)),
        )
          .catch((err: unknown) => {
            this.emit('warning', err);
            return undefined;
          });
      }
      watch.entries.push({ entityId: entity.id, field });
    }
  }

  private unwatch(entity: CatalogueEntity): void {
    for (const [topic, watch] of this.watches) {
      watch.entries = watch.entries.filter((e) => e.entityId !== entity.id);
      if (watch.entries.length === 0) {
        this.watches.delete(topic);
        void (watch.unsubscribe ?? Promise.resolve(undefined)).then((fn) => fn?.()).catch(() => undefined);
      }
    }
  }

  private onState(topic: string, payload: Buffer): void {
    if (this.closed) return;
    const watch = this.watches.get(topic);
    if (!watch) return;
    for (const { entityId, field } of watch.entries) {
      const entity = this.entityMap.get(entityId);
      if (!entity) continue;
      const previous = this.states.get(entityId);
      const next = decodeStateMessage(entity, field, payload, previous, this.nowMs());
      if (!next) continue;
      this.states.set(entityId, next);
      this.emit('state', entityId, next, previous);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(payload: Buffer): unknown {
  if (payload.length === 0) return undefined;
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}
