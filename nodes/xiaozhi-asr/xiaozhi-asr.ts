import { AsrStage, createStageAsrProvider, DEFAULT_ASR_PHRASES, type AsrProviderSpec, type AsrStageStats } from '../../src/pipeline/asr-stage';
import type { PipelineMsg } from '../../src/pipeline/vad-stage';
import type { SherpaAsrKind } from '../../src/providers/asr/sherpa-onnx-asr';
import { asError, bool, num, type DoneFn, type NodeMessage, type NodeStatus, type RedApi, type RedNode, type SendFn } from '../shared/node-red';
import type { XiaozhiOpenAiNode } from '../xiaozhi-openai/xiaozhi-openai';

interface AsrConfig {
  name?: string;
  provider?: 'pocketsphinx' | 'openai' | 'sherpa-onnx';
  /** pocketsphinx: one phrase per line; empty = the default list. */
  phrases?: string;
  /** openai: id of a xiaozhi-openai config node. */
  server?: string;
  model?: string;
  language?: string;
  /** sherpa-onnx */
  modelDir?: string;
  kind?: SherpaAsrKind;
  timeoutSec?: string | number;
  /** pocketsphinx: add the phrases of xiaozhi intent nodes (their templates and devices). Default true. */
  intentPhrases?: boolean | string;
}

/** Status of an ASR node (short: it shows under the node). */
export function asrStatus(stats: AsrStageStats, label: string): NodeStatus {
  const broken = stats.unavailableReason ?? stats.brokenReason;
  if (broken !== undefined) return { fill: 'red', shape: 'ring', text: broken };
  if (stats.busy > 0) return { fill: 'blue', shape: 'dot', text: `recognising (${stats.busy})` };
  if (stats.lastError !== undefined) return { fill: 'yellow', shape: 'ring', text: `last failed: ${stats.lastError}` };
  if (stats.lastText !== undefined) {
    const heard = stats.lastText === '' ? '(nothing)' : `"${stats.lastText.length > 40 ? `${stats.lastText.slice(0, 40)}…` : stats.lastText}"`;
    return { fill: 'green', shape: 'dot', text: `${heard} ${stats.lastMs ?? 0} ms` };
  }
  return { fill: 'green', shape: 'dot', text: `${label} ready` };
}

/** One phrase per line; blank lines and # comments ignored. */
export function parsePhrases(text: string | undefined): string[] {
  return (text ?? '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiAsr(this: RedNode, config: AsrConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const providerName = config.provider ?? 'pocketsphinx';
    let spec: AsrProviderSpec;
    let basePhrases: readonly string[] = DEFAULT_ASR_PHRASES;
    if (providerName === 'openai') {
      const server = config.server ? (RED.nodes.getNode(config.server) as XiaozhiOpenAiNode | null) : null;
      const endpoint = server?.endpoint() ?? { baseUrl: '', apiKey: '' };
      spec = {
        provider: 'openai',
        baseUrl: endpoint.baseUrl,
        apiKey: endpoint.apiKey,
        model: config.model?.trim() || 'whisper-1',
        ...(config.language?.trim() ? { language: config.language.trim() } : {}),
      };
    } else if (providerName === 'sherpa-onnx') {
      spec = {
        provider: 'sherpa-onnx',
        modelDir: config.modelDir?.trim() ?? '',
        kind: config.kind ?? 'sense-voice',
        ...(config.language?.trim() ? { language: config.language.trim() } : {}),
      };
    } else {
      const phrases = parsePhrases(config.phrases);
      basePhrases = phrases.length > 0 ? phrases : DEFAULT_ASR_PHRASES;
      spec = { provider: 'pocketsphinx', phrases: basePhrases };
    }
    const built = createStageAsrProvider(spec, (message) => node.warn(message));

    let shown = '';
    const showStatus = (): void => {
      const status = asrStatus(stage.stats(), built.label);
      const key = `${status.fill}|${status.text}`;
      if (key === shown) return;
      shown = key;
      node.status(status);
    };
    const stage = new AsrStage(
      built.provider,
      {
        send: (msg) => node.send(msg as NodeMessage),
        warn: (message) => node.warn(message),
        onChange: () => showStatus(),
      },
      {
        timeoutMs: num(config.timeoutSec, 20) * 1000,
        ...(providerName === 'openai' && config.language?.trim() ? { language: config.language.trim() } : {}),
        ...(built.unavailableReason !== undefined ? { unavailableReason: built.unavailableReason } : {}),
        followPhraseBus: providerName === 'pocketsphinx' && bool(config.intentPhrases, true),
        basePhrases,
        onPhrasesApplied: (kept, fromBus) => node.log(`grammar updated: ${kept} phrases (${fromBus} from intent nodes)`),
      },
    );
    if (built.unavailableReason !== undefined) node.warn(`speech recognition is not available: ${built.unavailableReason}`);
    else {
      // Load pocketsphinx decoders at deploy rather than on the first utterance (~0.2 s each).
      const warm = (built.provider as { warmUp?: () => Promise<void> } | undefined)?.warmUp;
      if (warm) {
        setImmediate(() => {
          if (!closed) void warm.call(built.provider).catch((error: unknown) => node.warn(`warm-up failed: ${asError(error).message}`));
        });
      }
    }
    showStatus();

    node.on('input', (msg: NodeMessage, _send: SendFn, done: DoneFn) => {
      stage.handle(msg as PipelineMsg).then(
        () => done(),
        (error: unknown) => done(asError(error)),
      );
    });

    let closed = false;
    node.on('close', (_removed, done) => {
      closed = true;
      void stage
        .close()
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType('xiaozhi asr', XiaozhiAsr);
};
