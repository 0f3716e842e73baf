/**
 * From an intent match to the catalogue actions the round-trip benchmark executes: one
 * HomeIntent per resolved target entity. The mapping follows the intent stage
 * (src/pipeline/intent-stage.ts) for the intents whose action waits for a state echo; scenes,
 * state queries and the voice device's own volume are left out because nothing echoes them.
 */
import type { EntityState, HomeActionName, HomeIntent } from '../../../src/broker';
import type { IntentMatch } from '../../../src/intents/types';

const ACTION_OF: Readonly<Record<string, HomeActionName>> = {
  HassTurnOn: 'turn_on',
  HassTurnOff: 'turn_off',
  HassToggle: 'toggle',
  HassOpenCover: 'open',
  HassCloseCover: 'close',
  HassSetPosition: 'set_position',
  HassClimateSetTemperature: 'set_temperature',
};

/** Relative brightness ("dim the lights") starts here when the light's level is not known yet (as the intent stage does). */
const UNKNOWN_BRIGHTNESS_PERCENT = 50;

/** The echoed action a match asks for, or undefined when it has none (scene, query, volume, custom). */
export function echoedActionOf(match: IntentMatch): HomeActionName | undefined {
  if (match.intent === 'HassTurnOn' && match.slots.domain === 'scene') return undefined;
  if (match.intent === 'HassLightSet') {
    if (match.slots.color !== undefined) return 'set_color';
    if (match.slots.colorTempK !== undefined) return 'set_color_temp';
    return 'set_brightness';
  }
  return ACTION_OF[match.intent];
}

/** One HomeIntent per target entity; empty when the match has no echoed action or no target. */
export function homeIntentsOf(match: IntentMatch, stateOf: (entityId: string) => EntityState | undefined): HomeIntent[] {
  const action = echoedActionOf(match);
  if (!action) return [];
  const s = match.slots;
  return match.entities.map((entity) => {
    const intent: HomeIntent = { action, entityId: entity.id };
    let value: string | number | undefined;
    if (action === 'set_brightness') {
      if (typeof s.brightness === 'number') value = s.brightness;
      else if (typeof s.brightnessStep === 'number') {
        value = Math.max(1, Math.min(100, (stateOf(entity.id)?.brightnessPercent ?? UNKNOWN_BRIGHTNESS_PERCENT) + s.brightnessStep));
      }
    } else if (action === 'set_color') value = s.color;
    else if (action === 'set_color_temp') value = s.colorTempK;
    else if (action === 'set_position') value = s.position;
    else if (action === 'set_temperature') value = s.temperature;
    if (value !== undefined) intent.value = value;
    return intent;
  });
}
