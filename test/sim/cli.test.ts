import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { runSimCli, SIM_EXIT } from '../../src/sim/cli';
import { readWav } from '../../src/audio/wav';
import { FakeXiaozhiServer } from './fake-xiaozhi-server';
import type { FakeServerOptions } from './fake-xiaozhi-server';

function capture(): { io: { out: (l: string) => void; err: (l: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

function hasEspeak(): boolean {
  try {
    execFileSync('espeak-ng', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('sim/cli (xiaozhi-sim)', () => {
  let server: FakeXiaozhiServer | undefined;
  let tmp: string;

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'xiaozhi-sim-cli-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function startServer(opts: FakeServerOptions = {}): Promise<FakeXiaozhiServer> {
    server = new FakeXiaozhiServer(opts);
    await server.start();
    return server;
  }

  it('runs typed-chat turns through OTA discovery, prints a transcript and saves the reply', async () => {
    const srv = await startServer({ replyFrames: 5, toolCalls: [{ name: 'self.light.turn_on' }] });
    const c = capture();
    const out = join(tmp, 'chat.wav');
    const status = await runSimCli(['--ota', srv.otaUrl, '--text', 'hello there', '--turns', '2', '--out', out, '--device-id', 'aa:bb:cc:00:11:22'], c.io);
    assert.equal(status, SIM_EXIT.ok, c.err.join('\n'));
    const transcript = c.out.join('\n');
    assert.match(transcript, /OTA POST/);
    assert.match(transcript, /> hello v1 transport=websocket/);
    assert.match(transcript, /< hello v1 transport=websocket session=sess-/);
    assert.match(transcript, /listen detect "hello there"/);
    assert.match(transcript, /< stt "hello there"/);
    assert.match(transcript, /< llm emotion=happy/);
    assert.match(transcript, /tts sentence_start "Sure, done."/);
    assert.match(transcript, /< mcp tools\/call id=\d+ self\.light\.turn_on/);
    assert.match(transcript, /turn complete: .*5 audio frames = 300 ms, first audio \d+ ms after end of speech/);
    assert.equal(c.out.filter((l) => l.includes('turn complete')).length, 2);
    assert.equal(srv.otaRequests[0]?.headers['device-id'], 'aa:bb:cc:00:11:22');
    const wav = readWav(readFileSync(out));
    assert.equal(wav.sampleRateHz, 24000);
    assert.equal(wav.pcm.length, 2 * 5 * 1440, 'both turns saved');
  });

  it('speaks synthesised text in manual mode and can abort the reply', async function () {
    if (!hasEspeak()) {
      console.log('    skipped: espeak-ng is not installed');
      this.skip();
    }
    const srv = await startServer({ replyFrames: 40, replyFrameIntervalMs: 20 });
    const c = capture();
    const out = join(tmp, 'say.wav');
    const status = await runSimCli(['--ws', srv.wsUrl, '--say', 'turn on the light', '--fast', '--protocol', '2', '--abort-after', '100', '--out', out], c.io);
    assert.equal(status, SIM_EXIT.ok, c.err.join('\n'));
    const transcript = c.out.join('\n');
    assert.match(transcript, /synthesised "turn on the light"/);
    assert.match(transcript, /> listen start manual/);
    assert.match(transcript, /> audio \d+ frames/);
    assert.match(transcript, /> listen stop/);
    assert.match(transcript, /> abort/);
    assert.match(transcript, /aborted/);
    const conn = srv.connections[0];
    assert.equal(conn?.version, 2);
    assert.ok(conn && conn.frames.length > 5 && conn.frames.every((f) => f.headerVersion === 2));
    assert.ok(existsSync(out));
  });

  it('fails clearly: bad usage, unreachable server, no hello', async () => {
    const usage = capture();
    assert.equal(await runSimCli(['--text', 'a', '--say', 'b'], usage.io), SIM_EXIT.usage);
    assert.match(usage.err.join('\n'), /exactly one of --wav, --say or --text/);
    const badMode = capture();
    assert.equal(await runSimCli(['--text', 'a', '--mode', 'loud'], badMode.io), SIM_EXIT.usage);
    const badWav = capture();
    assert.equal(await runSimCli(['--ws', 'ws://127.0.0.1:9/', '--wav', join(tmp, 'missing.wav')], badWav.io), SIM_EXIT.usage);
    assert.match(badWav.err.join('\n'), /cannot read WAV/);

    const unreachable = capture();
    assert.equal(await runSimCli(['--ota', 'http://127.0.0.1:9/xiaozhi/ota/', '--text', 'hi'], unreachable.io), SIM_EXIT.connect);
    assert.match(unreachable.err.join('\n'), /unreachable.*\[ota_unreachable\]/);

    const srv = await startServer({ noHello: true });
    const silent = capture();
    assert.equal(await runSimCli(['--ws', srv.wsUrl, '--text', 'hi', '--hello-timeout', '300'], silent.io), SIM_EXIT.connect);
    assert.match(silent.err.join('\n'), /no server hello .*\[hello_timeout\]/);
  });
});
