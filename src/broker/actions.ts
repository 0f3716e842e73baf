/**
 * executeAction: carry out a home intent on a catalogue entity over MQTT, optionally wait for
 * the device's state echo, and answer with a sentence to speak: a confirmation, or a clear
 * failure ("Sorry, the kitchen light did not respond.").
 */
import type { DeviceCatalogue } from './catalogue';
import type { BrokerLike, CatalogueEntity, EntityState } from './catalogue-types';
import { TemplateUnsupportedError } from './catalogue-template';
import { ActionError, planAction, type ActionErrorCode, type HomeIntent } from './actions-plan';
import { ABILITY_WORDS, describeState, speak, spokenName, type ActionLanguage } from './actions-speech';
import { resolveColor } from './actions-colors';

export { ActionError, type HomeIntent, type HomeActionName, type ActionErrorCode } from './actions-plan';
export type { ActionLanguage } from './actions-speech';

/** Options of executeAction. */
export interface ExecuteActionOptions {
  /** How long to wait for the state echo; 0 publishes without waiting. Default 2000 ms. */
  waitForEchoMs?: number;
  /** Language of `spoken`. Default 'en'. */
  language?: ActionLanguage;
  /** Abort the wait (e.g. the turn was barged in). The command is still sent. */
  signal?: AbortSignal;
}

/** What happened. */
export interface ActionResult {
  /** The command was sent and, when an echo was awaited, the device confirmed it. */
  ok: boolean;
  /** A state echo matching the command arrived (or, for query_state, the state is known). */
  confirmed: boolean;
  /** Sentence to speak. */
  spoken: string;
  /** The entity's state after the action (the echo, or the last known one). */
  state?: EntityState;
  /** Failure code when ok is false. */
  error?: ActionErrorCode | 'no_response';
  entityId: string;
}

const DEFAULT_WAIT_MS = 2000;

/**
 * Execute an intent. Never throws for device or intent problems: every failure comes back as
 * `{ok: false, spoken}` so a voice turn always has something to say.
 */
export async function executeAction(
  catalogue: DeviceCatalogue,
  broker: BrokerLike,
  intent: HomeIntent,
  options: ExecuteActionOptions = {},
): Promise<ActionResult> {
  const language = options.language ?? 'en';
  const waitMs = Math.max(0, options.waitForEchoMs ?? DEFAULT_WAIT_MS);
  const entity = catalogue.get(intent.entityId);
  if (!entity) {
    return { ok: false, confirmed: false, spoken: speak(language, 'not_found', { name: '' }), error: 'not_found', entityId: intent.entityId };
  }
  const name = spokenName(entity, language);
  const fail = (code: ActionErrorCode | 'no_response', spoken: string, state?: EntityState): ActionResult => ({
    ok: false,
    confirmed: false,
    spoken,
    error: code,
    state,
    entityId: entity.id,
  });

  if (intent.action === 'query_state') return queryState(catalogue, broker, entity, waitMs, language, options.signal);

  let plan;
  try {
    plan = planAction(entity, intent, catalogue.state(entity.id));
  } catch (err) {
    if (err instanceof ActionError && err.code === 'unsupported') {
      const ability = ABILITY_WORDS[intent.action]?.[language] ?? intent.action;
      return fail('unsupported', speak(language, 'unsupported', { name, value: ability }));
    }
    if (err instanceof ActionError && err.code === 'bad_value') return fail('bad_value', speak(language, 'bad_value', { name }));
    if (err instanceof TemplateUnsupportedError) return fail('template_unsupported', speak(language, 'publish_failed', { name }));
    throw err;
  }

  // Listen before publishing so a fast echo cannot slip between publish and wait. The wait has
  // its own abort so a failed publish does not leave a timer running.
  const waitAbort = new AbortController();
  const onCallerAbort = (): void => waitAbort.abort();
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  if (options.signal?.aborted) waitAbort.abort();
  const echo =
    plan.expect && waitMs > 0 ? catalogue.waitForState(entity.id, plan.expect, waitMs, waitAbort.signal) : Promise.resolve(undefined);
  void echo.finally(() => options.signal?.removeEventListener('abort', onCallerAbort));
  try {
    for (const p of plan.publishes) await broker.publish(p.topic, p.payload, { qos: p.qos, retain: p.retain });
  } catch {
    waitAbort.abort();
    return fail('publish_failed', speak(language, 'publish_failed', { name }));
  }

  let confirmValue = plan.confirmValue;
  if (plan.confirmKey === 'color_set') confirmValue = resolveColor(intent.value)?.[language] ?? String(intent.value);
  const confirmation = speak(language, plan.confirmKey, { name, value: confirmValue });

  if (!plan.expect || waitMs === 0) {
    return { ok: true, confirmed: false, spoken: confirmation, state: catalogue.state(entity.id), entityId: entity.id };
  }
  const state = await echo;
  if (state) {
    // A toggle's confirmation follows what the device reports, not what we guessed.
    const spoken = intent.action === 'toggle' && state.on !== undefined ? speak(language, state.on ? 'turned_on' : 'turned_off', { name }) : confirmation;
    return { ok: true, confirmed: true, spoken, state, entityId: entity.id };
  }
  if (options.signal?.aborted) return { ok: true, confirmed: false, spoken: confirmation, state: catalogue.state(entity.id), entityId: entity.id };
  return fail('no_response', speak(language, 'no_response', { name }), catalogue.state(entity.id));
}

async function queryState(
  catalogue: DeviceCatalogue,
  broker: BrokerLike,
  entity: CatalogueEntity,
  waitMs: number,
  language: ActionLanguage,
  signal: AbortSignal | undefined,
): Promise<ActionResult> {
  let state = catalogue.state(entity.id);
  // Nothing heard yet: zigbee2mqtt can be asked with /get when the state is readable.
  if (!state && entity.command.kind === 'zigbee2mqtt' && entity.command.canGet && entity.command.properties.state && waitMs > 0) {
    const answer = catalogue.waitForState(entity.id, () => true, waitMs, signal);
    try {
      await broker.publish(entity.command.getTopic, JSON.stringify({ [entity.command.properties.state]: '' }), { qos: 0, retain: false });
      state = await answer;
    } catch {
      state = undefined;
    }
  }
  const described = describeState(entity, state, language);
  if (!described) {
    return { ok: false, confirmed: false, spoken: speak(language, 'state_unknown', { name: spokenName(entity, language) }), error: 'no_response', entityId: entity.id };
  }
  return { ok: true, confirmed: true, spoken: described, state, entityId: entity.id };
}
