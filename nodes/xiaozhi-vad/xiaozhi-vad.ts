import { VadStage, type PipelineMsg, type VadStageStats } from '../../src/pipeline/vad-stage';
import { acquireSharedSileroModel, type SharedSileroLease } from '../../src/providers/vad/shared-model';
import { WebRtcVadModel } from '../../src/providers/vad/webrtc-model';
import type { VadModel } from '../../src/providers/types';
import { asError, bool, num, type DoneFn, type NodeMessage, type NodeStatus, type RedApi, type RedNode, type SendFn } from '../shared/node-red';

interface VadConfig {
  name?: string;
  engine?: 'silero' | 'webrtc';
  threshold?: string | number;
  thresholdLow?: string | number;
  silenceMs?: string | number;
  preRollMs?: string | number;
  minSpeechMs?: string | number;
  maxUtteranceSec?: string | number;
  bargeIn?: boolean | string;
}

/** Status of a VAD node from its stage's counts (short: it shows under the node). */
export function vadStatus(stats: VadStageStats, engine: string): NodeStatus {
  if (stats.model === 'failed') return { fill: 'red', shape: 'ring', text: `${engine} failed: ${stats.modelError ?? 'unknown error'} (manual mode only)` };
  if (stats.model === 'loading') return { fill: 'yellow', shape: 'ring', text: `loading ${engine}` };
  if (stats.speaking > 0) return { fill: 'blue', shape: 'dot', text: `${stats.listening} listening / ${stats.speaking} speaking now` };
  return { fill: 'green', shape: 'dot', text: `${stats.listening} listening` };
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiVad(this: RedNode, config: VadConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const engine = config.engine === 'webrtc' ? 'webrtc' : 'silero';
    let lease: SharedSileroLease | undefined;
    let model: Promise<VadModel>;
    if (engine === 'silero') {
      // One model for the process: windows of every session of every VAD node share an inference.
      lease = acquireSharedSileroModel();
      model = lease.model;
    } else {
      model = WebRtcVadModel.load();
    }

    let shown = '';
    const showStatus = (): void => {
      const status = vadStatus(stage.stats(), engine);
      const key = `${status.fill}|${status.text}`;
      if (key === shown) return;
      shown = key;
      node.status(status);
    };
    const stage = new VadStage(
      model,
      {
        send: (output, msg) => node.send(output === 0 ? [msg as NodeMessage, null] : [null, msg as NodeMessage]),
        warn: (message) => node.warn(message),
        onChange: () => showStatus(),
      },
      {
        threshold: num(config.threshold, 0.5),
        thresholdLow: num(config.thresholdLow, 0.3),
        silenceMs: num(config.silenceMs, 500),
        preRollMs: num(config.preRollMs, 600),
        minSpeechMs: num(config.minSpeechMs, 250),
        maxUtteranceMs: num(config.maxUtteranceSec, 30) * 1000,
        bargeIn: bool(config.bargeIn, true),
      },
    );
    showStatus();

    node.on('input', (msg: NodeMessage, _send: SendFn, done: DoneFn) => {
      stage.handle(msg as PipelineMsg).then(
        () => done(),
        (error: unknown) => done(asError(error)),
      );
    });

    node.on('close', (_removed, done) => {
      void stage
        .close()
        .then(async () => {
          if (lease) lease.release();
          else await (await model.catch(() => undefined))?.close();
        })
        .catch(() => undefined)
        .then(() => done());
    });
  }

  RED.nodes.registerType('xiaozhi vad', XiaozhiVad);
};
