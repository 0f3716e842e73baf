import { strict as assert } from 'node:assert';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EspeakWasmTts, OpenAiSpeechTts, SherpaOnnxTts, createTtsProvider, type TtsProviderConfig } from '../../../src/providers/tts';
import { ProviderError } from '../../../src/providers/types';

describe('createTtsProvider', () => {
  it('builds each kind', () => {
    assert.ok(createTtsProvider({ kind: 'espeak', voice: 'cmn' }) instanceof EspeakWasmTts);
    assert.ok(createTtsProvider({ kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'k' }) instanceof OpenAiSpeechTts);
    assert.ok(createTtsProvider({ kind: 'sherpa-onnx', model: 'vits', modelDir: '/nonexistent' }) instanceof SherpaOnnxTts);
  });

  it('passes options through (sherpa model family and folder)', async () => {
    const tts = createTtsProvider({ kind: 'sherpa-onnx', model: 'kokoro', modelDir: join(tmpdir(), 'no-such-kokoro-multi-lang-v1_0') });
    await assert.rejects(tts.synthesize('hi'), (err: unknown) => err instanceof ProviderError && err.code === 'model_missing' && /kokoro-multi-lang-v1_0/.test(err.message));
  });

  it('rejects an unknown kind', () => {
    assert.throws(() => createTtsProvider({ kind: 'azure' } as unknown as TtsProviderConfig), /unknown TTS provider kind "azure"/);
  });
});
