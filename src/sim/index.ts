/** The device simulator: a firmware-like xiaozhi client for trying and testing a server. */
export { DeviceSimulator } from './device-simulator';
export type {
  DeviceSimulatorOptions,
  DeviceSimulatorEvents,
  SimState,
  SimListenMode,
  SimJson,
  ServerHelloInfo,
  SimReceived,
  SimSent,
  SendFramesOptions,
  SendFramesResult,
  SpeakOptions,
} from './device-simulator';
export { SimTurn } from './sim-turn';
export type { SimTurnTrigger, FrameGapStats } from './sim-turn';
export { SimMcpServer } from './sim-mcp-server';
export type { SimMcpServerOptions, SimVisionEndpoint } from './sim-mcp-server';
export { createDefaultSimTools, defaultSimDeviceState } from './sim-tools';
export type { SimTool, SimToolProperty, SimDeviceState } from './sim-tools';
export { requestOta, otaRequestBody } from './ota-client';
export type { OtaResponse, OtaRequestIdentity } from './ota-client';
export { synthesizeSpeech } from './espeak';
export type { EspeakOptions } from './espeak';
export { SimError } from './sim-error';
export type { SimErrorCode } from './sim-error';
export { runSimCli, SIM_EXIT } from './cli';
export type { SimCliIo } from './cli';
