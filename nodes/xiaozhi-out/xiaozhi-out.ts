import { sessionRegistry } from '../../src/gateway/session-registry';
import { applyToSession } from '../../src/gateway/apply-msg';
import { hubMetrics, type TurnTimings } from '../../src/metrics/hub-metrics';
import { asError, num, type DoneFn, type NodeMessage, type NodeStatus, type RedApi, type RedNode, type SendFn } from '../shared/node-red';
import type { XiaozhiServerNode } from '../xiaozhi-server/xiaozhi-server';

interface OutConfig {
  name?: string;
  server?: string;
  toolTimeoutSec?: string | number;
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiOut(this: RedNode, config: OutConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const server = config.server ? (RED.nodes.getNode(config.server) as XiaozhiServerNode | null) : null;
    const toolTimeoutMs = num(config.toolTimeoutSec, 30) * 1000;
    let stale = 0;
    const observedTurns = new Set<string>();
    let serverStatus: NodeStatus = {};
    const showStatus = () => node.status(stale > 0 ? { ...serverStatus, text: `${serverStatus.text ?? ''} · ${stale} stale dropped`.trim() } : serverStatus);
    const user = {
      onServerStatus: (status: NodeStatus) => {
        serverStatus = status;
        showStatus();
      },
    };
    server?.register(user);

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      const session = sessionRegistry.get(typeof msg.session === 'string' ? msg.session : undefined);
      if (!session) {
        // The device left (or the msg has no session): nothing to deliver to. Not an error a flow can fix.
        if (typeof msg.session !== 'string') done(new Error('msg.session (the session id from xiaozhi in) is required'));
        else done();
        return;
      }
      if (msg.topic === 'mcp.call') {
        const p = (msg.payload ?? {}) as { name?: unknown; arguments?: unknown };
        if (typeof p.name !== 'string') {
          done(new Error('mcp.call needs msg.payload.name (the tool name, e.g. self.audio_speaker.set_volume)'));
          return;
        }
        const args = (typeof p.arguments === 'object' && p.arguments !== null ? p.arguments : {}) as Record<string, unknown>;
        session
          .callTool(p.name, args, toolTimeoutMs)
          .then((result) => {
            send({ ...msg, topic: 'mcp.result', payload: result.text, isError: result.isError, result: result.raw });
            done();
          })
          .catch((error: unknown) => done(asError(error)));
        return;
      }
      // Per-turn stage latencies go to the metrics once, with the turn's first audio.
      const timings = msg.timings as TurnTimings | undefined;
      if (msg.topic === 'audio' && timings?.ttsFirstAudio !== undefined) {
        const key = `${session.id}:${String(msg.turn)}`;
        if (!observedTurns.has(key)) {
          observedTurns.add(key);
          if (observedTurns.size > 10_000) observedTurns.clear();
          hubMetrics().observeTimings(timings);
        }
      }
      try {
        if (applyToSession(session, msg) === 'stale') {
          stale++;
          showStatus();
        }
        done();
      } catch (error) {
        done(asError(error));
      }
    });

    node.on('close', (_removed, done) => {
      server?.deregister(user);
      done();
    });
  }

  RED.nodes.registerType('xiaozhi out', XiaozhiOut);
};
