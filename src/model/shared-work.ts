/**
 * Identical work in flight is done once: callers of the same key share one run and each gets its result on a promise
 * of its own (waiting.ts). The run belongs to the request that started it (its timers and waits live in that
 * request's context), so it goes on only while that request waits for it: when the starter leaves (client closed,
 * deadline, its other work failed), the run is aborted before its next step and the callers still waiting start it
 * again, the first of them in its own context. When every caller has gone the run is aborted too. A key is free again
 * as soon as its run settles or is abandoned.
 */
import { Fanout, untilAborted } from './waiting.ts';

interface Job<T> {
  result: Fanout<T>;
  interest: number;
  abort: AbortController;
}

/** What the other callers of a run get when its starter leaves: they start it again. */
const STARTER_LEFT = new Error('the request running this work has gone');

export class SharedWork<T> {
  private readonly jobs = new Map<string, Job<T>>();
  /** Runs started, and callers that joined one already under way. */
  readonly stats = { started: 0, joined: 0 };

  has(key: string): boolean {
    return this.jobs.has(key);
  }

  async run(key: string, signal: AbortSignal | undefined, start: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (;;) {
      let job = this.jobs.get(key);
      const starter = !job;
      if (!job) {
        const created: Job<T> = { result: new Fanout<T>(), interest: 0, abort: new AbortController() };
        this.jobs.set(key, created);
        this.stats.started++;
        const settle = (outcome: () => void) => {
          if (this.jobs.get(key) === created) this.jobs.delete(key);
          outcome();
        };
        start(created.abort.signal).then(
          (v) => settle(() => created.result.resolve(v)),
          (e: unknown) => settle(() => created.result.reject(e)),
        );
        job = created;
      } else this.stats.joined++;
      const joined = job;
      joined.interest++;
      const mine = joined.result.subscribe();
      try {
        return await untilAborted(mine.promise, signal);
      } catch (e) {
        if (e === STARTER_LEFT && !signal?.aborted) continue;
        throw e;
      } finally {
        joined.result.unsubscribe(mine);
        joined.interest--;
        if (!joined.result.settled && (starter || joined.interest === 0)) {
          if (this.jobs.get(key) === joined) this.jobs.delete(key);
          joined.abort.abort();
          joined.result.reject(STARTER_LEFT);
        }
      }
    }
  }
}
