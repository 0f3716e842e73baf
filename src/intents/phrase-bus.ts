/**
 * A tiny process-wide bus of recogniser phrases. Intent nodes publish the phrases their
 * templates and device catalogue generate (phrasesForGrammar); grammar recognisers (the ASR
 * stage with pocketsphinx) merge them into their own list, so a device that appears on the
 * broker becomes sayable without editing the ASR node.
 *
 * Sources are keyed by an id (the intent node's id) so several intent nodes can contribute and a
 * redeployed node replaces rather than duplicates its phrases.
 */
import { EventEmitter } from 'node:events';

/**
 * Phrases by source. Emits `change` (no arguments) whenever {@link PhraseBus.all} would answer
 * differently.
 */
export class PhraseBus extends EventEmitter {
  private readonly sources = new Map<string, readonly string[]>();
  private merged: string[] | undefined;

  constructor() {
    super();
    // Every ASR node listens; a big flow must not trip the default leak warning at 10.
    this.setMaxListeners(0);
  }

  /** Replace the phrases of one source. Emits `change` only when the list really changed. */
  set(sourceId: string, phrases: readonly string[]): void {
    const next = [...new Set(phrases.map((p) => p.trim()).filter((p) => p.length > 0))];
    const previous = this.sources.get(sourceId);
    if (previous && previous.length === next.length && previous.every((p, i) => p === next[i])) return;
    this.sources.set(sourceId, next);
    this.merged = undefined;
    this.emit('change');
  }

  /** Forget a source (its node closed). */
  remove(sourceId: string): void {
    if (!this.sources.delete(sourceId)) return;
    this.merged = undefined;
    this.emit('change');
  }

  /** Every source's phrases, without duplicates, in source order. */
  all(): string[] {
    if (!this.merged) {
      const out = new Set<string>();
      for (const phrases of this.sources.values()) for (const p of phrases) out.add(p);
      this.merged = [...out];
    }
    return [...this.merged];
  }

  /** Ids of the sources that contribute now. */
  sourceIds(): string[] {
    return [...this.sources.keys()];
  }
}

/** The process-wide bus shared by intent and ASR nodes. */
export const phraseBus = new PhraseBus();
