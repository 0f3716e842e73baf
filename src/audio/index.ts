// Public surface of the audio layer: codec, PCM helpers, framing, resampling, WAV.
export { AudioError } from './errors';
export type { AudioErrorCode } from './errors';
export { bufferToInt16, int16ToBuffer, concatInt16, rmsDbfs, durationMs, floatToInt16, int16ToFloat } from './pcm';
export { samplesPerFrame, splitFrames, FrameAccumulator } from './frames';
export { OpusFrameEncoder, OpusFrameDecoder, opusPacketDurationMs } from './opus';
export type { OpusFrameEncoderOptions } from './opus';
export { Resampler, resample } from './resample';
export { readWav, writeWav } from './wav';
export type { WavAudio } from './wav';
export { PcmToOpusEncoder, encodePcmToOpusFrames } from './downlink-encoder';
export type { PcmToOpusEncoderOptions } from './downlink-encoder';
