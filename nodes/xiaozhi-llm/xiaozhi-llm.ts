import { DeviceCatalogue } from '../../src/broker/catalogue';
import type { AgentTool } from '../../src/pipeline/chat-agent';
import { liveHomeTools } from '../../src/pipeline/home-tools';
import { RedisHistoryStore } from '../../src/pipeline/history-store';
import { LlmStage, type LlmStageStatus, type StageMessage } from '../../src/pipeline/llm-stage';
import { OpenAiChatLlm } from '../../src/providers/llm/openai-chat';
import { asError, bool, num, type DoneFn, type NodeMessage, type NodeStatus, type RedApi, type RedNode, type SendFn } from '../shared/node-red';
import type { XiaozhiBrokerNode } from '../xiaozhi-broker/xiaozhi-broker';
import type { XiaozhiOpenAiNode } from '../xiaozhi-openai/xiaozhi-openai';

/** Editor fields of `xiaozhi llm`. */
interface LlmConfig {
  name?: string;
  /** Id of a xiaozhi-openai config node; none (or an empty base URL) = offline answers. */
  endpoint?: string;
  model?: string;
  systemPrompt?: string;
  temperature?: string | number;
  maxHistory?: string | number;
  useDeviceTools?: boolean | string;
  timeoutSec?: string | number;
  maxToolDepth?: string | number;
  /**
   * Where conversations live: 'memory' (this instance), 'redis' (shared by instances behind a load
   * balancer) or 'auto' (default, also for flows saved before this option): Redis when a URL is
   * set here or in the env var XIAOZHI_REDIS_URL, else memory.
   */
  history?: string;
  /** redis:// URL of the history; empty = env XIAOZHI_REDIS_URL. */
  historyRedisUrl?: string;
  /** Id of a xiaozhi-broker config node: its devices become tools (home_turn_on...). Optional. */
  homeBroker?: string;
  /** zigbee2mqtt base topic of those devices. Default `zigbee2mqtt`. */
  homeBaseTopic?: string;
}

