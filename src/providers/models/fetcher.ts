/**
 * Model fetcher: downloads a catalogue entry into a models directory, resuming interrupted
 * transfers with HTTP Range requests, verifying the pinned SHA-256 and extracting tar.bz2 archives
 * with the system `tar` into place atomically (extract into a temp dir, then one rename), so a
 * model directory that exists is always complete.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ModelEntry } from './catalogue';

/** Why a download failed. 'network' failures are retried (resuming) before they surface. */
export type ModelDownloadErrorCode = 'http_status' | 'checksum_mismatch' | 'network' | 'disk' | 'extract' | 'aborted';

/** Error thrown by {@link downloadModel}. */
export class ModelDownloadError extends Error {
  constructor(
    readonly code: ModelDownloadErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelDownloadError';
    this.status = options?.status;
  }
  /** HTTP status for code 'http_status'. */
  readonly status: number | undefined;
}

/** Options of {@link downloadModel}. */
export interface DownloadModelOptions {
  /** Directory holding the models (created if missing). */
  modelsDir: string;
  /**
   * Bytes of the file received so far (resumed bytes included) and the total when the server said.
   * Never goes backwards: after a forced restart it stays quiet until the old mark is passed.
   */
  onProgress?: (receivedBytes: number, totalBytes?: number) => void;
  signal?: AbortSignal;
  /** fetch implementation (tests, proxies). Defaults to the global fetch. */
  fetchImpl?: typeof fetch;
  /** Extra attempts after an interrupted transfer, each resuming where the last one stopped. Default 3. */
  retries?: number;
  /** Pause before each retry, multiplied by the attempt number. Default 1000. */
  retryDelayMs?: number;
  /** Check the pinned checksum (default true). False installs whatever the server sent. */
  verify?: boolean;
  /** Where notes go (the computed checksum of an unpinned model...). Default: stderr. */
  log?: (line: string) => void;
}

/** Disk-side errno codes, reported as code 'disk' rather than 'network'. */
const DISK_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'EMFILE', 'ENFILE', 'EISDIR', 'ENOTDIR']);

/**
 * Download (and extract) a model unless it is already installed.
 * @returns the model's directory, `<modelsDir>/<entry.dir>`.
 */
