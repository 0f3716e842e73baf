/** The xiaozhi protocol layer: messages, binary framing, OTA, tokens, MCP. Pure, no I/O. */
export * from './errors';
export * from './messages';
export * from './framing';
export * from './ota';
export * from './token';
export * from './mcp';
