/**
 * Waiting for work that another request runs. In workerd a promise belongs to the request that created it: awaiting
 * one created by another request resumes in that request's context ("Cannot perform I/O on behalf of a different
 * request", or never, once that request has ended). So every waiter here awaits a promise it created itself, and
 * whoever finishes the work settles each waiter's own promise.
 */
import { EdgeClipError } from '../contracts/errors.ts';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

/** Promise.withResolvers, which Node 20 lacks. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What a waiter gets when its signal aborts: the deadline's own error (503), or a client that left (499). */
export function abortError(signal: AbortSignal): EdgeClipError {
  const reason: unknown = signal.reason;
  return reason instanceof EdgeClipError
    ? reason
    : new EdgeClipError('CLIENT_CLOSED_REQUEST', 'the client closed the request before it was answered');
}

/** Rejects when `signal` aborts, else settles as `p` does (`p` must be the caller's own promise). */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The result of shared work, handed to each subscriber through its own promise. */
export class Fanout<T> {
  private readonly subscribers = new Set<Deferred<T>>();
  private outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;

  get settled(): boolean {
    return this.outcome !== undefined;
  }

  /** A promise of the caller's own; leave it with `unsubscribe` when the caller stops waiting. */
  subscribe(): Deferred<T> {
    const d = deferred<T>();
    if (this.outcome) this.deliver(d, this.outcome);
    else this.subscribers.add(d);
    return d;
  }

  unsubscribe(d: Deferred<T>): void {
    this.subscribers.delete(d);
  }

  get waiting(): number {
    return this.subscribers.size;
  }

  resolve(value: T): void {
    this.settle({ ok: true, value });
  }

  reject(error: unknown): void {
    this.settle({ ok: false, error });
  }

  private settle(outcome: { ok: true; value: T } | { ok: false; error: unknown }): void {
    if (this.outcome) return;
    this.outcome = outcome;
    for (const d of this.subscribers) this.deliver(d, outcome);
    this.subscribers.clear();
  }

  private deliver(d: Deferred<T>, outcome: { ok: true; value: T } | { ok: false; error: unknown }): void {
    if (outcome.ok) d.resolve(outcome.value);
    else d.reject(outcome.error);
  }
}

/** Sleepers woken all at once (each on its own promise). */
export class Wakeup {
  private sleepers = new Set<() => void>();

  /** Resolves at the next `wakeAll` (or rejects when `signal` aborts). */
  wait(signal?: AbortSignal): Promise<void> {
    const d = deferred<void>();
    this.sleepers.add(d.resolve);
    return untilAborted(d.promise, signal).finally(() => this.sleepers.delete(d.resolve));
  }

  wakeAll(): void {
    const woken = this.sleepers;
    this.sleepers = new Set();
    for (const wake of woken) wake();
  }
}

/** A mutex whose waiters enter in arrival order, each resuming on its own promise. */
export class FairLock {
  private held = false;
  private readonly queue: Deferred<void>[] = [];

  /** Resolves with the release once the caller holds the lock; a waiter whose signal aborts leaves the queue. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (!this.held) {
      this.held = true;
    } else {
      const d = deferred<void>();
      this.queue.push(d);
      try {
        await untilAborted(d.promise, signal);
      } catch (e) {
        const i = this.queue.indexOf(d);
        if (i >= 0) this.queue.splice(i, 1);
        // The lock may have been handed over just as the signal aborted: pass it on.
        else this.releaseNext();
        throw e;
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.releaseNext();
    };
  }

  private releaseNext(): void {
    const next = this.queue.shift();
    if (next) next.resolve();
    else this.held = false;
  }
}