/** Status of an LLM node: busy count, else the last failure, else what answers. */
export function llmStatus(status: LlmStageStatus, label: string, online: boolean): NodeStatus {
  if (status.running > 0) return { fill: 'blue', shape: 'dot', text: `thinking (${status.running})` };
  if (status.lastError !== undefined) return { fill: 'red', shape: 'ring', text: `${label}: ${status.lastError}` };
  return online ? { fill: 'green', shape: 'dot', text: label } : { fill: 'grey', shape: 'ring', text: label };
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiLlm(this: RedNode, config: LlmConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const endpointNode = config.endpoint ? (RED.nodes.getNode(config.endpoint) as XiaozhiOpenAiNode | null) : null;
    const endpoint = endpointNode?.endpoint() ?? { baseUrl: '', apiKey: '' };
    const model = config.model?.trim() || 'gpt-4o-mini';
    const timeoutMs = Math.max(1, num(config.timeoutSec, 30)) * 1000;
    const temperatureText = String(config.temperature ?? '').trim();

    let llm: OpenAiChatLlm | undefined;
    let label = 'offline answers (no endpoint)';
    if (endpoint.baseUrl) {
      try {
        llm = new OpenAiChatLlm({
          baseUrl: endpoint.baseUrl,
          apiKey: endpoint.apiKey,
          model,
          timeoutMs,
          // A voice turn should fail within the configured time, however the silence falls.
          firstTokenTimeoutMs: Math.min(15000, timeoutMs),
          idleTimeoutMs: Math.min(10000, timeoutMs),
        });
        label = model;
      } catch (error) {
        // Answer offline rather than not at all, and say why.
        node.warn(`language model not usable, answering offline: ${asError(error).message}`);
        label = 'offline (endpoint config error)';
      }
    }

    let shown = '';
    const showStatus = (status: LlmStageStatus): void => {
      const next = llmStatus(status, label, llm !== undefined);
      const key = `${next.fill}|${next.text}`;
      if (key === shown) return;
      shown = key;
      node.status(next);
    };
    // Home devices of the broker as tools: the catalogue starts in the background and the tools
    // follow it (none until it is live).
    let homeToolsNow: (() => AgentTool[]) | undefined;
    let homeCleanup: (() => Promise<void>) | undefined;
    let closing = false;
    const brokerNode = config.homeBroker ? (RED.nodes.getNode(config.homeBroker) as XiaozhiBrokerNode | null) : null;
    if (config.homeBroker && !brokerNode) node.warn('home devices: the selected broker config node was not found');
    if (brokerNode) {
      void (async () => {
        try {
          const broker = await brokerNode.broker;
          if (closing) return;
          const catalogue = new DeviceCatalogue(broker, { zigbee2mqttBaseTopic: config.homeBaseTopic?.trim() || 'zigbee2mqtt' });
          catalogue.on('warning', (error: unknown) => node.warn(`home devices: ${asError(error).message}`));
          const live = liveHomeTools(catalogue, broker, { waitForEchoMs: 2000 });
          // One log line per burst of changes, so the flow's log tells what the model can reach.
          let logTimer: NodeJS.Timeout | undefined;
          catalogue.on('changed', () => {
            if (logTimer) clearTimeout(logTimer);
            logTimer = setTimeout(() => {
              logTimer = undefined;
              if (!closing) node.log(`home devices: ${catalogue.entities().length} known`);
            }, 300);
          });
          homeCleanup = async () => {
            if (logTimer) clearTimeout(logTimer);
            live.dispose();
            await catalogue.close();
          };
          await catalogue.start();
          if (closing) return;
          homeToolsNow = live.tools;
        } catch (error) {
          if (!closing) node.warn(`home devices unavailable: ${asError(error).message}`);
        }
      })();
    }

    // Conversations in Redis let a device that reconnects to another instance carry on.
    const historyMode = config.history === 'memory' || config.history === 'redis' ? config.history : 'auto';
    const historyRedisUrl = (config.historyRedisUrl ?? '').trim() || (process.env.XIAOZHI_REDIS_URL ?? '').trim();
    if (historyMode === 'redis' && !historyRedisUrl) node.warn('history: Redis chosen but no URL (field or XIAOZHI_REDIS_URL): kept in memory');
    const historyStore = historyMode !== 'memory' && historyRedisUrl ? new RedisHistoryStore({ url: historyRedisUrl }) : undefined;
    if (historyStore) {
      node.on('close', (_removed, done) => {
        void historyStore.close().catch(() => undefined).then(() => done());
      });
    }

    const stage = new LlmStage({
      llm,
      systemPrompt: config.systemPrompt,
      temperature: temperatureText === '' ? undefined : num(temperatureText, 0.7),
      maxHistoryMessages: num(config.maxHistory, 20),
      useDeviceTools: bool(config.useDeviceTools, true),
      toolTimeoutMs: timeoutMs,
      maxToolDepth: num(config.maxToolDepth, 5),
      historyStore,
      ...(brokerNode ? { extraTools: () => homeToolsNow?.() ?? [] } : {}),
      send: (msg: StageMessage) => node.send(msg as NodeMessage),
      warn: (message) => node.warn(message),
      onStatus: showStatus,
    });
    showStatus({ running: 0 });

    node.on('input', (msg: NodeMessage, _send: SendFn, done: DoneFn) => {
      // Failures are spoken to the user (a `say` msg) and warned; handle() never rejects.
      stage.handle(msg as StageMessage).then(
        () => done(),
        (error: unknown) => done(asError(error)),
      );
    });

    node.on('close', (_removed, done) => {
      closing = true;
      stage.close();
      void (homeCleanup?.() ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType('xiaozhi llm', XiaozhiLlm);
};
