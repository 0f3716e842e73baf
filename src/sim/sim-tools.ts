/**
 * Tools the simulated device offers over MCP (protocol.md §2.6), declared the way the firmware
 * declares them: typed properties with optional default and range, a callback that returns a
 * bool, a number, a string or an object.
 */

/** One argument of a tool. Properties without `default` are required (FW rule). */
export type SimToolProperty =
  | { type: 'integer'; default?: number; minimum?: number; maximum?: number }
  | { type: 'string'; default?: string }
  | { type: 'boolean'; default?: boolean };

/** A tool of the simulated device. */
export interface SimTool {
  /** Dotted firmware-style name, e.g. `self.audio_speaker.set_volume`. */
  name: string;
  description: string;
  properties?: Record<string, SimToolProperty>;
  /** User-only tools (FW `annotations.audience = ["user"]`) are listed only with `withUserTools`. */
  userOnly?: boolean;
  /**
   * Runs the tool with validated arguments (defaults filled in). The result is turned into the
   * reply text like FW does: boolean -> "true"/"false", number -> decimal, object -> JSON.
   * Throwing makes the reply an MCP error carrying the thrown message.
   */
  call(args: Record<string, unknown>): unknown;
}

/** The mutable state the default tools read and change, so tests can see a tool call's effect. */
export interface SimDeviceState {
  volume: number;
  screenBrightness: number;
  screenTheme: 'light' | 'dark';
  batteryLevel: number;
  charging: boolean;
  lightOn: boolean;
}

/** A fresh default state: the numbers a typical board reports after boot. */
export function defaultSimDeviceState(): SimDeviceState {
  return { volume: 70, screenBrightness: 80, screenTheme: 'light', batteryLevel: 85, charging: false, lightOn: false };
}

/**
 * The default tool set: the common FW tools a board with a speaker and a light registers, in FW
 * registration order, acting on `state`.
 */
export function createDefaultSimTools(state: SimDeviceState): SimTool[] {
  return [
    {
      name: 'self.get_device_status',
      description:
        'Returns the real-time state of the device (speaker volume, screen, battery, network, light). ' +
        'Call it before changing a setting when you need the current value.',
      call: () => ({
        audio_speaker: { volume: state.volume },
        screen: { brightness: state.screenBrightness, theme: state.screenTheme },
        battery: { level: state.batteryLevel, charging: state.charging },
        network: { type: 'wifi', ssid: 'sim-wifi', signal: 'strong' },
        light: { power: state.lightOn },
      }),
    },
    {
      name: 'self.audio_speaker.set_volume',
      description: 'Sets the speaker volume (0-100). Read the current volume with self.get_device_status first when the change is relative.',
      properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } },
      call: (args) => {
        state.volume = args.volume as number;
        return true;
      },
    },
    {
      name: 'self.light.turn_on',
      description: 'Turns the light on.',
      call: () => {
        state.lightOn = true;
        return true;
      },
    },
    {
      name: 'self.light.turn_off',
      description: 'Turns the light off.',
      call: () => {
        state.lightOn = false;
        return true;
      },
    },
  ];
}
