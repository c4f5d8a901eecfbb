/**
 * Identical work in flight is done once: callers of the same key share one run and each gets its result on a promise
 * of its own (waiting.ts). The run keeps going while anyone still waits for it; when every caller has gone (client
 * closed, deadline), its signal aborts and it stops before its next step. A key is free again as soon as its run
 * settles or is abandoned.
 */
import { Fanout, untilAborted } from './waiting.ts';

interface Job<T> {
  result: Fanout<T>;
  interest: number;
  abort: AbortController;
}

export class SharedWork<T> {
  private readonly jobs = new Map<string, Job<T>>();
  /** Runs started, and callers that joined one already under way. */
  readonly stats = { started: 0, joined: 0 };

  has(key: string): boolean {
    return this.jobs.has(key);
  }

  async run(key: string, signal: AbortSignal | undefined, start: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let job = this.jobs.get(key);
    if (!job) {
      const created: Job<T> = { result: new Fanout<T>(), interest: 0, abort: new AbortController() };
      this.jobs.set(key, created);
      const forget = () => {
        if (this.jobs.get(key) === created) this.jobs.delete(key);
      };
      start(created.abort.signal).then(
        (v) => {
          forget();
          created.result.resolve(v);
        },
        (e: unknown) => {
          forget();
          created.result.reject(e);
        },
      );
      job = created;
      this.stats.started++;
    } else this.stats.joined++;
    const joined = job;
    joined.interest++;
    const mine = joined.result.subscribe();
    try {
      return await untilAborted(mine.promise, signal);
    } finally {
      joined.result.unsubscribe(mine);
      if (--joined.interest === 0 && !joined.result.settled) {
        if (this.jobs.get(key) === joined) this.jobs.delete(key);
        joined.abort.abort();
      }
    }
  }
}
