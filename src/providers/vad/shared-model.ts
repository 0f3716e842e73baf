/**
 * One Silero VAD model for the whole process. SileroVadModel batches the windows of all its
 * streams into one inference per event-loop turn, so every VAD node (and every session of every
 * node) should use the same instance: one model = one batch = the cheap per-window cost.
 */
import { SileroVadModel, type SileroVadModelOptions } from './silero-model';

/** A hold on the shared model; call release() once when done (node close). */
export interface SharedSileroLease {
  /** Resolves with the loaded model, rejects with the load error (ProviderError). */
  readonly model: Promise<SileroVadModel>;
  /** Give the hold back. Extra calls do nothing. */
  release(): void;
}

/** Options of {@link acquireSharedSileroModel}. */
export interface SharedSileroOptions {
  /**
   * Keep the model this long after the last lease is released: a redeploy closes the old nodes
   * before it creates the new ones, and reloading costs ~100 ms and a native allocation.
   * Default 10000 ms. The timer never keeps the process alive.
   */
  lingerMs?: number;
  /** Load options, used only by the acquire that loads the model. */
  load?: SileroVadModelOptions;
}

interface SharedEntry {
  model: Promise<SileroVadModel>;
  leases: number;
  closeTimer: NodeJS.Timeout | undefined;
}

let shared: SharedEntry | undefined;

/**
 * Take a hold on the process-wide Silero model, loading it on first use. A failed load is not
 * cached: the next acquire (e.g. after the user installs the model and redeploys) tries again.
 */
export function acquireSharedSileroModel(options: SharedSileroOptions = {}): SharedSileroLease {
  const lingerMs = options.lingerMs ?? 10_000;
  if (!shared) {
    const entry: SharedEntry = { model: SileroVadModel.load(options.load), leases: 0, closeTimer: undefined };
    entry.model.catch(() => {
      if (shared === entry) shared = undefined;
    });
    shared = entry;
  }
  const entry = shared;
  entry.leases++;
  if (entry.closeTimer) {
    clearTimeout(entry.closeTimer);
    entry.closeTimer = undefined;
  }
  let released = false;
  return {
    model: entry.model,
    release(): void {
      if (released) return;
      released = true;
      entry.leases--;
      if (entry.leases > 0 || shared !== entry) return;
      const close = (): void => {
        if (shared !== entry || entry.leases > 0) return;
        shared = undefined;
        entry.model.then((m) => m.close()).catch(() => undefined);
      };
      if (lingerMs <= 0) close();
      else {
        entry.closeTimer = setTimeout(close, lingerMs);
        entry.closeTimer.unref();
      }
    },
  };
}

/** Number of live holds on the shared model (0 when none is loaded), for status and tests. */
export function sharedSileroLeaseCount(): number {
  return shared?.leases ?? 0;
}
