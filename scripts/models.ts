#!/usr/bin/env node
/**
 * Model fetcher CLI.
 *
 *   npm run models -- --list
 *   npm run models -- <name> [<name>...] [--dir models] [--mirror URL] [--no-verify]
 *
 * Models go to --dir, else $XIAOZHI_MODELS_DIR, else ./models. Interrupted downloads resume.
 * --mirror (or $XIAOZHI_MODELS_MIRROR) fetches the same file names from another base URL, for
 * networks where the origin is slow or blocked.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findModel, MODEL_CATALOGUE, type ModelEntry } from '../src/providers/models/catalogue';
import { downloadModel, ModelDownloadError } from '../src/providers/models/fetcher';

// cli-progress ships no types; this is the part of its API we use.
interface ProgressBar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  setTotal(total: number): void;
  stop(): void;
}
interface CliProgress {
  SingleBar: new (options: Record<string, unknown>, preset?: unknown) => ProgressBar;
  Presets: { shades_classic: unknown };
}

const USAGE = `Usage: npm run models -- <name> [<name>...] [--dir DIR] [--mirror URL] [--no-verify]
       npm run models -- --list
Models are stored under --dir, $XIAOZHI_MODELS_DIR or ./models.
--mirror URL (or $XIAOZHI_MODELS_MIRROR) downloads <URL>/<archive file name> instead of the origin.`;

function formatMb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function listModels(modelsDir: string): void {
  const rows = Object.values(MODEL_CATALOGUE).map((e) => [
    `${e.name}${e.sha256 ? '' : ' *'}`,
    e.kind,
    `${e.approximateSize ? '~' : ''}${formatMb(e.sizeBytes)} MB`,
    e.languages.join(','),
    e.informational ? `${e.description} (${e.informational})` : e.description,
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  console.log(`Models (install dir: ${modelsDir}; ~ = approximate size; * = checksum not pinned)\n`);
  for (const r of rows) console.log(r.map((c, i) => (i < 4 ? c.padEnd(widths[i] ?? 0) : c)).join('  '));
}

async function fetchOne(entry: ModelEntry, modelsDir: string, verify: boolean, signal: AbortSignal): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cliProgress = require('cli-progress') as CliProgress;
  const bar = new cliProgress.SingleBar(
    {
      format: `${entry.name} |{bar}| {percentage}% | {receivedMb}/{totalMb} MB | {speed} MB/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 5000,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const startedAt = Date.now();
  let firstBytes = -1;
  const dir = await downloadModel(entry, {
    modelsDir,
    signal,
    verify,
    log: (line) => console.error(started ? `\n${line}` : line),
    onProgress: (received, total) => {
      if (firstBytes < 0) firstBytes = received; // resumed bytes do not count towards speed
      const seconds = (Date.now() - startedAt) / 1000;
      const payload = {
        receivedMb: formatMb(received),
        totalMb: total ? formatMb(total) : '?',
        speed: seconds > 0 ? ((received - firstBytes) / 1e6 / seconds).toFixed(1) : '0.0',
      };
      const barTotal = total ?? entry.sizeBytes;
      if (!started) {
        bar.start(barTotal, received, payload);
        started = true;
      } else {
        bar.update(received, payload);
      }
    },
  }).finally(() => {
    if (started) bar.stop();
  });
  console.error(`${entry.name}: ready in ${dir}`);
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        dir: { type: 'string', short: 'd' },
        mirror: { type: 'string' },
        list: { type: 'boolean', short: 'l' },
        'no-verify': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const modelsDir = resolve(values.dir ?? process.env.XIAOZHI_MODELS_DIR ?? 'models');
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    listModels(modelsDir);
    return 0;
  }
  if (positionals.length === 0) {
    console.error(USAGE);
    return 2;
  }
  const entries: ModelEntry[] = [];
  for (const name of positionals) {
    const entry = findModel(name);
    if (!entry) {
      console.error(`Unknown model '${name}'. Known: ${Object.keys(MODEL_CATALOGUE).join(', ')}`);
      return 2;
    }
    entries.push(entry);
  }
  const mirror = values.mirror ?? process.env.XIAOZHI_MODELS_MIRROR;
  if (mirror) {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const fileName = new URL(e.url).pathname.split('/').pop() ?? '';
      entries[i] = { ...e, url: `${mirror.replace(/\/+$/, '')}/${fileName}` };
    }
  }
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  for (const entry of entries) {
    try {
      await fetchOne(entry, modelsDir, !values['no-verify'], controller.signal);
    } catch (err) {
      if (err instanceof ModelDownloadError) {
        console.error(`\n${entry.name}: ${err.code}: ${err.message}`);
        if (err.code === 'aborted' || err.code === 'network') console.error('Run the same command again to resume.');
      } else {
        console.error(`\n${entry.name}:`, err);
      }
      return 1;
    }
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
