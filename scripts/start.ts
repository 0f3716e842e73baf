#!/usr/bin/env node
/**
 * Standalone runner: an embedded Node-RED with our nodes and the default voice-hub flow.
 *
 *   npm start                      editor on :1880, devices on :8000 (OTA /xiaozhi/ota/, WS /xiaozhi/v1/)
 *   npm start -- --data ./mydata   user data (flows, credentials) elsewhere
 *
 * Settings come from environment variables and, if present, <data>/xiaozhi.yaml (env wins).
 * User data lives in ./data (never in the package folder).
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, lstatSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { lanAddress } from '../src/gateway/lan-address';

const packageRoot = resolve(__dirname, '..', '..');

/** YAML keys -> environment variables the default flow reads (${VAR} in node properties). */
const YAML_TO_ENV: Record<string, string> = {
  editorPort: 'NODE_RED_PORT',
  port: 'XIAOZHI_PORT',
  mqttPort: 'XIAOZHI_MQTT_PORT',
  publicUrl: 'XIAOZHI_PUBLIC_URL',
  'llm.baseUrl': 'XIAOZHI_LLM_BASE_URL',
  'llm.apiKey': 'XIAOZHI_LLM_API_KEY',
  'llm.model': 'XIAOZHI_LLM_MODEL',
  'llm.systemPrompt': 'XIAOZHI_SYSTEM_PROMPT',
  'tts.voice': 'XIAOZHI_TTS_VOICE',
  'asr.language': 'XIAOZHI_ASR_LANGUAGE',
  'redis.url': 'XIAOZHI_REDIS_URL',
};

const DEFAULT_ENV: Record<string, string> = {
  NODE_RED_PORT: '1880',
  XIAOZHI_PORT: '8000',
  XIAOZHI_MQTT_PORT: '1883',
  XIAOZHI_PUBLIC_URL: '',
  XIAOZHI_LLM_BASE_URL: process.env.OPENAI_BASE_URL ?? '',
  XIAOZHI_LLM_API_KEY: process.env.OPENAI_API_KEY ?? '',
  XIAOZHI_LLM_MODEL: 'gpt-4o-mini',
  XIAOZHI_SYSTEM_PROMPT: 'You are a friendly voice assistant on a small speaker. Answer in one or two short spoken sentences.',
  XIAOZHI_TTS_VOICE: 'en-us',
  XIAOZHI_ASR_LANGUAGE: 'en',
  // Cluster mode (docs/scaling.md): LLM nodes on history 'auto' keep conversations here.
  XIAOZHI_REDIS_URL: '',
};

function readYamlConfig(file: string): void {
  if (!existsSync(file)) return;
  const doc = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object') return;
  for (const [path, envName] of Object.entries(YAML_TO_ENV)) {
    const value = path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), doc);
    if (value !== undefined && value !== null && process.env[envName] === undefined) process.env[envName] = String(value);
  }
}

/** Make Node-RED load this package as a module from the user dir, like a palette install (examples included). */
function linkPackage(dataDir: string): void {
  const modules = join(dataDir, 'node_modules');
  mkdirSync(modules, { recursive: true });
  const link = join(modules, 'node-red-contrib-xiaozhi');
  try {
    const stat = lstatSync(link);
    if (stat.isSymbolicLink()) rmSync(link);
    else return; // a real install is there: leave it alone
  } catch {
    /* not there yet */
  }
  symlinkSync(packageRoot, link, 'dir');
  const pkg = join(dataDir, 'package.json');
  if (!existsSync(pkg)) writeFileSync(pkg, JSON.stringify({ name: 'xiaozhi-hub-data', private: true, dependencies: {} }, null, 2));
}

function credentialSecret(dataDir: string): string {
  if (process.env.XIAOZHI_CREDENTIAL_SECRET) return process.env.XIAOZHI_CREDENTIAL_SECRET;
  const file = join(dataDir, '.credential-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      flow: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: npm start [-- --data <dir>] [--flow <flows.json to start from>]');
    return;
  }
  const dataDir = resolve(values.data ?? process.env.XIAOZHI_DATA_DIR ?? 'data');
  if (dataDir === packageRoot || dataDir.startsWith(join(packageRoot, 'dist'))) throw new Error('the data dir must not be the package folder');
  mkdirSync(dataDir, { recursive: true });
  readYamlConfig(process.env.XIAOZHI_CONFIG ?? join(dataDir, 'xiaozhi.yaml'));
  for (const [k, v] of Object.entries(DEFAULT_ENV)) if (process.env[k] === undefined) process.env[k] = v;

  const flowFile = join(dataDir, 'flows.json');
  if (!existsSync(flowFile)) copyFileSync(values.flow ?? join(packageRoot, 'flows', 'default.json'), flowFile);
  linkPackage(dataDir);

  // Node-RED and its express come from our dependencies.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RED = require('node-red');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const express = require(require.resolve('express', { paths: [require.resolve('node-red')] }));
  const app = express();
  const server = createServer(app);
  const editorPort = Number(process.env.NODE_RED_PORT);
  const settings = {
    userDir: dataDir,
    flowFile: 'flows.json',
    credentialSecret: credentialSecret(dataDir),
    httpAdminRoot: '/',
    httpNodeRoot: '/api',
    uiPort: editorPort,
    functionGlobalContext: {},
    logging: { console: { level: process.env.XIAOZHI_LOG_LEVEL ?? 'info', metrics: false, audit: false } },
    editorTheme: { projects: { enabled: false }, tours: false, header: { title: 'xiaozhi voice hub' } },
    diagnostics: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: true } },
  };
  RED.init(server, settings);
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use(settings.httpNodeRoot, RED.httpNode);
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(editorPort, () => resolveListen());
  });
  await RED.start();

  const host = lanAddress();
  const devicePort = process.env.XIAOZHI_PORT;
  const publicUrl = process.env.XIAOZHI_PUBLIC_URL;
  console.log('');
  console.log('xiaozhi voice hub is running');
  console.log(`  Node-RED editor : http://${host}:${editorPort}/`);
  console.log(`  OTA URL         : http://${host}:${devicePort}/xiaozhi/ota/   <- set this as the device's OTA address`);
  console.log(`  WebSocket       : ${publicUrl || `ws://${host}:${devicePort}/xiaozhi/v1/`}`);
  console.log(`  MQTT broker     : mqtt://${host}:${process.env.XIAOZHI_MQTT_PORT} (anonymous from this machine only)`);
  console.log(`  data dir        : ${dataDir}`);
  if (process.env.XIAOZHI_REDIS_URL) console.log(`  shared history  : ${process.env.XIAOZHI_REDIS_URL.replace(/\/\/[^@/]*@/, '//***@')}`);
  console.log(`  try it          : npx xiaozhi-sim --ota http://127.0.0.1:${devicePort}/xiaozhi/ota/ --text "hello"`);
  console.log('');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping...');
    await RED.stop();
    server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  console.error(`xiaozhi hub failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