export async function downloadModel(entry: ModelEntry, opts: DownloadModelOptions): Promise<string> {
  const finalDir = join(opts.modelsDir, entry.dir);
  if (await isNonEmptyDir(finalDir)) return finalDir;
  await diskOp(() => fsp.mkdir(opts.modelsDir, { recursive: true }), `create ${opts.modelsDir}`);

  const fileName = basename(new URL(entry.url).pathname);
  const file = join(opts.modelsDir, fileName);
  // A complete archive is only ever renamed into place after verification, so one left by a run
  // whose extraction failed can be extracted again without downloading it.
  if (!(await exists(file))) {
    await downloadFile(entry.url, file, opts);
    await verifyChecksum(entry, `${file}.part`, opts);
    await diskOp(() => fsp.rename(`${file}.part`, file), `rename ${file}.part`);
  }
  throwIfAborted(opts.signal);

  const staging = await diskOp(() => fsp.mkdtemp(join(opts.modelsDir, '.staging-')), 'create a staging dir');
  try {
    let source: string;
    if (entry.archive === 'file') {
      source = join(staging, entry.dir);
      await diskOp(() => fsp.mkdir(source), `create ${source}`);
      await diskOp(() => fsp.rename(file, join(source, fileName)), `move ${file}`);
    } else {
      await extractTarBz2(file, staging, opts.signal);
      source = await pickExtractedRoot(staging, entry.dir);
    }
    try {
      await fsp.rename(source, finalDir);
    } catch (err) {
      // Another process installed the same model meanwhile: theirs is as good as ours.
      if (!(await isNonEmptyDir(finalDir))) throw diskError(err, `move the model into ${finalDir}`);
    }
    await fsp.rm(file, { force: true });
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
  return finalDir;
}

/** Stream `url` to `<file>.part`, retrying interrupted transfers from where they stopped. */
async function downloadFile(url: string, file: string, opts: DownloadModelOptions): Promise<void> {
  const retries = opts.retries ?? 3;
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const progress = { maxReported: 0 };
  for (let attempt = 0; ; attempt++) {
    try {
      await transferOnce(url, `${file}.part`, opts, progress);
      return;
    } catch (err) {
      if (!(err instanceof ModelDownloadError) || err.code !== 'network' || attempt >= retries) throw err;
      await sleep(retryDelayMs * (attempt + 1), opts.signal);
    }
  }
}

/** One HTTP request: resume with Range when a partial file exists, else start from zero. */
async function transferOnce(url: string, part: string, opts: DownloadModelOptions, progress: { maxReported: number }): Promise<void> {
  const fetchImpl = opts.fetchImpl ?? fetch;
  const signal = opts.signal;
  for (;;) {
    throwIfAborted(signal);
    const have = await fileSize(part);
    let res: Response;
    try {
      res = await fetchImpl(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, redirect: 'follow', signal });
    } catch (err) {
      throw transferError(err, signal, `request to ${url} failed`);
    }

    if (res.status === 416 && have > 0) {
      // Nothing left after our offset: the partial file is complete if its size is the whole file.
      await cancelBody(res);
      const total = parseContentRange(res.headers.get('content-range'))?.total;
      if (total === have) return;
      await fsp.rm(part, { force: true });
      continue;
    }
    if (!res.ok) {
      await cancelBody(res);
      throw new ModelDownloadError('http_status', `HTTP ${res.status} ${res.statusText} for ${url}`, { status: res.status });
    }
    if (!res.body) throw new ModelDownloadError('network', `empty response body from ${url}`);

    let start = 0;
    let total: number | undefined;
    if (res.status === 206) {
      const range = parseContentRange(res.headers.get('content-range'));
      if (!range || range.start !== have) {
        // A range we did not ask for: safest is to start over.
        await cancelBody(res);
        await fsp.rm(part, { force: true });
        continue;
      }
      start = have;
      total = range.total;
    } else {
      // 200: the server ignored Range (or we sent none) and sends the whole file from byte 0.
      const length = Number(res.headers.get('content-length'));
      total = Number.isFinite(length) && length > 0 ? length : undefined;
    }

    // Each chunk is written (and awaited) before the next is read, so whatever arrived before an
    // interruption is on disk and the next attempt resumes after it.
    let received = start;
    let handle: FileHandle;
    try {
      handle = await fsp.open(part, start > 0 ? 'a' : 'w');
    } catch (err) {
      await cancelBody(res);
      throw diskError(err, `open ${part}`);
    }
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        try {
          await handle.write(chunk);
        } catch (err) {
          throw diskError(err, `write ${part}`);
        }
        received += chunk.length;
        if (received > progress.maxReported) {
          progress.maxReported = received;
          opts.onProgress?.(received, total);
        }
      }
    } catch (err) {
      throw transferError(err, signal, `download of ${url} interrupted at ${received} bytes`);
    } finally {
      await handle.close();
    }
    if (total !== undefined && received !== total) {
      throw new ModelDownloadError('network', `download of ${url} ended at ${received} of ${total} bytes`);
    }
    return;
  }
}

