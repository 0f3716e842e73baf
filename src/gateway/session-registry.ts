import type { Session } from './session';

/**
 * Process-wide index of live sessions by id. Session ids are random UUIDs, so several gateways
 * (config nodes) can share it. Pipeline nodes use it to check a turn is still current and to
 * reach a device's MCP tools without carrying live objects in msgs.
 */
const sessions = new Map<string, Session>();

export const sessionRegistry = {
  add(session: Session): void {
    sessions.set(session.id, session);
  },
  remove(session: Session): void {
    if (sessions.get(session.id) === session) sessions.delete(session.id);
  },
  get(id: string | undefined): Session | undefined {
    return id === undefined ? undefined : sessions.get(id);
  },
  /** Latest session of a device (a device reconnects with a new session id for each conversation). */
  byDevice(deviceId: string): Session | undefined {
    let found: Session | undefined;
    for (const session of sessions.values()) {
      if (session.deviceId === deviceId && (!found || session.connectedAt >= found.connectedAt)) found = session;
    }
    return found;
  },
  get size(): number {
    return sessions.size;
  },
  all(): IterableIterator<Session> {
    return sessions.values();
  },
};
