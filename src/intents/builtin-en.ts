/**
 * Built-in English home intents. Phrasing follows what people say to Home Assistant Assist and
 * smart speakers; the sentences are our own. Intent names follow Home Assistant's where one
 * exists (HassTurnOn...), so flows written for Assist read familiar.
 *
 * Slots: `name`, `area` (catalogue), `domain` (light/switch/fan/cover/climate/scene), `brightness`,
 * `brightnessStep` (+/- percentage points), `color`, `colorTempK`, `position`, `temperature`,
 * `state`, `volume`, `volumeStep`, `tool` (MCP tool of the voice device).
 */
import type { IntentLanguagePack } from './types';

/** MCP tool of the xiaozhi firmware that sets the speaker volume (0-100). */
export const SET_VOLUME_TOOL = 'self.audio_speaker.set_volume';

const ON_OFF = { capability: 'onOff' } as const;

/** The English pack. */
export const BUILTIN_EN: IntentLanguagePack = {
  language: 'en',
  skipWords: [
    'please', 'kindly', 'the', 'a', 'an', 'my', 'our', 'could you', 'can you', 'would you', 'will you',
    'for me', 'hey', 'um', 'uh', 'er', 'just', 'thanks', 'thank you', 'okay', 'ok', 'now', 'right now',
    'go ahead and', 'i want to', "i'd like to", 'i would like to',
  ],
  rules: {
    turn: '(turn|switch|put)',
    all: '(all [of]|every|each)',
    percent: '(percent|%|per cent)',
    degrees: '(degree[s]|°[c]|celsius|centigrade)',
    set: '(set|change|adjust|put|turn|make)',
    onoff_area: '[the] ({area} {domain_onoff:domain}|{domain_onoff:domain} (in|of) [the] {area})',
    light_area: '[the] ({area} {domain_light:domain}|{domain_light:domain} (in|of) [the] {area})',
    cover_area: '[the] ({area} {domain_cover:domain}|{domain_cover:domain} (in|of) [the] {area})',
    climate_area: '[the] ({area} {domain_climate:domain}|{domain_climate:domain} (in|of) [the] {area})',
    named: '[the] ([{area}] {name}|{name} (in|of) [the] {area})',
    brightness: '{brightness} [<percent>]',
  },
  lists: {
    domain_onoff: {
      kind: 'values',
      values: [
        { in: '(light[s]|lamp[s]|lighting)', out: 'light' },
        { in: '(switch|switches|plug[s]|socket[s]|outlet[s])', out: 'switch' },
        { in: '(fan[s]|ceiling fan[s])', out: 'fan' },
      ],
    },
    domain_light: { kind: 'values', values: [{ in: '(light[s]|lamp[s]|lighting)', out: 'light' }] },
    domain_cover: {
      kind: 'values',
      values: [{ in: '(blind[s]|curtain[s]|shade[s]|shutter[s]|cover[s]|garage door[s]|awning[s])', out: 'cover' }],
    },
    domain_climate: {
      kind: 'values',
      values: [{ in: '(thermostat[s]|heating|heater[s]|air conditioner[s]|air conditioning|ac|climate)', out: 'climate' }],
    },
    color: {
      kind: 'values',
      values: ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'white', 'cyan', 'magenta'].map((c) => ({ in: c, out: c })),
    },
    color_temp: {
      kind: 'values',
      values: [
        { in: '(warm [white]|soft white|candle light)', out: 2700 },
        { in: '(neutral [white]|natural [white])', out: 4000 },
        { in: '(cool [white]|cold [white]|daylight)', out: 6500 },
      ],
    },
    on_off_state: { kind: 'values', values: [{ in: 'on', out: 'on' }, { in: 'off', out: 'off' }] },
    cover_state: { kind: 'values', values: [{ in: '(open|opened)', out: 'open' }, { in: '(closed|shut)', out: 'closed' }] },
    brightness: { kind: 'range', from: 0, to: 100 },
    position: { kind: 'range', from: 0, to: 100 },
    temperature: { kind: 'range', from: 0, to: 100 },
    volume: { kind: 'range', from: 0, to: 100 },
  },
  groups: [
    // On / off / toggle by name
    {
      intent: 'HassTurnOn',
      sentences: ['<turn> on <named>', '<turn> <named> on', '(enable|power on) <named>'],
      requires: ON_OFF,
      response: 'Turned on {name}',
    },
    {
      intent: 'HassTurnOff',
      sentences: ['<turn> off <named>', '<turn> <named> off', '(disable|power off|shut off|kill) <named>'],
      requires: ON_OFF,
      response: 'Turned off {name}',
    },
    { intent: 'HassToggle', sentences: ['toggle <named>'], requires: ON_OFF, response: 'Toggled {name}' },
    // ... by area and domain
    {
      intent: 'HassTurnOn',
      sentences: ['<turn> on [<all>] <onoff_area>', '<turn> [<all>] <onoff_area> on'],
      requires: ON_OFF,
      response: 'Turned on the {domain} in the {area}',
    },
    {
      intent: 'HassTurnOff',
      sentences: ['<turn> off [<all>] <onoff_area>', '<turn> [<all>] <onoff_area> off'],
      requires: ON_OFF,
      response: 'Turned off the {domain} in the {area}',
    },
    { intent: 'HassToggle', sentences: ['toggle [<all>] <onoff_area>'], requires: ON_OFF, response: 'Toggled the {domain} in the {area}' },
    // ... everywhere
    {
      intent: 'HassTurnOn',
      sentences: ['<turn> on <all> {domain_onoff:domain} [everywhere|in the house]', '<turn> <all> {domain_onoff:domain} on'],
      requires: ON_OFF,
      target: 'all',
      response: 'Turned on all the {domain}',
    },
    {
      intent: 'HassTurnOff',
      sentences: ['<turn> off <all> {domain_onoff:domain} [everywhere|in the house]', '<turn> <all> {domain_onoff:domain} off'],
      requires: ON_OFF,
      target: 'all',
      response: 'Turned off all the {domain}',
    },
    // "turn on the lights": the device's own area when the caller knows it, else everywhere.
    {
      intent: 'HassTurnOn',
      sentences: ['<turn> on [the] {domain_onoff:domain}', '<turn> [the] {domain_onoff:domain} on', 'lights on'],
      slots: { domain: 'light' },
      requires: ON_OFF,
      target: 'all',
      useContextArea: true,
      response: 'Turned on the {domain}',
    },
    {
      intent: 'HassTurnOff',
      sentences: ['<turn> off [the] {domain_onoff:domain}', '<turn> [the] {domain_onoff:domain} off', 'lights off'],
      slots: { domain: 'light' },
      requires: ON_OFF,
      target: 'all',
      useContextArea: true,
      response: 'Turned off the {domain}',
    },

    // Brightness
    {
      intent: 'HassLightSet',
      sentences: [
        '<set> [brightness of] <named> [brightness] to <brightness>',
        '<set> [the] brightness of <named> to <brightness>',
        '(dim|brighten) <named> to <brightness>',
        '<named> [brightness] [to] {brightness} <percent>',
      ],
      requires: { capability: 'brightness' },
      response: 'Set {name} to {brightness} percent',
    },
    {
      intent: 'HassLightSet',
      sentences: [
        '<set> [brightness of] [<all>] <light_area> [brightness] to <brightness>',
        '<set> [the] brightness (of|in) [the] {area} to <brightness>',
        '(dim|brighten) [<all>] <light_area> to <brightness>',
      ],
      requires: { capability: 'brightness' },
      slots: { domain: 'light' },
      response: 'Set the {domain} in the {area} to {brightness} percent',
    },
    {
      intent: 'HassLightSet',
      sentences: ['(dim|darken) <named>', '(make|turn) <named> (dimmer|darker)', '<turn> down [brightness of] <named> [brightness]'],
      requires: { capability: 'brightness' },
      slots: { brightnessStep: -25 },
      response: 'Dimmed {name}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['(dim|darken) [<all>] <light_area>', '(make|turn) [<all>] <light_area> (dimmer|darker)'],
      requires: { capability: 'brightness' },
      slots: { brightnessStep: -25, domain: 'light' },
      response: 'Dimmed the {domain} in the {area}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['(brighten|lighten) <named>', '(make|turn) <named> brighter', '<turn> up [brightness of] <named> [brightness]'],
      requires: { capability: 'brightness' },
      slots: { brightnessStep: 25 },
      response: 'Brightened {name}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['(brighten|lighten) [<all>] <light_area>', '(make|turn) [<all>] <light_area> brighter'],
      requires: { capability: 'brightness' },
      slots: { brightnessStep: 25, domain: 'light' },
      response: 'Brightened the {domain} in the {area}',
    },

    // Colour and colour temperature
    {
      intent: 'HassLightSet',
      sentences: ['<set> <named> [to] {color}', '<set> [the] colo[u]r of <named> to {color}', '<set> <named> colo[u]r to {color}'],
      requires: { capability: 'color' },
      response: 'Set {name} to {color}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<set> [<all>] <light_area> [to] {color}', '<set> [the] colo[u]r of [<all>] <light_area> to {color}'],
      requires: { capability: 'color' },
      slots: { domain: 'light' },
      response: 'Set the {domain} in the {area} to {color}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<set> <named> [to] {color_temp:colorTempK} [light]', '<set> [the] colo[u]r temperature of <named> to {color_temp:colorTempK}'],
      requires: { capability: 'colorTemp' },
      response: 'Set {name} to {colorTempK}',
    },
    {
      intent: 'HassLightSet',
      sentences: ['<set> [<all>] <light_area> [to] {color_temp:colorTempK} [light]'],
      requires: { capability: 'colorTemp' },
      slots: { domain: 'light' },
      response: 'Set the {domain} in the {area} to {colorTempK}',
    },

    // Covers
    {
      intent: 'HassOpenCover',
      sentences: ['(open|raise|lift) <named>'],
      requires: { domains: ['cover'] },
      response: 'Opened {name}',
    },
    {
      intent: 'HassOpenCover',
      sentences: ['(open|raise|lift) [<all>] <cover_area>'],
      requires: { domains: ['cover'] },
      response: 'Opened the {domain} in the {area}',
    },
    {
      intent: 'HassOpenCover',
      sentences: ['(open|raise|lift) [<all>] [the] {domain_cover:domain}'],
      requires: { domains: ['cover'] },
      target: 'all',
      useContextArea: true,
      response: 'Opened the {domain}',
    },
    {
      intent: 'HassCloseCover',
      sentences: ['(close|shut|lower|draw) <named>'],
      requires: { domains: ['cover'] },
      response: 'Closed {name}',
    },
    {
      intent: 'HassCloseCover',
      sentences: ['(close|shut|lower|draw) [<all>] <cover_area>'],
      requires: { domains: ['cover'] },
      response: 'Closed the {domain} in the {area}',
    },
    {
      intent: 'HassCloseCover',
      sentences: ['(close|shut|lower|draw) [<all>] [the] {domain_cover:domain}'],
      requires: { domains: ['cover'] },
      target: 'all',
      useContextArea: true,
      response: 'Closed the {domain}',
    },
    {
      intent: 'HassSetPosition',
      sentences: [
        '(set|open|close|move|put|lower|raise) <named> to {position} [<percent>]',
        '(set|change) [the] position of <named> to {position} [<percent>]',
      ],
      requires: { domains: ['cover'], capability: 'position' },
      response: 'Set {name} to {position} percent',
    },
    {
      intent: 'HassSetPosition',
      sentences: ['(set|open|close|move|put|lower|raise) [<all>] <cover_area> to {position} [<percent>]'],
      requires: { domains: ['cover'], capability: 'position' },
      response: 'Set the {domain} in the {area} to {position} percent',
    },
    {
      intent: 'HassSetPosition',
      sentences: ['open <named> (halfway|half way)'],
      requires: { domains: ['cover'], capability: 'position' },
      slots: { position: 50 },
      response: 'Opened {name} halfway',
    },
    {
      intent: 'HassSetPosition',
      sentences: ['open [<all>] <cover_area> (halfway|half way)'],
      requires: { domains: ['cover'], capability: 'position' },
      slots: { position: 50 },
      response: 'Opened the {domain} in the {area} halfway',
    },

    // Climate
    {
      intent: 'HassClimateSetTemperature',
      sentences: [
        '(set|change|put|turn) <named> [temperature] to {temperature} [<degrees>]',
        '(set|change) [the] temperature of <named> to {temperature} [<degrees>]',
      ],
      requires: { capability: 'setpoint' },
      response: 'Set {name} to {temperature} degrees',
    },
    {
      intent: 'HassClimateSetTemperature',
      sentences: [
        '(set|change|put|turn) [the] (temperature|heat|heating) (in|of) [the] {area} to {temperature} [<degrees>]',
        '(set|change|put|turn) [the] {area} (temperature|heat) to {temperature} [<degrees>]',
        '(set|change|put|turn) <climate_area> [temperature] to {temperature} [<degrees>]',
        'make [it] {temperature} <degrees> in [the] {area}',
      ],
      requires: { capability: 'setpoint' },
      response: 'Set the temperature in the {area} to {temperature} degrees',
    },
    {
      intent: 'HassClimateSetTemperature',
      sentences: [
        '(set|change|put|turn) [the] (temperature|heat|heating) to {temperature} [<degrees>]',
        '(set|change|put|turn) [the] {domain_climate:domain} [temperature] to {temperature} [<degrees>]',
        'make it {temperature} <degrees>',
      ],
      requires: { capability: 'setpoint' },
      target: 'all',
      useContextArea: true,
      response: 'Set the temperature to {temperature} degrees',
    },

    // Scenes
    {
      intent: 'HassTurnOn',
      sentences: [
        '(activate|start|run|enable|apply|set|recall|<turn> on) [the] {name} [scene|mode]',
        '[the] {name} (scene|mode) [please]',
        '(activate|start|run|enable|apply|set|recall) [the] (scene|mode) {name}',
      ],
      requires: { domains: ['scene'] },
      slots: { domain: 'scene' },
      response: 'Activated {name}',
    },

    // State queries: {current_state} in the response is filled in by whoever reads the device state.
    {
      intent: 'HassGetState',
      sentences: [
        '(is|are) <named> [turned|switched] {on_off_state:state}',
        '(is|are) <named> {cover_state:state}',
        "(what is|what's) [the] (state|status) of <named>",
        "(is|are) <named> (on or off|open or closed)",
      ],
      response: '{name} is {current_state}',
    },
    {
      intent: 'HassGetState',
      sentences: ['(is|are) [<all>] [any] <onoff_area> {on_off_state:state}', '(is|are) [<all>] [any] <cover_area> {cover_state:state}'],
      response: 'The {domain} in the {area}: {current_state}',
    },

    // Volume of the voice device itself (its MCP tool), no catalogue target.
    {
      intent: 'DeviceSetVolume',
      sentences: [
        '(set|change|turn|put|adjust) [the|your] volume to {volume} [<percent>]',
        '(set|turn) [the|your] volume (at|on) {volume} [<percent>]',
        'volume [to] {volume} [<percent>]',
      ],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL },
      response: 'Volume set to {volume}',
    },
    {
      intent: 'DeviceSetVolume',
      sentences: [
        '(louder|speak up|volume up|turn it up|turn [the|your] volume up|turn up [the|your] volume)',
        '(increase|raise) [the|your] volume',
        '(talk|speak) louder',
        '(a bit|a little) louder',
      ],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL, volumeStep: 10 },
      response: 'Turning the volume up',
    },
    {
      intent: 'DeviceSetVolume',
      sentences: [
        '(quieter|softer|volume down|turn it down|turn [the|your] volume down|turn down [the|your] volume)',
        '(decrease|lower|reduce) [the|your] volume',
        '(talk|speak) (quieter|softer|more quietly)',
        '(a bit|a little) (quieter|softer)',
      ],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL, volumeStep: -10 },
      response: 'Turning the volume down',
    },
    {
      intent: 'DeviceSetVolume',
      sentences: ['(max|maximum|full) volume', '(set|turn) [the|your] volume to (max|maximum|full)'],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL, volume: 100 },
      response: 'Volume set to {volume}',
    },
    {
      intent: 'DeviceSetVolume',
      sentences: ['mute [yourself|the volume|the sound]'],
      target: 'none',
      slots: { tool: SET_VOLUME_TOOL, volume: 0 },
      response: 'Muted',
    },
  ],
};
