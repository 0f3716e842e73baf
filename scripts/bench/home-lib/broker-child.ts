/**
 * Child process of `bench:home`: runs the hub's EmbeddedBroker (memory persistence, loopback) in
 * a process of its own, as Mosquitto runs in its own, so the load generator does not share an
 * event loop with the broker under test. It also hosts the "internal subscriber" run: handlers
 * on the broker's in-process subscribe API (what DeviceCatalogue uses), counting deliveries and
 * latencies here and reporting completed messages to the parent in batches.
 *
 * IPC (parent -> child): {type:'subscribe', runId, filter, subscribers, messages}, {type:'end'}, {type:'stop'}.
 * IPC (child -> parent): {type:'ready', port}, {type:'subscribed'}, {type:'progress', completed},
 * {type:'ended', delivered, duplicates, latencyMs (percentiles), lastDeliveryNs}, {type:'error', message}.
 */
import { EmbeddedBroker } from '../../../src/broker';
import { percentiles, type Percentiles } from '../lib/stats';
import { DeliveryCounter } from './load-payload';

/** Messages the parent sends. */
export type ToBrokerChild =
  | { type: 'subscribe'; runId: number; filter: string; subscribers: number; messages: number }
  | { type: 'end' }
  | { type: 'stop' };

/** Messages the child sends. */
export type FromBrokerChild =
  | { type: 'ready'; port: number }
  | { type: 'subscribed' }
  | { type: 'progress'; completed: number }
  | { type: 'ended'; delivered: number; duplicates: number; latencyMs: Percentiles; lastDeliveryNs: string }
  | { type: 'error'; message: string };

/** Completed messages between progress reports: small next to the generator's window. */
const PROGRESS_BATCH = 20;
/** A partial batch is reported after this long, so the window never waits on a batch. */
const PROGRESS_FLUSH_MS = 5;

function send(message: FromBrokerChild): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const broker = await EmbeddedBroker.start({ port: 0, host: '127.0.0.1', allowAnonymousLoopback: true, persistence: { kind: 'memory' } });
  let counter: DeliveryCounter | undefined;
  let unsubscribes: Array<() => Promise<void>> = [];
  let reported = 0;
  let flushTimer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    flushTimer = undefined;
    if (counter && counter.completed !== reported) {
      reported = counter.completed;
      send({ type: 'progress', completed: reported });
    }
  };

  process.on('message', (raw: ToBrokerChild) => {
    void (async () => {
      try {
        if (raw.type === 'subscribe') {
          const run = new DeliveryCounter(raw.messages, raw.subscribers, raw.runId);
          counter = run;
          reported = 0;
          for (let i = 0; i < raw.subscribers; i++) {
            unsubscribes.push(
              await broker.subscribe(raw.filter, (_topic, payload) => {
                if (!run.record(payload)) return;
                if (run.completed - reported >= PROGRESS_BATCH) flush();
                else flushTimer ??= setTimeout(flush, PROGRESS_FLUSH_MS);
              }),
            );
          }
          send({ type: 'subscribed' });
        } else if (raw.type === 'end') {
          if (flushTimer) clearTimeout(flushTimer);
          flushTimer = undefined;
          await Promise.all(unsubscribes.map((u) => u()));
          unsubscribes = [];
          const run = counter;
          counter = undefined;
          send({
            type: 'ended',
            delivered: run?.delivered ?? 0,
            duplicates: run?.duplicates ?? 0,
            latencyMs: percentiles(run ? run.latencies() : []),
            lastDeliveryNs: String(run?.lastDeliveryNs ?? 0n),
          });
        } else if (raw.type === 'stop') {
          await broker.close();
          process.disconnect?.();
          process.exit(0);
        }
      } catch (error) {
        send({ type: 'error', message: (error as Error).message });
      }
    })();
  });
  // The parent went away (crash, Ctrl-C): do not linger holding a port.
  process.on('disconnect', () => {
    void broker.close().finally(() => process.exit(0));
  });
  send({ type: 'ready', port: broker.port ?? 0 });
}

main().catch((error: Error) => {
  send({ type: 'error', message: error.message });
  process.exit(1);
});
