import { TtsStage, type TtsStageStatus } from '../../src/pipeline/tts-stage';
import type { StageMessage } from '../../src/pipeline/llm-stage';
import { CachingTts } from '../../src/providers/tts/caching-tts';
import { EspeakWasmTts } from '../../src/providers/tts/espeak-wasm';
import { OpenAiSpeechTts } from '../../src/providers/tts/openai-speech';
import { SherpaOnnxTts, type SherpaTtsKind } from '../../src/providers/tts/sherpa-onnx-tts';
import type { TtsProvider } from '../../src/providers/types';
import { asError, bool, num, type DoneFn, type NodeMessage, type NodeStatus, type RedApi, type RedNode, type SendFn } from '../shared/node-red';
import type { XiaozhiOpenAiNode } from '../xiaozhi-openai/xiaozhi-openai';

/** Editor fields of `xiaozhi tts`. */
interface TtsConfig {
  name?: string;
  provider?: 'espeak' | 'openai' | 'sherpa-onnx';
  /** espeak: voice or language (en-us, cmn, de...). */
  voice?: string;
  /** espeak: words per minute. */
  rate?: string | number;
  /** openai: id of a xiaozhi-openai config node. */
  endpoint?: string;
  model?: string;
  openaiVoice?: string;
  /** sherpa-onnx */
  modelDir?: string;
  kind?: SherpaTtsKind;
  speakerId?: string | number;
  concurrency?: string | number;
  timeoutSec?: string | number;
  /** Keep the audio of sentences spoken before (confirmations, greetings, errors). Default on. */
  cache?: boolean | string;
  /** Memory for that cache, in MB. Default 32. */
  cacheMb?: string | number;
}

/** A provider ready to use, or why there is none (then replies are subtitles only). */
type BuiltProvider = { provider: TtsProvider; label: string; cacheNamespace?: string } | { provider?: undefined; label: string; unavailable: string };

const ESPEAK_PACKAGE = '@echogarden/espeak-ng-emscripten';

/** True when the optional (GPL-3.0) espeak-ng wasm package can be loaded. */
function espeakInstalled(): boolean {
  try {
    require.resolve(`${ESPEAK_PACKAGE}/espeak-ng.js`);
    return true;
  } catch {
    return false;
  }
}

/** Status of a TTS node: a missing engine, else busy count, else the last failure, else the engine. */
export function ttsStatus(status: TtsStageStatus, label: string, unavailable: string | undefined): NodeStatus {
  if (unavailable !== undefined) return { fill: 'red', shape: 'ring', text: unavailable };
  if (status.speaking > 0) return { fill: 'blue', shape: 'dot', text: `speaking (${status.speaking})` };
  if (status.lastError !== undefined) return { fill: 'yellow', shape: 'ring', text: `${label}: last sentence failed (${status.lastError})` };
  return { fill: 'green', shape: 'dot', text: label };
}

