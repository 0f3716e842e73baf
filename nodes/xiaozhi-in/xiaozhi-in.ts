import type { Session, UplinkAudio, ListenEvent } from '../../src/gateway/session';
import type { McpTool } from '../../src/protocol/mcp';
import { int16ToBuffer } from '../../src/audio/pcm';
import type { NodeMessage, NodeStatus, RedApi, RedNode } from '../shared/node-red';
import type { XiaozhiServerNode } from '../xiaozhi-server/xiaozhi-server';

interface InConfig {
  name?: string;
  server: string;
  audio?: 'pcm' | 'opus' | 'none';
  events?: boolean | string;
}

/** The msg fields every event carries (ids only: live objects stay in the config node). */
function baseMsg(session: Session, topic: string): NodeMessage {
  return { topic, session: session.id, turn: session.turn, device: { id: session.deviceId, clientId: session.clientId } };
}

module.exports = function register(RED: RedApi): void {
  function XiaozhiIn(this: RedNode, config: InConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const server = RED.nodes.getNode(config.server) as XiaozhiServerNode | null;
    if (!server) {
      node.status({ fill: 'red', shape: 'ring', text: 'no server configured' });
      return;
    }
    const audioMode = config.audio ?? 'pcm';
    const withEvents = config.events === undefined ? true : String(config.events) !== 'false';
    const detach: Array<() => void> = [];

    const on = <T extends unknown[]>(session: Session, event: string, handler: (...args: T) => void) => {
      session.on(event, handler as (...args: unknown[]) => void);
      detach.push(() => session.off(event, handler as (...args: unknown[]) => void));
    };

    const attach = (session: Session) => {
      if (withEvents) node.send({ ...baseMsg(session, 'session.start'), payload: session.info() });
      on(session, 'listen', (e: ListenEvent) => {
        if (!withEvents) return;
        const msg: NodeMessage = { ...baseMsg(session, `listen.${e.state}`), turn: e.turn, mode: e.mode, payload: e.text ?? e.state };
        node.send(msg);
      });
      if (audioMode !== 'none') {
        on(session, 'audio', (a: UplinkAudio) => {
          const pcm = audioMode === 'pcm' && a.pcm;
          node.send({
            topic: 'audio',
            session: session.id,
            turn: a.turn,
            device: { id: session.deviceId, clientId: session.clientId },
            mode: session.mode,
            payload: pcm ? int16ToBuffer(a.pcm!) : a.opus,
            audio: pcm
              ? { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1, frameMs: (a.pcm!.length / 16000) * 1000 }
              : { encoding: 'opus', sampleRateHz: 16000, channels: 1, frameMs: session.uplinkFrameMs },
          });
        });
      }
      on(session, 'abort', (e: { reason: string; turn: number }) => {
        if (withEvents) node.send({ ...baseMsg(session, 'abort'), turn: e.turn, payload: e.reason });
      });
      on(session, 'tools', (tools: McpTool[]) => {
        if (withEvents) node.send({ ...baseMsg(session, 'mcp.tools'), payload: tools });
      });
      on(session, 'iot', (message: unknown) => {
        if (withEvents) node.send({ ...baseMsg(session, 'iot'), payload: message });
      });
    };

    const onSession = (session: Session) => attach(session);
    const onClosed = (session: Session, info: { code: number; reason: string }) => {
      if (withEvents) node.send({ ...baseMsg(session, 'session.end'), payload: info });
    };
    server.gateway.on('session', onSession);
    server.gateway.on('session-closed', onClosed);
    // Devices already connected before a redeploy of this node.
    for (const session of server.gateway.list()) if (session.state !== 'awaiting_hello') attach(session);

    const user = { onServerStatus: (status: NodeStatus) => node.status(status) };
    server.register(user);

    node.on('close', (_removed, done) => {
      server.gateway.off('session', onSession);
      server.gateway.off('session-closed', onClosed);
      for (const d of detach.splice(0)) d();
      server.deregister(user);
      done();
    });
  }

  RED.nodes.registerType('xiaozhi in', XiaozhiIn);
};
