import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fsp, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelEntry } from '../../../src/providers/models/catalogue';
import { downloadModel, ModelDownloadError, sha256File } from '../../../src/providers/models/fetcher';

/** What the loopback model server does with the next requests. */
interface ServerBehaviour {
  /** Close the socket after this many body bytes, for the first N requests. */
  cutAfterBytes?: number;
  cutRequests?: number;
  /** Answer 200 with the whole file even when a Range is asked for. */
  ignoreRange?: boolean;
  /** Send this many bytes, then stop sending without closing. */
  stallAfterBytes?: number;
}

interface Served {
  server: Server;
  baseUrl: string;
  /** Range header of every request to a model path ('' when none). */
  ranges: string[];
  behaviour: ServerBehaviour;
  files: Map<string, Buffer>;
}

function serveModels(): Promise<Served> {
  const files = new Map<string, Buffer>();
  // One object shared with the request handler: tests change `behaviour` on it between requests.
  const served = { ranges: [], behaviour: {}, files } as unknown as Served;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url.startsWith('/redirect/')) {
      // Like a release-asset host: a redirect to the storage URL.
      res.writeHead(302, { Location: url.replace('/redirect/', '/files/') });
      res.end();
      return;
    }
    const body = files.get(url);
    if (!body) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    const range = req.headers.range ?? '';
    served.ranges.push(range);
    const b = served.behaviour;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(range);
    if (m && !b.ignoreRange) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` });
        res.end();
        return;
      }
      res.writeHead(206, {
        'Content-Length': body.length - start,
        'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`,
        'Accept-Ranges': 'bytes',
      });
    } else {
      res.writeHead(200, { 'Content-Length': body.length, 'Accept-Ranges': b.ignoreRange ? 'none' : 'bytes' });
    }
    const rest = body.subarray(start);
    if (b.cutAfterBytes !== undefined && (b.cutRequests ?? 0) > 0) {
      b.cutRequests = (b.cutRequests ?? 0) - 1;
      // Drop the connection a moment after the bytes went out, as a flaky network would (closing
      // at once can make the client discard bytes it had already received along with the error).
      res.write(rest.subarray(0, b.cutAfterBytes), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    if (b.stallAfterBytes !== undefined) {
      res.write(rest.subarray(0, b.stallAfterBytes));
      return; // never ends: the client must abort
    }
    res.end(rest);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      served.server = server;
      served.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve(served);
    });
  });
}