module.exports = function register(RED: RedApi): void {
  function build(config: TtsConfig, timeoutMs: number): BuiltProvider {
    switch (config.provider ?? 'espeak') {
      case 'openai': {
        const endpointNode = config.endpoint ? (RED.nodes.getNode(config.endpoint) as XiaozhiOpenAiNode | null) : null;
        const endpoint = endpointNode?.endpoint() ?? { baseUrl: '', apiKey: '' };
        const model = config.model?.trim() || 'tts-1';
        if (!endpoint.baseUrl) return { label: model, unavailable: 'no speech endpoint configured' };
        const voice = config.openaiVoice?.trim() || 'alloy';
        return {
          provider: new OpenAiSpeechTts({ baseUrl: endpoint.baseUrl, apiKey: endpoint.apiKey, model, voice, timeoutMs }),
          label: `${model} ${voice}`,
          cacheNamespace: `openai ${endpoint.baseUrl} ${model} ${voice}`,
        };
      }
      case 'sherpa-onnx': {
        const modelDir = config.modelDir?.trim() ?? '';
        const kind = config.kind ?? 'vits';
        if (!modelDir) return { label: `sherpa-onnx ${kind}`, unavailable: 'no model folder set' };
        return {
          provider: new SherpaOnnxTts({ modelDir, kind, speakerId: num(config.speakerId, 0) }),
          label: `sherpa-onnx ${kind}`,
          cacheNamespace: `sherpa-onnx ${kind} ${modelDir} ${num(config.speakerId, 0)}`,
        };
      }
      default: {
        const voice = config.voice?.trim() || 'en-us';
        if (!espeakInstalled()) return { label: `espeak ${voice}`, unavailable: 'espeak-ng wasm not installed' };
        const rateWpm = num(config.rate, 175);
        return { provider: new EspeakWasmTts({ voice, rateWpm }), label: `espeak ${voice}`, cacheNamespace: `espeak ${voice} ${rateWpm}` };
      }
    }
  }

  function XiaozhiTts(this: RedNode, config: TtsConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const timeoutMs = Math.max(1, num(config.timeoutSec, 10)) * 1000;
    const built = build(config, timeoutMs);
    if (built.provider && bool(config.cache, true)) {
      // Repeated sentences (confirmations, greetings, the error replies) are spoken from memory.
      built.provider = new CachingTts(built.provider, {
        namespace: built.cacheNamespace,
        maxBytes: Math.max(1, num(config.cacheMb, 32)) * 1024 * 1024,
      });
    }
    let unavailable = built.provider ? undefined : built.unavailable;
    let closed = false;
    let warmUpFailed = false;

    let shown = '';
    let lastStatus: TtsStageStatus = { speaking: 0 };
    const showStatus = (status: TtsStageStatus): void => {
      lastStatus = status;
      const next = ttsStatus(status, built.label, unavailable);
      const key = `${next.fill}|${next.text}`;
      if (key === shown) return;
      shown = key;
      node.status(next);
    };
    const stage = new TtsStage({
      provider: built.provider,
      concurrency: num(config.concurrency, 2),
      timeoutMs,
      send: (msg: StageMessage) => {
        if (warmUpFailed && msg.topic === 'audio') {
          // The engine works after all (e.g. the model was fetched since): stop saying otherwise.
          warmUpFailed = false;
          unavailable = undefined;
          showStatus(lastStatus);
        }
        node.send(msg as NodeMessage);
      },
      warn: (message) => node.warn(message),
      onStatus: showStatus,
    });
    if (unavailable !== undefined) {
      const hint = unavailable.startsWith('espeak') ? ` (GPL-3.0, optional): run "npm install ${ESPEAK_PACKAGE}"` : '';
      node.warn(`text-to-speech ${unavailable}${hint}; replies are sent as subtitles only`);
    } else {
      // Start the engine at deploy rather than on the first sentence (espeak ~150 ms, a model seconds).
      const warm = (built.provider as { warmUp?: () => Promise<void> }).warmUp;
      if (warm) {
        setImmediate(() => {
          if (closed) return;
          warm.call(built.provider).catch((error: unknown) => {
            if (closed) return;
            // Kept: a model fetched later is loaded on the next sentence. Until then the status says why.
            warmUpFailed = true;
            unavailable = asError(error).message.slice(0, 80);
            showStatus(lastStatus);
            node.warn(`text-to-speech not ready: ${asError(error).message}`);
          });
        });
      }
    }
    showStatus(lastStatus);

    node.on('input', (msg: NodeMessage, _send: SendFn, done: DoneFn) => {
      stage.handle(msg as StageMessage).then(
        () => done(),
        (error: unknown) => done(asError(error)),
      );
    });

    node.on('close', (_removed, done) => {
      closed = true;
      void stage
        .close()
        .then(() => built.provider?.close?.())
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType('xiaozhi tts', XiaozhiTts);
};
