/**
 * ASR through any OpenAI-compatible transcription endpoint (`POST {baseUrl}/audio/transcriptions`):
 * OpenAI (whisper-1, gpt-4o-mini-transcribe...), Groq, a local whisper.cpp / faster-whisper server.
 * The utterance goes up as a 16-bit mono WAV in a multipart form.
 */
import OpenAI, { toFile } from 'openai';
import { writeWav } from '../../audio/wav';
import { ProviderError, type AsrOptions, type AsrProvider, type AsrResult, type PcmAudio } from '../types';

/** Options of {@link OpenAiTranscriptionAsr}. */
export interface OpenAiTranscriptionOptions {
  /** API root including the version, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`. */
  baseUrl: string;
  /** Bearer token. Local servers often need none: leave empty. */
  apiKey?: string;
  /** Model id: 'whisper-1', 'gpt-4o-mini-transcribe', 'gpt-4o-transcribe' or whatever the server serves. */
  model: string;
  /** Default spoken language (ISO 639-1, 'zh-CN' is reduced to 'zh'); omit or 'auto' to let the model detect. */
  language?: string;
  /** Whole-call deadline (upload, recognition, answer). Default 30,000 ms. */
  timeoutMs?: number;
  /** Text that biases the recognizer (names, vocabulary, style). */
  prompt?: string;
  /** Provider name used in errors and logs. Default 'openai-transcription'. */
  name?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Batch ASR against an OpenAI-compatible `/audio/transcriptions` endpoint. */
export class OpenAiTranscriptionAsr implements AsrProvider {
  readonly name: string;
  private readonly client: OpenAI;
  private readonly options: OpenAiTranscriptionOptions;

  constructor(options: OpenAiTranscriptionOptions) {
    if (!options.baseUrl) throw new TypeError('OpenAiTranscriptionAsr: baseUrl is required');
    if (!options.model) throw new TypeError('OpenAiTranscriptionAsr: model is required');
    this.options = options;
    this.name = options.name ?? 'openai-transcription';
    this.client = new OpenAI({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      // The SDK refuses an empty key; keyless local servers ignore whatever we send.
      apiKey: options.apiKey || 'no-key',
      // The pipeline owns retries and fallbacks: a voice turn cannot wait for backoff.
      maxRetries: 0,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  }

  async transcribe(audio: PcmAudio, options: AsrOptions = {}): Promise<AsrResult> {
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (options.signal?.aborted) throw new ProviderError('aborted', 'transcription aborted', this.name);
    // Our own deadline covers the whole call (the SDK's timeout stops once headers arrive).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('timeout')), timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    const language = normaliseLanguage(options.language ?? this.options.language);
    try {
      const file = await toFile(writeWav(audio.pcm, audio.sampleRateHz), 'utterance.wav', { type: 'audio/wav' });
      let response: unknown = await this.client.audio.transcriptions.create(
        {
          file,
          model: this.options.model,
          response_format: 'json',
          ...(language ? { language } : {}),
          ...(this.options.prompt ? { prompt: this.options.prompt } : {}),
        },
        { signal, timeout: timeoutMs },
      );
      // Some compatible servers send the JSON without a JSON content type; the SDK then hands
      // back the raw string.
      if (typeof response === 'string') response = parseJsonOrUndefined(response);
      const text = (response as { text?: unknown } | null | undefined)?.text;
      if (typeof text !== 'string') {
        throw new ProviderError('bad_response', 'transcription response has no "text" string', this.name);
      }
      const detected = (response as { language?: unknown }).language;
      const result: AsrResult = { text: text.trim() };
      const lang = typeof detected === 'string' ? detected : language;
      if (lang) result.language = lang;
      return result;
    } catch (err) {
      if (options.signal?.aborted) throw new ProviderError('aborted', 'transcription aborted', this.name, { cause: err });
      if (deadline.signal.aborted) {
        throw new ProviderError('timeout', `transcription took longer than ${timeoutMs} ms`, this.name, { cause: err });
      }
      throw mapError(err, this.name, this.options.baseUrl);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    // Stateless HTTP client: nothing to release.
  }
}

/** Map an SDK error to a ProviderError code the pipeline understands. */
function mapError(err: unknown, provider: string, baseUrl: string): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof OpenAI.APIUserAbortError) return new ProviderError('aborted', 'transcription aborted', provider, { cause: err });
  if (err instanceof OpenAI.APIConnectionTimeoutError) return new ProviderError('timeout', 'transcription timed out', provider, { cause: err });
  if (err instanceof OpenAI.APIConnectionError) {
    return new ProviderError('unavailable', `cannot reach ${baseUrl}: ${err.message}`, provider, { cause: err });
  }
  if (err instanceof OpenAI.APIError) {
    const status = err.status ?? 0;
    const detail = err.message;
    if (status === 401 || status === 403) {
      return new ProviderError('unavailable', `transcription refused (HTTP ${status}): check the API key. ${detail}`, provider, { cause: err });
    }
    if (status === 429) return new ProviderError('rate_limited', `transcription rate limited (HTTP 429): ${detail}`, provider, { cause: err });
    if (status === 404) {
      return new ProviderError('unavailable', `no transcription endpoint or model (HTTP 404) at ${baseUrl}: ${detail}`, provider, { cause: err });
    }
    if (status === 408) return new ProviderError('timeout', `transcription timed out on the server (HTTP 408)`, provider, { cause: err });
    if (status >= 500) return new ProviderError('failed', `transcription server error (HTTP ${status}): ${detail}`, provider, { cause: err });
    return new ProviderError('bad_response', `transcription request rejected (HTTP ${status}): ${detail}`, provider, { cause: err });
  }
  if (err instanceof SyntaxError) return new ProviderError('bad_response', `transcription response is not JSON: ${err.message}`, provider, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError('failed', `transcription failed: ${message}`, provider, { cause: err });
}

function parseJsonOrUndefined(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Whisper wants ISO 639-1: 'zh-CN' -> 'zh'; 'auto' or empty means "detect". */
function normaliseLanguage(language: string | undefined): string | undefined {
  if (!language || language.toLowerCase() === 'auto') return undefined;
  return language.split(/[-_]/)[0]?.toLowerCase() || undefined;
}
