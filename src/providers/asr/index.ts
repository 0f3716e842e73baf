/** ASR providers: cloud (OpenAI-compatible), local models (sherpa-onnx), closed-vocabulary (pocketsphinx + grammar). */
export * from './openai-transcription';
export * from './sherpa-onnx-asr';
export * from './pocketsphinx';
export * from './grammar';
export * from './grammar-error';
export * from './grammar-dictionary';
export * from './grammar-numbers';