describe('model fetcher (loopback HTTP server)', function () {
  let served: Served;
  let work: string;
  let archive: Buffer;
  let archiveSha: string;
  let modelBytes: Buffer;
  let single: Buffer;

  before(async function () {
    work = mkdtempSync(join(tmpdir(), 'xz-fetch-'));
    // A real bzip2 tarball shaped like a sherpa-onnx release: one top-level folder.
    const src = join(work, 'src');
    const modelDir = join(src, 'test-model-2024');
    await fsp.mkdir(join(modelDir, 'test_wavs'), { recursive: true });
    modelBytes = randomBytes(400_000); // random data does not compress: a download of ~400 KB
    writeFileSync(join(modelDir, 'model.int8.onnx'), modelBytes);
    writeFileSync(join(modelDir, 'tokens.txt'), 'a 0\nb 1\n');
    writeFileSync(join(modelDir, 'test_wavs', 'trans.txt'), 'hello\n');
    execFileSync('tar', ['-cjf', join(work, 'test-model-2024.tar.bz2'), '-C', src, 'test-model-2024']);
    archive = readFileSync(join(work, 'test-model-2024.tar.bz2'));
    archiveSha = createHash('sha256').update(archive).digest('hex');
    single = randomBytes(150_000);
    served = await serveModels();
    served.files.set('/files/test-model-2024.tar.bz2', archive);
    served.files.set('/files/vad.onnx', single);
    served.files.set('/files/not-an-archive.tar.bz2', Buffer.from('this is not bzip2 data at all'));
  });

  after(function () {
    served?.server.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  beforeEach(function () {
    served.ranges.length = 0;
    served.behaviour = {};
  });

  function entry(overrides: Partial<ModelEntry> = {}): ModelEntry {
    return {
      name: 'test-model',
      url: `${served.baseUrl}/redirect/test-model-2024.tar.bz2`,
      sha256: archiveSha,
      sizeBytes: archive.length,
      archive: 'tar.bz2',
      dir: 'test-model-2024',
      kind: 'sense-voice',
      description: 'test',
      license: 'MIT',
      languages: ['en'],
      ...overrides,
    };
  }

  function freshModelsDir(): string {
    return mkdtempSync(join(work, 'models-'));
  }

  it('downloads through a redirect, verifies, extracts, and reports monotonic progress', async function () {
    const modelsDir = freshModelsDir();
    const progress: Array<[number, number | undefined]> = [];
    const dir = await downloadModel(entry(), { modelsDir, onProgress: (r, t) => progress.push([r, t]), log: () => {} });
    assert.equal(dir, join(modelsDir, 'test-model-2024'));
    assert.deepEqual(readFileSync(join(dir, 'model.int8.onnx')), modelBytes);
    assert.equal(readFileSync(join(dir, 'tokens.txt'), 'utf8'), 'a 0\nb 1\n');
    assert.ok(existsSync(join(dir, 'test_wavs', 'trans.txt')));
    // Nothing but the model folder is left behind (no .part, archive or staging dir).
    assert.deepEqual(await fsp.readdir(modelsDir), ['test-model-2024']);
    assert.ok(progress.length > 1, 'several progress reports');
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]![0] > progress[i - 1]![0], 'progress increases');
    assert.deepEqual(progress.at(-1), [archive.length, archive.length]);
    assert.deepEqual(served.ranges, ['']);
  });

  it('is idempotent: an installed model is returned without any request', async function () {
    const modelsDir = freshModelsDir();
    await downloadModel(entry(), { modelsDir, log: () => {} });
    served.ranges.length = 0;
    let fetches = 0;
    const dir = await downloadModel(entry(), {
      modelsDir,
      fetchImpl: (...args) => {
        fetches++;
        return fetch(...args);
      },
    });
    assert.equal(dir, join(modelsDir, 'test-model-2024'));
    assert.equal(fetches, 0);
    assert.deepEqual(served.ranges, []);
  });

  it('rejects a checksum mismatch, deletes the download and installs nothing', async function () {
    const modelsDir = freshModelsDir();
    const wrong = '0'.repeat(63) + '1';
    await assert.rejects(downloadModel(entry({ sha256: wrong }), { modelsDir, log: () => {} }), (err: unknown) => {
      assert.ok(err instanceof ModelDownloadError);
      assert.equal(err.code, 'checksum_mismatch');
      assert.match(err.message, new RegExp(`expected sha256 ${wrong}, got ${archiveSha}`));
      return true;
    });
    assert.deepEqual(await fsp.readdir(modelsDir), []);
  });

  it('prints the computed checksum when none is pinned', async function () {
    const modelsDir = freshModelsDir();
    const lines: string[] = [];
    await downloadModel(entry({ sha256: null }), { modelsDir, log: (l) => lines.push(l) });
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, new RegExp(`sha256 ${archiveSha}`));
  });

  it('resumes an interrupted download with a Range request (second run)', async function () {
    const modelsDir = freshModelsDir();
    served.behaviour = { cutAfterBytes: 120_000, cutRequests: 1 };
    await assert.rejects(downloadModel(entry(), { modelsDir, retries: 0, log: () => {} }), (err: unknown) => {
      assert.ok(err instanceof ModelDownloadError);
      assert.equal(err.code, 'network');
      assert.match(err.message, /run again to resume/);
      return true;
    });
    const part = join(modelsDir, 'test-model-2024.tar.bz2.part');
    const partial = readFileSync(part);
    assert.ok(partial.length > 0 && partial.length <= 120_000, `partial file of ${partial.length} bytes`);
    assert.deepEqual(partial, archive.subarray(0, partial.length), 'the partial file is a prefix of the archive');
    assert.ok(!existsSync(join(modelsDir, 'test-model-2024')));

    const progress: number[] = [];
    const dir = await downloadModel(entry(), { modelsDir, onProgress: (r) => progress.push(r), log: () => {} });
    assert.deepEqual(served.ranges, ['', `bytes=${partial.length}-`]);
    assert.ok(progress[0]! > partial.length, 'progress counts the resumed bytes');
    assert.equal(progress.at(-1), archive.length);
    // The pinned checksum passed, so the reassembled archive is byte-identical; and so is its content.
    assert.deepEqual(readFileSync(join(dir, 'model.int8.onnx')), modelBytes);
  });

  it('retries and resumes by itself within one call; a single file comes out byte-identical', async function () {
    const modelsDir = freshModelsDir();
    served.behaviour = { cutAfterBytes: 50_000, cutRequests: 2 };
    const sha = createHash('sha256').update(single).digest('hex');
    const progress: number[] = [];
    const dir = await downloadModel(
      entry({ url: `${served.baseUrl}/files/vad.onnx`, archive: 'file', dir: 'vad', sha256: sha, sizeBytes: single.length }),
      { modelsDir, retries: 3, retryDelayMs: 5, onProgress: (r) => progress.push(r), log: () => {} },
    );
    assert.equal(served.ranges.length, 3);
    assert.equal(served.ranges[0], '');
    assert.match(served.ranges[1]!, /^bytes=\d+-$/);
    assert.match(served.ranges[2]!, /^bytes=\d+-$/);
    assert.deepEqual(readFileSync(join(dir, 'vad.onnx')), single);
    assert.equal(await sha256File(join(dir, 'vad.onnx')), sha);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! > progress[i - 1]!);
  });

  it('restarts from zero when the server ignores Range (200), and progress never goes backwards', async function () {
    const modelsDir = freshModelsDir();
    // A stale partial file whose bytes are wrong: appending to it would corrupt the archive.
    writeFileSync(join(modelsDir, 'test-model-2024.tar.bz2.part'), Buffer.alloc(100_000, 0xab));
    served.behaviour = { ignoreRange: true };
    const progress: number[] = [];
    const dir = await downloadModel(entry(), { modelsDir, onProgress: (r) => progress.push(r), log: () => {} });
    assert.deepEqual(served.ranges, ['bytes=100000-']);
    assert.deepEqual(readFileSync(join(dir, 'model.int8.onnx')), modelBytes);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! > progress[i - 1]!, 'monotonic');
    assert.equal(progress.at(-1), archive.length);
  });

  it('accepts a partial file that is already complete (416 with the same total)', async function () {
    const modelsDir = freshModelsDir();
    writeFileSync(join(modelsDir, 'test-model-2024.tar.bz2.part'), archive);
    const dir = await downloadModel(entry(), { modelsDir, log: () => {} });
    assert.deepEqual(served.ranges, [`bytes=${archive.length}-`]);
    assert.deepEqual(readFileSync(join(dir, 'model.int8.onnx')), modelBytes);
  });

  it('fails clearly on HTTP 404', async function () {
    const modelsDir = freshModelsDir();
    await assert.rejects(downloadModel(entry({ url: `${served.baseUrl}/files/missing.tar.bz2` }), { modelsDir }), (err: unknown) => {
      assert.ok(err instanceof ModelDownloadError);
      assert.equal(err.code, 'http_status');
      assert.equal(err.status, 404);
      assert.match(err.message, /HTTP 404 .*missing\.tar\.bz2/);
      return true;
    });
    assert.deepEqual(await fsp.readdir(modelsDir), []);
  });

  it('reports an archive tar cannot extract as an extract error and installs nothing', async function () {
    const modelsDir = freshModelsDir();
    await assert.rejects(
      downloadModel(entry({ url: `${served.baseUrl}/files/not-an-archive.tar.bz2`, sha256: null, dir: 'broken' }), { modelsDir, log: () => {} }),
      (err: unknown) => err instanceof ModelDownloadError && err.code === 'extract',
    );
    assert.ok(!existsSync(join(modelsDir, 'broken')));
    assert.ok(!(await fsp.readdir(modelsDir)).some((n) => n.startsWith('.staging-')), 'staging dir removed');
  });

  it('aborts a stalled download and keeps the partial file for a later resume', async function () {
    const modelsDir = freshModelsDir();
    served.behaviour = { stallAfterBytes: 64_000 };
    const controller = new AbortController();
    const done = downloadModel(entry(), {
      modelsDir,
      signal: controller.signal,
      log: () => {},
      onProgress: (received) => {
        // Abort during the stall, once what arrived has had time to reach the disk.
        if (received >= 64_000) setTimeout(() => controller.abort(), 100);
      },
    });
    await assert.rejects(done, (err: unknown) => err instanceof ModelDownloadError && err.code === 'aborted');
    assert.equal(readFileSync(join(modelsDir, 'test-model-2024.tar.bz2.part')).length, 64_000);
    assert.ok(!existsSync(join(modelsDir, 'test-model-2024')));
  });

  it('reports a disk error when the models dir cannot be created', async function () {
    const blocker = join(work, 'a-file');
    writeFileSync(blocker, 'x');
    await assert.rejects(downloadModel(entry(), { modelsDir: join(blocker, 'models') }), (err: unknown) => {
      assert.ok(err instanceof ModelDownloadError);
      assert.equal(err.code, 'disk');
      return true;
    });
  });
});