/** Compare the file's SHA-256 with the pinned one; log it when none is pinned. */
async function verifyChecksum(entry: ModelEntry, path: string, opts: DownloadModelOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const actual = await sha256File(path, opts.signal);
  if (entry.sha256 === null) {
    log(`${entry.name}: sha256 ${actual} (not pinned in the catalogue; pin it once you trust this download)`);
    return;
  }
  if (opts.verify === false) {
    log(`${entry.name}: sha256 ${actual} (verification skipped; pinned ${entry.sha256})`);
    return;
  }
  if (actual !== entry.sha256.toLowerCase()) {
    // A corrupt file cannot be resumed into a good one: drop it so the next run starts afresh.
    await fsp.rm(path, { force: true });
    throw new ModelDownloadError(
      'checksum_mismatch',
      `${entry.name}: checksum mismatch: expected sha256 ${entry.sha256}, got ${actual}; the download was deleted`,
    );
  }
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  try {
    await pipeline(createReadStream(path), hash, { signal });
  } catch (err) {
    throw transferError(err, signal, `read ${path}`);
  }
  return hash.digest('hex');
}

/** Run the system tar (bzip2) into `destDir`. */
function extractTarBz2(archive: string, destDir: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    // --no-same-owner: we may run as root and must not hand files to the archive's uid.
    execFile('tar', ['-xjf', archive, '-C', destDir, '--no-same-owner'], { signal, maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if (signal?.aborted) return reject(new ModelDownloadError('aborted', 'extraction aborted', { cause: err }));
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'the system `tar` was not found (install tar and bzip2)' : String(stderr).trim() || err.message;
      reject(new ModelDownloadError('extract', `cannot extract ${archive}: ${why}`, { cause: err }));
    });
  });
}

/** The extracted model folder: the expected dir, else the archive's single top-level dir, else all of it. */
async function pickExtractedRoot(staging: string, dir: string): Promise<string> {
  const expected = join(staging, dir);
  if (await isDir(expected)) return expected;
  const entries = await fsp.readdir(staging, { withFileTypes: true });
  const only = entries.length === 1 ? entries[0] : undefined;
  if (only?.isDirectory()) return join(staging, only.name);
  if (entries.length === 0) throw new ModelDownloadError('extract', 'the archive was empty');
  // Files at the top level: keep them all under the expected name.
  const wrapped = join(staging, `.wrap-${process.pid}`);
  await fsp.mkdir(wrapped);
  for (const e of entries) await fsp.rename(join(staging, e.name), join(wrapped, e.name));
  return wrapped;
}

/** Parse `bytes START-END/TOTAL` or `bytes * /TOTAL` (416). */
function parseContentRange(value: string | null): { start?: number; total?: number } | undefined {
  if (!value) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  return {
    start: m[1] === undefined ? undefined : Number(m[1]),
    total: m[3] === undefined || m[3] === '*' ? undefined : Number(m[3]),
  };
}

function transferError(err: unknown, signal: AbortSignal | undefined, what: string): ModelDownloadError {
  if (err instanceof ModelDownloadError) return err;
  if (signal?.aborted) return new ModelDownloadError('aborted', `${what}: aborted`, { cause: err });
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && DISK_ERRNOS.has(code)) return diskError(err, what);
  const detail = err instanceof Error ? (err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message) : String(err);
  return new ModelDownloadError('network', `${what}: ${detail}; run again to resume`, { cause: err });
}

function diskError(err: unknown, what: string): ModelDownloadError {
  const e = err as NodeJS.ErrnoException;
  return new ModelDownloadError('disk', `cannot ${what}: ${e?.code ?? ''} ${e?.message ?? String(err)}`.trim(), { cause: err });
}

async function diskOp<T>(op: () => Promise<T>, what: string): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw diskError(err, what);
  }
}

async function cancelBody(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // the connection is being dropped anyway
  }
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new ModelDownloadError('aborted', 'download aborted', { cause: signal.reason });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ModelDownloadError('aborted', 'download aborted'));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new ModelDownloadError('aborted', 'download aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await fsp.stat(path)).size;
  } catch {
    return 0;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path);
    return true;
  } catch {
    return false;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await fsp.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isNonEmptyDir(path: string): Promise<boolean> {
  try {
    return (await fsp.readdir(path)).length > 0;
  } catch {
    return false;
  }
}
