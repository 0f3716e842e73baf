export * from './options';
export * from './device-gateway';
export * from './session';
export * from './session-registry';
export * from './downlink-pacer';
export * from './mcp-client';
export * from './lan-address';
export { handleOtaRequest } from './ota-handler';
export * from './apply-msg';
