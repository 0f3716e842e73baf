import assert from 'node:assert/strict';
import { IntentMatcher, SET_VOLUME_TOOL } from '../../src/intents';
import { catalogueOf, homeEntities, ids } from './fixtures';

describe('intents/matcher (English built-ins)', () => {
  const matcher = new IntentMatcher({ languages: ['en', 'zh'], catalogue: catalogueOf(homeEntities(), ['Attic']) });
  const match = (text: string) => matcher.match(text, 'en');

  it('turns on and off by name, alias and area', () => {
    const on = match('turn on the kitchen light');
    assert.equal(on?.intent, 'HassTurnOn');
    assert.deepEqual(ids(on), ['light.kitchen']);
    assert.equal(on?.slots.name, 'Kitchen Light');
    assert.equal(on?.response, 'Turned on Kitchen Light');
    assert.equal(on?.language, 'en');
    assert.equal(on?.text, 'turn on the kitchen light');

    assert.deepEqual(ids(match('switch the cooker light off')), ['light.kitchen']);
    assert.equal(match('switch the cooker light off')?.intent, 'HassTurnOff');
    assert.deepEqual(ids(match('Turn on the bed lamp.')), ['light.bedroom_lamp']);
    assert.deepEqual(ids(match('turn on lamp two')), ['light.lamp2']);
    assert.deepEqual(ids(match('turn on lamp 2')), ['light.lamp2']);
    assert.equal(match('toggle the kettle')?.intent, 'HassToggle');
  });

  it('expands an area to every matching entity of the domain', () => {
    const off = match('switch off all lights in the bedroom');
    assert.equal(off?.intent, 'HassTurnOff');
    assert.deepEqual(ids(off), ['light.bedroom_ceiling', 'light.bedroom_lamp']);
    assert.equal(off?.slots.area, 'Bedroom');
    assert.equal(off?.slots.domain, 'light');
    assert.equal(off?.response, 'Turned off the lights in the Bedroom');
    assert.deepEqual(ids(match('turn on the kitchen lights')), ['light.kitchen', 'light.kitchen_spots']);
    assert.deepEqual(ids(match('turn the bedroom fans on')), ['fan.bedroom']);
    assert.deepEqual(ids(match('turn off all the plugs in the kitchen')), ['switch.kettle']);
  });

  it('resolves ambiguity: exact name beats area, area narrows a shared name', () => {
    // "kitchen light" is an entity: only it, not every light in the kitchen.
    assert.deepEqual(ids(match('turn on the kitchen light')), ['light.kitchen']);
    // "kitchen lights" is no entity: the area's lights.
    assert.deepEqual(ids(match('turn on the kitchen lights')), ['light.kitchen', 'light.kitchen_spots']);
    // Two entities are called "Ceiling Light"; naming the area picks one.
    assert.deepEqual(ids(match('turn on the ceiling light in the office')), ['light.office_ceiling']);
    assert.deepEqual(ids(match('turn on the bedroom ceiling light')), ['light.bedroom_ceiling']);
    assert.deepEqual(ids(match('turn on the ceiling light')), ['light.bedroom_ceiling', 'light.office_ceiling']);
  });

  it('turns all lights off, or those of the device area when the caller knows it', () => {
    const all = match('turn off all the lights');
    assert.equal(all?.intent, 'HassTurnOff');
    assert.equal(all?.entities.length, homeEntities().filter((e) => e.domain === 'light').length);
    const here = matcher.match('turn off the lights', 'en', { area: 'bedroom' });
    assert.deepEqual(ids(here), ['light.bedroom_ceiling', 'light.bedroom_lamp']);
    assert.equal(here?.slots.area, 'Bedroom');
    // "all" means all, even with a context area
    assert.equal(matcher.match('turn off all the lights', 'en', { area: 'Bedroom' })?.entities.length, all?.entities.length);
  });

  it('sets brightness from digits and spelled-out numbers', () => {
    const half = match('set the kitchen light to 50 percent');
    assert.equal(half?.intent, 'HassLightSet');
    assert.equal(half?.slots.brightness, 50);
    assert.deepEqual(ids(half), ['light.kitchen']);
    assert.equal(half?.response, 'Set Kitchen Light to 50 percent');
    assert.equal(match('set the kitchen light to seventy five percent')?.slots.brightness, 75);
    assert.equal(match('set the brightness of the bed lamp to 20%')?.slots.brightness, 20);
    assert.equal(match('Set the kitchen light to one hundred percent.')?.slots.brightness, 100);
    const area = match('set the bedroom lights to 30 percent');
    assert.deepEqual(ids(area), ['light.bedroom_ceiling', 'light.bedroom_lamp']);
    assert.equal(area?.slots.brightness, 30);
    assert.equal(match('set the kitchen light to 150 percent'), undefined);
  });

  it('dims and brightens relative to the current level', () => {
    const dim = match('dim the bedroom lamp');
    assert.equal(dim?.intent, 'HassLightSet');
    assert.equal(dim?.slots.brightnessStep, -25);
    assert.deepEqual(ids(dim), ['light.bedroom_lamp']);
    assert.equal(match('make the kitchen light brighter')?.slots.brightnessStep, 25);
    assert.deepEqual(ids(match('dim the kitchen lights')), ['light.kitchen', 'light.kitchen_spots']);
  });

  it('checks capabilities: a light without brightness cannot be dimmed', () => {
    assert.equal(match('dim the ceiling light in the office'), undefined);
    assert.equal(match('set lamp 2 to 40 percent'), undefined);
  });

  it('sets colour and colour temperature', () => {
    const red = match('make the kitchen light red');
    assert.equal(red?.intent, 'HassLightSet');
    assert.equal(red?.slots.color, 'red');
    assert.equal(red?.response, 'Set Kitchen Light to red');
    assert.equal(match('set the colour of the kitchen light to blue')?.slots.color, 'blue');
    const warm = match('set the kitchen light to warm white');
    assert.equal(warm?.slots.colorTempK, 2700);
    assert.equal(warm?.response, 'Set Kitchen Light to warm white');
    assert.equal(match('make the kitchen light cool white')?.slots.colorTempK, 6500);
    // Spotlights have no colour
    assert.equal(match('make the spotlights red'), undefined);
  });

  it('opens, closes and positions covers', () => {
    const open = match('open the garage door');
    assert.equal(open?.intent, 'HassOpenCover');
    assert.deepEqual(ids(open), ['cover.garage']);
    assert.equal(match('close the garage door')?.intent, 'HassCloseCover');
    assert.deepEqual(ids(match('close the blinds in the bedroom')), ['cover.bedroom_blinds']);
    const pos = match('set the bedroom blinds to 40 percent');
    assert.equal(pos?.intent, 'HassSetPosition');
    assert.equal(pos?.slots.position, 40);
    assert.equal(match('open the garage door halfway')?.slots.position, 50);
    // a light is not a cover
    assert.equal(match('open the kitchen light'), undefined);
  });

  it('sets the thermostat', () => {
    const set = match('set the thermostat to 21 degrees');
    assert.equal(set?.intent, 'HassClimateSetTemperature');
    assert.equal(set?.slots.temperature, 21);
    assert.deepEqual(ids(set), ['climate.hall']);
    assert.equal(set?.response, 'Set Thermostat to 21 degrees');
    assert.equal(match('set the temperature to twenty one point five')?.slots.temperature, 21.5);
    assert.deepEqual(ids(match('set the temperature to 19')), ['climate.bedroom_ac', 'climate.hall']);
    assert.deepEqual(ids(match('set the temperature in the hallway to 22 degrees')), ['climate.hall']);
  });

  it('activates scenes', () => {
    const scene = match('activate movie scene');
    assert.equal(scene?.intent, 'HassTurnOn');
    assert.equal(scene?.slots.domain, 'scene');
    assert.deepEqual(ids(scene), ['scene.movie']);
    assert.equal(scene?.response, 'Activated Movie');
    assert.deepEqual(ids(match('turn on movie night')), ['scene.movie']);
    assert.equal(match('activate the kitchen light scene'), undefined);
  });

  it('answers state queries with a placeholder for the live state', () => {
    const q = match('is the kitchen light on?');
    assert.equal(q?.intent, 'HassGetState');
    assert.equal(q?.slots.state, 'on');
    assert.deepEqual(ids(q), ['light.kitchen']);
    assert.equal(q?.response, 'Kitchen Light is {current_state}');
    assert.equal(match('is the garage door open')?.slots.state, 'open');
    assert.deepEqual(ids(match('are the bedroom lights off')), ['light.bedroom_ceiling', 'light.bedroom_lamp']);
  });

  it("sets the voice device's own volume through its MCP tool", () => {
    const set = match('set the volume to 50');
    assert.equal(set?.intent, 'DeviceSetVolume');
    assert.deepEqual(set?.slots, { tool: SET_VOLUME_TOOL, volume: 50 });
    assert.deepEqual(set?.entities, []);
    assert.equal(set?.response, 'Volume set to 50');
    assert.equal(match('volume thirty')?.slots.volume, 30);
    assert.equal(match('louder')?.slots.volumeStep, 10);
    assert.equal(match('turn it up please')?.slots.volumeStep, 10);
    assert.equal(match('quieter')?.slots.volumeStep, -10);
    assert.equal(match('a bit quieter')?.slots.volumeStep, -10);
    assert.equal(match('mute')?.slots.volume, 0);
    assert.equal(match('set the volume to 120'), undefined);
  });

  it('misses what is not a home command, so the LLM gets it', () => {
    for (const text of [
      'what is the capital of France',
      'turn on the spaceship',
      'turn on the attic lights', // the area exists but has no lights
      'tell me a joke',
      'turn on',
      '',
      '!!!',
      'set the kitchen light to purple haze',
      'turn on the kitchen light and make coffee',
    ]) {
      assert.equal(match(text), undefined, text);
    }
  });

  it('tries English first for Latin text and Chinese first for Han text when no language is given', () => {
    assert.equal(matcher.match('turn on the kitchen light')?.language, 'en');
    assert.equal(matcher.match('打开客厅灯')?.language, 'zh');
    assert.equal(matcher.match('turn on the kitchen light', 'zh'), undefined);
  });
});
