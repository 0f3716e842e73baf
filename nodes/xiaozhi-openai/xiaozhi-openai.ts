import type { RedApi, RedNode } from '../shared/node-red';

interface OpenAiConfig {
  name?: string;
  baseUrl?: string;
}

/** Connection settings of an OpenAI-compatible endpoint, as flow nodes read them. */
export interface OpenAiEndpoint {
  /** Empty when not configured: nodes then use their offline fallback or report it. */
  baseUrl: string;
  apiKey: string;
}

/** Runtime object of a `xiaozhi-openai` config node. */
export interface XiaozhiOpenAiNode extends RedNode {
  endpoint(): OpenAiEndpoint;
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiOpenAi(this: XiaozhiOpenAiNode, config: OpenAiConfig): void {
    RED.nodes.createNode(this, config);
    const baseUrl = (config.baseUrl ?? '').trim().replace(/\/+$/, '');
    // The key may come from the node's credentials or, for the standalone runner, the environment.
    const apiKey = this.credentials.apiKey?.trim() || process.env.XIAOZHI_LLM_API_KEY || process.env.OPENAI_API_KEY || '';
    this.endpoint = () => ({ baseUrl, apiKey });
  }
  RED.nodes.registerType('xiaozhi-openai', XiaozhiOpenAi, { credentials: { apiKey: { type: 'password' } } });
};
