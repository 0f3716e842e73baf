import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { ProviderError } from '../../../src/providers/types';
import { ManualBuffer, SileroVadModel, SpeechSegmenter, WebRtcVadModel, createVadModel, defaultSileroModelPath } from '../../../src/providers/vad';

describe('providers/vad createVadModel', function () {
  it('creates a WebRTC model', async function () {
    const model = await createVadModel('webrtc', { aggressiveness: 1 });
    assert.ok(model instanceof WebRtcVadModel);
    assert.equal(model.windowSamples, 512);
    await model.close();
  });

  it('creates a Silero model', async function () {
    if (!existsSync(defaultSileroModelPath())) {
      console.log('    skipped: Silero model missing');
      this.skip();
    }
    const model = await createVadModel('silero', { maxBatch: 16 });
    assert.ok(model instanceof SileroVadModel);
    assert.equal(model.name, 'silero');
    await model.close();
  });

  it('rejects an unknown kind', async function () {
    await assert.rejects(createVadModel('nope' as 'webrtc'), (e: unknown) => e instanceof ProviderError && e.code === 'failed');
  });

  it('exports the segmenter and the manual buffer', function () {
    assert.equal(typeof SpeechSegmenter, 'function');
    assert.equal(new ManualBuffer().maxMs, 60000);
  });
});
