/**
 * Provider interfaces for the voice pipeline. Every call takes an AbortSignal; streams are
 * async iterables. Implementations live in vad/, asr/, llm/, tts/ beside this file and never
 * import Node-RED.
 */

/** Mono 16-bit PCM with its sample rate. */
export interface PcmAudio {
  pcm: Int16Array;
  sampleRateHz: number;
}

/** Options common to every provider call. */
export interface CallOptions {
  /** Aborts the call: implementations must stop work and reject with an AbortError promptly. */
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// VAD
// ---------------------------------------------------------------------------------------------

/** Per-window speech probability model (Silero, WebRTC...). Windows are 16 kHz mono. */
export interface VadModel {
  readonly name: string;
  /** Samples per window the model wants (512 for Silero at 16 kHz). */
  readonly windowSamples: number;
  /** Create per-stream state (recurrent state, context). */
  createStream(): VadModelStream;
  /** Release native resources. */
  close(): Promise<void>;
}

export interface VadModelStream {
  /** Probability 0..1 that the window holds speech. May be batched with other streams internally. */
  process(window: Int16Array): Promise<number>;
  reset(): void;
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// ASR
// ---------------------------------------------------------------------------------------------

export interface AsrResult {
  text: string;
  language?: string;
  /** Extra provider information (emotion tags, confidence...). */
  extra?: Record<string, unknown>;
}

export interface AsrOptions extends CallOptions {
  language?: string;
}

/** Batch recognition of one utterance. */
export interface AsrProvider {
  readonly name: string;
  transcribe(audio: PcmAudio, options?: AsrOptions): Promise<AsrResult>;
  close?(): Promise<void>;
}

/** Streaming recognition: push audio as it arrives, read partial and final results. */
export interface StreamingAsrSession {
  write(pcm: Int16Array): void;
  /** No more audio: the final result follows. */
  end(): void;
  /** Partial results (partial=true) then exactly one final (partial=false). */
  results(): AsyncIterable<AsrResult & { partial: boolean }>;
}

export interface StreamingAsrProvider extends AsrProvider {
  createStream(sampleRateHz: number, options?: AsrOptions): StreamingAsrSession;
}

// ---------------------------------------------------------------------------------------------
// LLM
// ---------------------------------------------------------------------------------------------

export interface ChatToolCall {
  id: string;
  name: string;
  /** JSON text of the arguments as the model produced it. */
  arguments: string;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; toolCalls?: ChatToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string };

/** A tool the model may call (JSON schema parameters). */
export interface ChatTool {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface ChatRequest extends CallOptions {
  messages: ChatMessage[];
  tools?: ChatTool[];
  temperature?: number;
  maxTokens?: number;
}

/** Events of a streamed chat completion. */
export type ChatEvent =
  | { type: 'text'; text: string }
  | { type: 'tool_calls'; calls: ChatToolCall[] }
  | { type: 'done'; finishReason: string | null };

export interface LlmProvider {
  readonly name: string;
  chat(request: ChatRequest): AsyncIterable<ChatEvent>;
}

// ---------------------------------------------------------------------------------------------
// TTS
// ---------------------------------------------------------------------------------------------

export interface TtsOptions extends CallOptions {
  voice?: string;
  language?: string;
  /** Speaking rate, 1 = normal. */
  speed?: number;
}

export interface TtsProvider {
  readonly name: string;
  /** Synthesize one sentence to mono PCM (any rate: the caller resamples). */
  synthesize(text: string, options?: TtsOptions): Promise<PcmAudio>;
  close?(): Promise<void>;
}

/** Error thrown by providers, with a code the pipeline maps to a spoken/text error. */
export class ProviderError extends Error {
  constructor(
    readonly code: 'timeout' | 'aborted' | 'unavailable' | 'bad_response' | 'model_missing' | 'rate_limited' | 'failed',
    message: string,
    readonly provider?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}
