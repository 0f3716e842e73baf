/**
 * Text-to-speech providers and helpers. Engines load lazily, so importing this module costs
 * nothing until a provider synthesizes its first sentence.
 */
import type { TtsProvider } from '../types';
import { EspeakWasmTts, type EspeakWasmTtsOptions } from './espeak-wasm';
import { OpenAiSpeechTts, type OpenAiSpeechTtsOptions } from './openai-speech';
import { SherpaOnnxTts, type SherpaOnnxTtsOptions } from './sherpa-onnx-tts';

export { EspeakWasmTts, shutdownEspeakWasm, type EspeakWasmTtsOptions, type EspeakVoiceInfo } from './espeak-wasm';
export { OpenAiSpeechTts, type OpenAiSpeechTtsOptions } from './openai-speech';
export { SherpaOnnxTts, buildSherpaTtsConfig, type SherpaOnnxTtsOptions, type SherpaTtsKind } from './sherpa-onnx-tts';
export { SentenceSynthesizer, type SentenceSynthesizerOptions, type SynthesizedSentence } from './sentence-stream';
export { cleanTextForSpeech } from './text-cleanup';

/** Configuration of one TTS provider, as a config node or YAML file holds it. */
export type TtsProviderConfig =
  | ({ kind: 'espeak' } & EspeakWasmTtsOptions)
  | ({ kind: 'openai' } & OpenAiSpeechTtsOptions)
  | ({ kind: 'sherpa-onnx'; model: SherpaOnnxTtsOptions['kind'] } & Omit<SherpaOnnxTtsOptions, 'kind'>);

/**
 * Build a TTS provider from its configuration. For 'sherpa-onnx', `model` names the model
 * family ('vits' for Piper, 'kokoro', 'matcha') since `kind` names the provider.
 */
export function createTtsProvider(config: TtsProviderConfig): TtsProvider {
  switch (config.kind) {
    case 'espeak': {
      const { kind: _kind, ...options } = config;
      return new EspeakWasmTts(options);
    }
    case 'openai': {
      const { kind: _kind, ...options } = config;
      return new OpenAiSpeechTts(options);
    }
    case 'sherpa-onnx': {
      const { kind: _kind, model, ...options } = config;
      return new SherpaOnnxTts({ ...options, kind: model });
    }
    default: {
      const unknown: { kind?: unknown } = config;
      throw new TypeError(`unknown TTS provider kind ${JSON.stringify(unknown.kind)} (expected espeak, openai or sherpa-onnx)`);
    }
  }
}
export { CachingTts, pcmAudioCodec, pcmAudioBytes, normalizeTtsText, type CachingTtsOptions, type CachingTtsStats } from './caching-tts';
