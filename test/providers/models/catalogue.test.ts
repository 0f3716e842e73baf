import assert from 'node:assert/strict';
import { findModel, MODEL_CATALOGUE, modelsOfKind } from '../../../src/providers/models/catalogue';

describe('model catalogue', function () {
  const entries = Object.values(MODEL_CATALOGUE);

  it('has well-formed entries keyed by their name', function () {
    assert.ok(entries.length >= 8);
    for (const [key, e] of Object.entries(MODEL_CATALOGUE)) {
      assert.equal(e.name, key);
      const url = new URL(e.url);
      assert.equal(url.protocol, 'https:', `${key} downloads over https`);
      assert.ok(e.sha256 === null || /^[0-9a-f]{64}$/.test(e.sha256), `${key} sha256 is null or 64 hex digits`);
      assert.ok(Number.isInteger(e.sizeBytes) && e.sizeBytes > 0);
      assert.match(e.dir, /^[A-Za-z0-9._-]+$/, `${key} dir is a plain folder name`);
      if (e.archive === 'tar.bz2') {
        assert.ok(url.pathname.endsWith(`/${e.dir}.tar.bz2`), `${key}: release archives unpack to a folder named like the archive`);
      }
      assert.ok(e.description.length > 0 && e.license.length > 0 && e.languages.length > 0);
    }
    assert.equal(new Set(entries.map((e) => e.dir)).size, entries.length, 'install folders are unique');
  });

  it('covers every kind the providers need, SenseVoice first', function () {
    for (const kind of ['sense-voice', 'paraformer', 'whisper', 'zipformer-streaming', 'tts-piper', 'tts-kokoro', 'vad-silero'] as const) {
      assert.ok(modelsOfKind(kind).length > 0, kind);
    }
    assert.equal(modelsOfKind('sense-voice')[0]?.name, 'sense-voice-small-int8');
    assert.equal(findModel('whisper-base')?.kind, 'whisper');
    assert.equal(findModel('toString'), undefined, 'no prototype keys');
  });
});
