/**
 * Voice activity detection: per-window models (Silero v5 batched on onnxruntime, WebRTC/libfvad on
 * wasm), the per-session endpointing state machine, and the manual-mode buffer.
 */
import { ProviderError, type VadModel } from '../types';
import { SileroVadModel, type SileroVadModelOptions } from './silero-model';
import { WebRtcVadModel, type WebRtcVadModelOptions } from './webrtc-model';

export { SileroVadModel, defaultSileroModelPath } from './silero-model';
export type { SileroVadModelOptions, SileroVadStats } from './silero-model';
export { WebRtcVadModel } from './webrtc-model';
export type { WebRtcVadModelOptions, WebRtcVadStats } from './webrtc-model';
export { SpeechSegmenter } from './segmenter';
export type {
  SpeechSegmenterOptions,
  SegmenterEvent,
  SpeechStartEvent,
  SpeechEndEvent,
  SpeechDiscardedEvent,
} from './segmenter';
export { ManualBuffer } from './manual-buffer';
export type { ManualBufferOptions } from './manual-buffer';

/** Kinds of VAD model {@link createVadModel} can load. */
export type VadModelKind = 'silero' | 'webrtc';

/** Load a VAD model by kind; options go to the model's own load(). */
export function createVadModel(kind: 'silero', options?: SileroVadModelOptions): Promise<SileroVadModel>;
export function createVadModel(kind: 'webrtc', options?: WebRtcVadModelOptions): Promise<WebRtcVadModel>;
export function createVadModel(kind: VadModelKind, options?: SileroVadModelOptions | WebRtcVadModelOptions): Promise<VadModel>;
export function createVadModel(
  kind: VadModelKind,
  options: SileroVadModelOptions | WebRtcVadModelOptions = {},
): Promise<VadModel> {
  switch (kind) {
    case 'silero':
      return SileroVadModel.load(options as SileroVadModelOptions);
    case 'webrtc':
      return WebRtcVadModel.load(options as WebRtcVadModelOptions);
    default:
      return Promise.reject(new ProviderError('failed', `unknown VAD model kind: ${String(kind)}`, 'vad'));
  }
}
