import { IntentStage, type IntentStageStatus } from '../../src/pipeline/intent-stage';
import type { StageMessage } from '../../src/pipeline/llm-stage';
import type { IntentLanguage } from '../../src/intents/types';
import { asError, bool, num, type DoneFn, type NodeMessage, type NodeStatus, type RedApi, type RedNode, type SendFn } from '../shared/node-red';
import type { BrokerNodeUser, XiaozhiBrokerNode } from '../xiaozhi-broker/xiaozhi-broker';

/** Editor fields of `xiaozhi intent`. */
interface IntentConfig {
  name?: string;
  /** Id of a xiaozhi-broker config node; none = only device intents (volume) and custom sentences. */
  broker?: string;
  /** Comma-separated: `en`, `zh`, or both. */
  languages?: string;
  /** Custom sentences YAML. */
  sentences?: string;
  baseTopic?: string;
  waitForEchoMs?: string | number;
  feedGrammar?: boolean | string;
  /** Upper bound of grammar phrases. Default 500. */
  grammarPhrases?: string | number;
}

/** Status of an intent node: error, else the last intent, else what it knows. */
export function intentStatus(status: IntentStageStatus): NodeStatus {
  if (status.error !== undefined) return { fill: 'red', shape: 'ring', text: status.error.slice(0, 60) };
  const known = status.hasBroker ? `${status.devices} device${status.devices === 1 ? '' : 's'} · ${status.areas} area${status.areas === 1 ? '' : 's'}` : 'no broker: device intents only';
  if (!status.ready) return { fill: 'yellow', shape: 'ring', text: 'waiting for broker' };
  const last = status.last;
  if (last?.intent !== undefined) {
    return { fill: last.ok ? 'green' : 'yellow', shape: 'dot', text: `${last.intent} ${last.ok ? '✓' : '✗'} ${last.ms} ms · ${known}` };
  }
  if (last) return { fill: 'grey', shape: 'dot', text: `miss (to LLM) · ${known}` };
  return { fill: 'green', shape: 'ring', text: known };
}

/** Languages from the editor field; default both. */
export function parseLanguages(value: string | undefined): IntentLanguage[] {
  const picked = (value ?? '')
    .split(/[\s,]+/)
    .map((l) => l.trim().toLowerCase())
    .filter((l): l is IntentLanguage => l === 'en' || l === 'zh');
  return picked.length > 0 ? [...new Set(picked)] : ['en', 'zh'];
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiIntent(this: RedNode, config: IntentConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const brokerNode = config.broker ? (RED.nodes.getNode(config.broker) as XiaozhiBrokerNode | null) : null;
    if (config.broker && !brokerNode) node.warn('the selected broker config node was not found: device intents only');

    let shown = '';
    const showStatus = (status: IntentStageStatus): void => {
      const next = intentStatus(status);
      const key = `${next.fill}|${next.text}`;
      if (key === shown) return;
      shown = key;
      node.status(next);
    };
    const stage = new IntentStage({
      languages: parseLanguages(config.languages),
      ...(config.sentences?.trim() ? { customSentences: config.sentences } : {}),
      ...(brokerNode ? { broker: brokerNode.broker } : {}),
      zigbee2mqttBaseTopic: config.baseTopic?.trim() || 'zigbee2mqtt',
      waitForEchoMs: Math.max(0, num(config.waitForEchoMs, 2000)),
      feedGrammar: bool(config.feedGrammar, true),
      maxGrammarPhrases: Math.max(1, num(config.grammarPhrases, 500)),
      phraseSourceId: node.id,
      // Output 1: handled (stt + say); output 2: everything else, on to the LLM.
      send: (output, msg: StageMessage) => node.send(output === 0 ? [msg as NodeMessage, null] : [null, msg as NodeMessage]),
      warn: (message) => node.warn(message),
      onStatus: showStatus,
    });
    // The broker node reports its own failures; a failed start shows here through the stage.
    const brokerUser: BrokerNodeUser = { onBrokerStatus: () => undefined };
    brokerNode?.register(brokerUser);

    node.on('input', (msg: NodeMessage, _send: SendFn, done: DoneFn) => {
      stage.handle(msg as StageMessage).then(
        () => done(),
        (error: unknown) => done(asError(error)),
      );
    });

    node.on('close', (_removed, done) => {
      brokerNode?.deregister(brokerUser);
      void stage
        .close()
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType('xiaozhi intent', XiaozhiIntent);
};
