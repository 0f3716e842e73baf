/**
 * LLM tools over the live device catalogue: a small set of well-described functions
 * (`home_turn_on`, `home_set_brightness`, `home_get_state`...) whose `name` parameter is an enum
 * of the devices and areas that can actually do the thing, executed through executeAction (the
 * same MQTT commands, state echo and confirmations as the local intents). Function calling then
 * targets real devices, and a tool only exists when some device can do it.
 */
import { executeAction, type ActionLanguage, type ActionResult, type HomeActionName } from '../broker/actions';
import type { DeviceCatalogue } from '../broker/catalogue';
import { normalizeName } from '../broker/catalogue-normalize';
import type { BrokerLike, CatalogueEntity } from '../broker/catalogue-types';
import type { AgentTool } from './chat-agent';

/** Options of {@link homeTools}. */
export interface HomeToolsOptions {
  /** Language of the result texts. Default 'en'. */
  language?: ActionLanguage;
  /** How long to wait for a device's state echo. Default 2000 ms. */
  waitForEchoMs?: number;
  /** Names listed in one `name` enum at most; beyond it the parameter is free text. Default 200. */
  maxEnumValues?: number;
  /** Devices one call may act on at most (an area can hold many). Default 20. */
  maxTargets?: number;
}

interface ToolSpec {
  name: string;
  action: HomeActionName;
  description: string;
  fits(entity: CatalogueEntity): boolean;
  /** Extra parameter (besides `name`) and how it becomes the action's value. */
  value?: { key: string; schema: Record<string, unknown>; required: boolean };
  /** Areas may be named to act on every fitting device there. Default true. */
  areas?: boolean;
}

const ON_OFF_DOMAINS = new Set(['light', 'switch', 'fan', 'cover', 'valve', 'climate', 'media_player']);

const SPECS: readonly ToolSpec[] = [
  {
    name: 'home_turn_on',
    action: 'turn_on',
    description: 'Turn on a light, switch, plug or fan (or open a cover). `name` is a device, or an area to turn on every such device there.',
    fits: (e) => ON_OFF_DOMAINS.has(e.domain) && (e.capabilities.onOff === true || e.capabilities.openClose === true),
  },
  {
    name: 'home_turn_off',
    action: 'turn_off',
    description: 'Turn off a light, switch, plug or fan (or close a cover). `name` is a device, or an area to turn off every such device there.',
    fits: (e) => ON_OFF_DOMAINS.has(e.domain) && (e.capabilities.onOff === true || e.capabilities.openClose === true),
  },
  {
    name: 'home_set_brightness',
    action: 'set_brightness',
    description: 'Set the brightness of a dimmable light in percent (0-100). `name` is a light, or an area for all its dimmable lights.',
    fits: (e) => e.capabilities.brightness !== undefined,
    value: { key: 'brightness', schema: { type: 'number', minimum: 0, maximum: 100, description: 'Brightness in percent' }, required: true },
  },
  {
    name: 'home_set_color',
    action: 'set_color',
    description: 'Set the colour of a colour light. `name` is a light, or an area for all its colour lights.',
    fits: (e) => e.capabilities.color === true,
    value: { key: 'color', schema: { type: 'string', description: 'A colour word (red, blue, warm white...) or #rrggbb' }, required: true },
  },
  {
    name: 'home_set_color_temperature',
    action: 'set_color_temp',
    description: 'Set the white colour temperature of a light in kelvin (about 2200 warm to 6500 cool).',
    fits: (e) => e.capabilities.colorTemp !== undefined,
    value: { key: 'kelvin', schema: { type: 'number', minimum: 1000, maximum: 10000, description: 'Colour temperature in kelvin' }, required: true },
  },
  {
    name: 'home_set_cover_position',
    action: 'set_position',
    description: 'Move a blind, curtain or shutter to a position in percent (0 closed, 100 open).',
    fits: (e) => e.capabilities.position === true,
    value: { key: 'position', schema: { type: 'number', minimum: 0, maximum: 100, description: 'Percent open' }, required: true },
  },
  {
    name: 'home_set_temperature',
    action: 'set_temperature',
    description: 'Set the target temperature of a thermostat or air conditioner, in degrees.',
    fits: (e) => e.capabilities.setpoint !== undefined,
    value: { key: 'temperature', schema: { type: 'number', description: 'Target temperature in degrees' }, required: true },
  },
  {
    name: 'home_activate_scene',
    action: 'activate_scene',
    description: 'Activate a scene (a saved set of light and device states). `name` is the scene.',
    fits: (e) => e.domain === 'scene',
    areas: false,
  },
  {
    name: 'home_get_state',
    action: 'query_state',
    description: 'Read the current state of a device or sensor (on/off, brightness, position, temperature...). `name` may be an area to read every device there.',
    fits: (e) => e.command.kind !== 'none' || e.domain === 'sensor' || e.domain === 'binary_sensor',
  },
];

