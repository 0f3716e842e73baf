/**
 * Any OpenAI-compatible speech endpoint (POST {baseUrl}/audio/speech): OpenAI itself, and the
 * many local servers that copy its shape. Raw PCM is requested so no decoder is needed.
 */
import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { readWav } from '../../audio/wav';
import { ProviderError, type PcmAudio, type TtsOptions, type TtsProvider } from '../types';

const PROVIDER_NAME = 'openai-speech';

/** Options of OpenAiSpeechTts. */
export interface OpenAiSpeechTtsOptions {
  /** API root including /v1, e.g. 'https://api.openai.com/v1' (the default) or 'http://127.0.0.1:8880/v1'. */
  baseUrl?: string;
  /** Bearer token. Keyless local servers accept any value; the default sends 'none'. */
  apiKey?: string;
  /** 'tts-1' (default), 'tts-1-hd', 'gpt-4o-mini-tts' or whatever the server names its model. */
  model?: string;
  /** Voice name, 'alloy' by default. */
  voice?: string;
  /** Style instructions (gpt-4o-mini-tts only). */
  instructions?: string;
  /**
   * 'pcm' (default): raw 16-bit little-endian mono at `pcmSampleRateHz`; 'wav' for servers that
   * do not offer raw PCM (the WAV header then tells the rate).
   */
  responseFormat?: 'pcm' | 'wav';
  /** Rate of 'pcm' answers: 24,000 Hz for OpenAI; some compatible servers use another. */
  pcmSampleRateHz?: number;
  /** Deadline for the whole call, response body included. Default 15,000 ms. */
  timeoutMs?: number;
  /** Retries of 429/5xx/connection errors inside the deadline. Default 0: the pipeline decides. */
  maxRetries?: number;
}

/**
 * Text-to-speech through an OpenAI-compatible /audio/speech endpoint. Errors become
 * ProviderError: 401/403 'unavailable' (credentials), 429 'rate_limited', 5xx and connection
 * failures 'unavailable', other 4xx 'failed', deadline 'timeout', caller abort 'aborted',
 * an unusable body 'bad_response'.
 */
export class OpenAiSpeechTts implements TtsProvider {
  readonly name = PROVIDER_NAME;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly voice: string;
  private readonly instructions: string | undefined;
  private readonly responseFormat: 'pcm' | 'wav';
  private readonly pcmSampleRateHz: number;
  private readonly timeoutMs: number;

  constructor(options: OpenAiSpeechTtsOptions = {}) {
    this.model = options.model ?? 'tts-1';
    this.voice = options.voice ?? 'alloy';
    this.instructions = options.instructions;
    this.responseFormat = options.responseFormat ?? 'pcm';
    this.pcmSampleRateHz = options.pcmSampleRateHz ?? 24_000;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.client = new OpenAI({
      baseURL: options.baseUrl ?? 'https://api.openai.com/v1',
      // The SDK refuses to start without a key (it would read OPENAI_API_KEY); keyless servers ignore it.
      apiKey: options.apiKey || 'none',
      maxRetries: options.maxRetries ?? 0,
      // Our own deadline below also covers the body, which the SDK's timeout does not.
      timeout: this.timeoutMs,
    });
  }

  async synthesize(text: string, options: TtsOptions = {}): Promise<PcmAudio> {
    const callerSignal = options.signal;
    if (callerSignal?.aborted) throw aborted();
    const deadline = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      deadline.abort();
    }, this.timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, deadline.signal]) : deadline.signal;
    try {
      const response = await this.client.audio.speech.create(
        {
          model: this.model,
          voice: options.voice ?? this.voice,
          input: text,
          response_format: this.responseFormat,
          ...(options.speed !== undefined ? { speed: options.speed } : {}),
          ...(this.instructions !== undefined ? { instructions: this.instructions } : {}),
        },
        { signal },
      );
      const body = Buffer.from(await response.arrayBuffer());
      return this.decode(body);
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      if (timedOut || err instanceof APIConnectionTimeoutError) {
        throw new ProviderError('timeout', `speech request got no complete answer within ${this.timeoutMs} ms`, PROVIDER_NAME, { cause: err });
      }
      if (callerSignal?.aborted) throw aborted(err);
      throw mapError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  private decode(body: Buffer): PcmAudio {
    if (this.responseFormat === 'wav') {
      try {
        const wav = readWav(body);
        return { pcm: wav.pcm, sampleRateHz: wav.sampleRateHz };
      } catch (err) {
        throw new ProviderError('bad_response', `speech endpoint sent an unreadable WAV: ${(err as Error).message}`, PROVIDER_NAME, { cause: err });
      }
    }
    // A JSON or RIFF body where raw PCM was asked for would play as loud noise: refuse it.
    const head = body.subarray(0, 4).toString('latin1');
    if (head === 'RIFF' || head.startsWith('{')) {
      throw new ProviderError('bad_response', `speech endpoint ignored response_format 'pcm' (body starts with ${JSON.stringify(head)})`, PROVIDER_NAME);
    }
    // Copy into a fresh buffer: the body's offset may be odd, which an Int16Array view cannot take.
    const samples = Math.floor(body.length / 2);
    const pcm = new Int16Array(samples);
    for (let i = 0; i < samples; i++) pcm[i] = body.readInt16LE(i * 2);
    return { pcm, sampleRateHz: this.pcmSampleRateHz };
  }
}

function aborted(cause?: unknown): ProviderError {
  return new ProviderError('aborted', 'speech request was aborted', PROVIDER_NAME, { cause });
}

function mapError(err: unknown): ProviderError {
  if (err instanceof APIUserAbortError) return aborted(err);
  if (err instanceof APIError) {
    const status = err.status;
    const detail = err.message;
    if (status === 401 || status === 403) {
      return new ProviderError('unavailable', `speech endpoint refused the credentials (HTTP ${status}): check the API key. ${detail}`, PROVIDER_NAME, { cause: err });
    }
    if (status === 429) {
      return new ProviderError('rate_limited', `speech endpoint is rate limiting (HTTP 429): ${detail}`, PROVIDER_NAME, { cause: err });
    }
    if (status !== undefined && status >= 500) {
      return new ProviderError('unavailable', `speech endpoint failed (HTTP ${status}): ${detail}`, PROVIDER_NAME, { cause: err });
    }
    if (status === undefined) {
      return new ProviderError('unavailable', `cannot reach the speech endpoint: ${detail}`, PROVIDER_NAME, { cause: err });
    }
    return new ProviderError('failed', `speech endpoint rejected the request (HTTP ${status}): ${detail}`, PROVIDER_NAME, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError('failed', `speech request failed: ${message}`, PROVIDER_NAME, { cause: err });
}
