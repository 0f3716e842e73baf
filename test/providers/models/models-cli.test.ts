import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The compiled CLI sits in the same output tree as this compiled test (dist/ or a --out dir).
const CLI = join(__dirname, '..', '..', '..', 'scripts', 'models.js');

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe('models CLI (scripts/models.ts)', function () {
  let server: Server;
  let mirror: string;
  let work: string;
  const vad = randomBytes(200_000);

  before(async function () {
    work = mkdtempSync(join(tmpdir(), 'xz-models-cli-'));
    server = createServer((req, res) => {
      if (req.url === '/mirror/silero_vad.onnx') {
        res.writeHead(200, { 'Content-Length': vad.length });
        res.end(vad);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror`;
  });
  after(function () {
    server.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('--list prints every catalogue entry', async function () {
    const { code, stdout } = await runCli(['--list']);
    assert.equal(code, 0);
    for (const name of ['sense-voice-small-int8', 'paraformer-zh', 'whisper-tiny.en', 'whisper-base', 'zipformer-zh-en-streaming', 'piper-en_US-lessac-medium', 'kokoro-multi-lang-v1_0', 'silero-vad']) {
      assert.match(stdout, new RegExp(name.replace(/\./g, '\\.')));
    }
  });

  it('rejects an unknown model name with exit code 2', async function () {
    const { code, stderr } = await runCli(['no-such-model']);
    assert.equal(code, 2);
    assert.match(stderr, /Unknown model 'no-such-model'/);
  });

  it('downloads a model from a mirror into --dir and prints its checksum', async function () {
    const dir = join(work, 'models');
    const { code, stderr } = await runCli(['silero-vad', '--dir', dir, '--mirror', mirror]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(readFileSync(join(dir, 'silero-vad', 'silero_vad.onnx')), vad);
    assert.match(stderr, new RegExp(`sha256 ${createHash('sha256').update(vad).digest('hex')}`));
    assert.match(stderr, /ready in/);
  });

  it('takes the models dir from XIAOZHI_MODELS_DIR and reports HTTP errors with exit code 1', async function () {
    const dir = join(work, 'env-models');
    const { code, stderr } = await runCli(['whisper-base'], { XIAOZHI_MODELS_DIR: dir, XIAOZHI_MODELS_MIRROR: mirror });
    assert.equal(code, 1);
    assert.match(stderr, /http_status: HTTP 404 .*\/mirror\/sherpa-onnx-whisper-base\.tar\.bz2/);
  });
});