/**
 * Tools for the devices the catalogue knows now. Call again after the catalogue changed (or use
 * {@link liveHomeTools}); an empty catalogue gives no tools.
 */
export function homeTools(catalogue: DeviceCatalogue, broker: BrokerLike, opts: HomeToolsOptions = {}): AgentTool[] {
  const entities = catalogue.entities();
  const maxEnum = opts.maxEnumValues ?? 200;
  const tools: AgentTool[] = [];
  for (const spec of SPECS) {
    const fitting = entities.filter(spec.fits);
    if (fitting.length === 0) continue;
    const names = unique([...fitting.map((e) => e.name), ...(spec.areas === false ? [] : fitting.flatMap((e) => (e.area ? [e.area] : [])))]);
    const nameSchema: Record<string, unknown> = { type: 'string', description: 'Device or area name, exactly as listed' };
    if (names.length <= maxEnum) nameSchema.enum = names;
    else nameSchema.description = `Device or area name, e.g. ${names.slice(0, 10).join(', ')}`;
    const properties: Record<string, unknown> = { name: nameSchema };
    const required = ['name'];
    if (spec.value) {
      properties[spec.value.key] = spec.value.schema;
      if (spec.value.required) required.push(spec.value.key);
    }
    tools.push({
      name: spec.name,
      description: spec.description,
      parameters: { type: 'object', properties, required, additionalProperties: false },
      execute: (args, signal) => runTool(catalogue, broker, spec, args, signal, opts),
    });
  }
  return tools;
}

/** Tools that follow the catalogue: rebuilt on the first call after any change. */
export function liveHomeTools(catalogue: DeviceCatalogue, broker: BrokerLike, opts: HomeToolsOptions = {}): { tools(): AgentTool[]; dispose(): void } {
  let cached: AgentTool[] | undefined;
  const invalidate = (): void => {
    cached = undefined;
  };
  catalogue.on('changed', invalidate);
  return {
    tools: () => (cached ??= homeTools(catalogue, broker, opts)),
    dispose: () => {
      catalogue.off('changed', invalidate);
    },
  };
}

async function runTool(
  catalogue: DeviceCatalogue,
  broker: BrokerLike,
  spec: ToolSpec,
  args: Record<string, unknown>,
  signal: AbortSignal,
  opts: HomeToolsOptions,
): Promise<string> {
  const name = typeof args.name === 'string' ? args.name : '';
  const targets = resolveTargets(catalogue, spec, name).slice(0, opts.maxTargets ?? 20);
  // Thrown errors reach the model as "Error: ..." and count as a failed call.
  if (targets.length === 0) throw new Error(`no device or area called "${name}" can do this`);
  let value: string | number | undefined;
  if (spec.value) {
    const raw = args[spec.value.key];
    if (raw === undefined || raw === null || raw === '') throw new Error(`${spec.value.key} is required`);
    value = typeof raw === 'number' || typeof raw === 'string' ? raw : String(raw);
  }
  const results: ActionResult[] = await Promise.all(
    targets.map((entity) =>
      executeAction(
        catalogue,
        broker,
        {
          // Scenes are "turned on" too when a model picks home_turn_on for one.
          action: spec.action === 'turn_on' && entity.domain === 'scene' ? 'activate_scene' : spec.action,
          entityId: entity.id,
          ...(value !== undefined ? { value } : {}),
        },
        { waitForEchoMs: opts.waitForEchoMs ?? 2000, language: opts.language ?? 'en', signal },
      ),
    ),
  );
  const text = results.map((r) => r.spoken).join(' ');
  if (results.every((r) => !r.ok)) throw new Error(text);
  return text;
}

/** A device by its name or alias; else every fitting device of an area with that name. */
function resolveTargets(catalogue: DeviceCatalogue, spec: ToolSpec, name: string): CatalogueEntity[] {
  const wanted = normalizeName(name);
  if (!wanted) return [];
  const byName = catalogue.find(name).filter(spec.fits);
  if (byName.length > 0) return byName;
  if (spec.areas === false) return [];
  return catalogue.entities().filter((e) => e.area !== undefined && normalizeName(e.area) === wanted && spec.fits(e));
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v.trim() !== ''))];
}
