/**
 * One isolate has one thread, and a wasm call cannot be interrupted. Every tower step that runs here (a batch of
 * prompts, one segment of an image) takes a turn from this scheduler: one step at a time, text before images, images
 * by arrival (all of an image's segments before the next image's). It also knows how long a new request would wait,
 * so that load is shed at once (503 + Retry-After) instead of queueing for tens of seconds.
 *
 * Shaped by workerd: a step starts from a timer of the request that runs it, never straight after the previous
 * step, because workerd reads sockets only when its event loop runs dry. Stretches of seconds without a turn made its
 * HTTP server drop every waiting keep-alive connection at once (docs/RELIABILITY.md). Each step runs in the context
 * of the request it belongs to, and hands the thread to the next waiter by resolving that waiter's promise: no timer
 * or loop of the isolate outlives the request that made it.
 */
import { EdgeClipError } from '../contracts/errors.ts';
import { abortError, type Deferred, deferred, untilAborted } from './waiting.ts';

export type WorkKind = 'text' | 'image';

interface Waiter {
  kind: WorkKind;
  /** Order within a kind: an image's segments share their image's number, so images finish in arrival order. */
  order: number;
  /** The waiter's own promise (see waiting.ts), resolved when its turn comes. */
  turn: Deferred<void>;
}

/** The shedding bounds and the clock (tests inject one). */
export interface SchedulerOptions {
  /** A new request is refused when it would wait longer than this before its work starts (ms). */
  maxWaitMs: Record<WorkKind, number>;
  /** The least share of the thread's recent work images get while they wait (0–1). */
  minImageShare: number;
  now?: () => number;
}

/** Exponentially weighted mean: recent steps count most. */
const ewma = (mean: number | undefined, x: number) => (mean === undefined ? x : 0.8 * mean + 0.2 * x);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Before an image step: time for requests that arrived during the last step to parse and enqueue their text (a text
 * step starts on the next turn of the event loop).
 */
const IMAGE_GAP_MS = 2;

/** A handed-over turn unused this long belonged to a request that ended (see `reclaimStalledTurn`). */
const STALL_MS = 2_000;

/** The window over which the kinds' shares of the thread are measured. */
const SHARE_WINDOW_MS = 10_000;

export class Scheduler {
  private running = false;
  private readonly waiting: Waiter[] = [];
  private nextOrder = 0;
  /** The running step: its kind, start and expected length. */
  private current: { kind: WorkKind; startedAt: number } | undefined;
  /** Mean time per unit of work (an image segment, a prompt in a batch) per kind (ms), once measured. */
  private readonly unitMs: Partial<Record<WorkKind, number>> = {};
  /** Thread time spent per kind, decayed over SHARE_WINDOW_MS: the shares the policy and the estimates use. */
  private readonly busy: Record<WorkKind, { ms: number; at: number }> = {
    text: { ms: 0, at: 0 },
    image: { ms: 0, at: 0 },
  };
  /** Work admitted and not finished, in units, per kind (what a newcomer queues behind). */
  private readonly backlog: Record<WorkKind, number> = { text: 0, image: 0 };
  private readonly now: () => number;
  /** When the turn was last handed to a waiter that has not resumed yet. */
  private handedAt: number | undefined;
  private lastKind: WorkKind | undefined;

  constructor(private readonly options: SchedulerOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** A number that orders one job's steps before any later job's (images: one per image). */
  newJob(): number {
    return this.nextOrder++;
  }

  /**
   * Runs `step` when the thread is free and no earlier work of higher priority waits. A step whose signal aborted
   * while it waited is not started. `units`: how much work the step did (prompts in a batch), known once it ran.
   */
  async turn<T>(
    kind: WorkKind,
    step: () => T | Promise<T>,
    options: { signal?: AbortSignal; order?: number; units?: (result: T) => number } = {},
  ): Promise<T> {
    const { signal, order = this.newJob() } = options;
    let holding = false;
    try {
      if (this.running) await this.wait(kind, order, signal);
      else this.running = true;
      holding = true;
      this.handedAt = undefined;
      // From this request's own timer: workerd polls its sockets before the step starts. Text that arrived during
      // the last step is enqueued by then, and an image step hands the turn back to it.
      for (;;) {
        await sleep(kind === 'image' ? IMAGE_GAP_MS : 0);
        signal?.throwIfAborted();
        if (kind === 'text' || this.waiting[0]?.kind !== 'text' || this.imageTurnDue()) break;
        holding = false;
        const again = this.wait(kind, order, signal);
        this.handOff();
        await again;
        holding = true;
      }
      this.handedAt = undefined;
      const startedAt = this.now();
      this.current = { kind, startedAt };
      const result = await step();
      const units = options.units?.(result) ?? 1;
      const took = this.now() - startedAt;
      if (units > 0) this.unitMs[kind] = ewma(this.unitMs[kind], took / units);
      this.busy[kind] = { ms: this.recentMs(kind) + took, at: this.now() };
      this.lastKind = kind;
      return result;
    } catch (e) {
      throw signal?.aborted ? abortError(signal) : e;
    } finally {
      if (holding) {
        this.current = undefined;
        this.handOff();
      }
    }
  }

  private async wait(kind: WorkKind, order: number, signal: AbortSignal | undefined): Promise<void> {
    this.reclaimStalledTurn();
    const waiter: Waiter = { kind, order, turn: deferred<void>() };
    // Text before images; within a kind by order (arrival, or the image a segment belongs to).
    const rank = (w: Waiter) => (w.kind === 'text' ? 0 : 1);
    let at = this.waiting.findIndex((w) => rank(w) > rank(waiter) || (rank(w) === rank(waiter) && w.order > order));
    if (at < 0) at = this.waiting.length;
    this.waiting.splice(at, 0, waiter);
    try {
      await untilAborted(waiter.turn.promise, signal);
    } catch (e) {
      const i = this.waiting.indexOf(waiter);
      if (i >= 0) this.waiting.splice(i, 1);
      // The turn came just as the waiter gave up: pass it on.
      else this.handOff();
      throw e;
    }
  }

  /**
   * Text first, except that images get at least `minImageShare` of the thread's recent work: under a steady stream of
   * prompts an image would otherwise never finish. Below their share, image steps alternate with text steps (never
   * two in a row while text waits), so a text waits for at most one image step besides the running step.
   */
  private handOff(): void {
    const image = this.imageTurnDue() ? this.waiting.findIndex((w) => w.kind === 'image') : -1;
    const [next] = this.waiting.splice(Math.max(0, image), 1);
    if (next) {
      this.handedAt = this.now();
      next.turn.resolve();
    } else this.running = false;
  }

  /**
   * A turn handed to a waiter whose request ended before it could resume (workerd drops the continuations of a
   * finished request) would hold the thread forever: after STALL_MS unused it goes to the next waiter.
   */
  private reclaimStalledTurn(): void {
    if (this.handedAt !== undefined && this.now() - this.handedAt > STALL_MS) this.handOff();
  }

  /** Images got less than their share of the thread's recent work, and the last step was not an image's. */
  private imageTurnDue(): boolean {
    const image = this.recentMs('image');
    const all = image + this.recentMs('text');
    return all > 0 && image / all < this.options.minImageShare && this.lastKind !== 'image';
  }

  /**
   * Reserves `units` of `kind` (image segments, prompts) for a new request, or refuses it (503 OVERLOADED with
   * Retry-After) when its work would not start within the bound. Release the reservation when the work is done.
   * `check: false` reserves without the bound: the next part of work already admitted.
   */
  admit(kind: WorkKind, units: number, check = true): () => void {
    this.reclaimStalledTurn();
    const wait = this.expectedWaitMs(kind);
    if (check && wait > this.options.maxWaitMs[kind])
      throw new EdgeClipError(
        'OVERLOADED',
        `too busy: ${kind} work would wait about ${(wait / 1000).toFixed(1)} s here (the bound is ${(this.options.maxWaitMs[kind] / 1000).toFixed(1)} s); retry later`,
        { retryAfter: Math.max(1, Math.ceil(wait / 1000)) },
      );
    this.backlog[kind] += units;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.backlog[kind] -= units;
    };
  }

  /** A kind's thread time over the last SHARE_WINDOW_MS or so (exponentially decayed). */
  private recentMs(kind: WorkKind): number {
    const b = this.busy[kind];
    return b.ms * Math.exp(-(this.now() - b.at) / SHARE_WINDOW_MS);
  }

  /**
   * How long new work of `kind` would wait before it starts: the rest of the running step and the text backlog; for
   * images also the image backlog. Each kind's backlog moves at the share of the thread the other leaves it.
   */
  expectedWaitMs(kind: WorkKind): number {
    const c = this.current;
    const running = c ? Math.max(0, (this.unitMs[c.kind] ?? 0) - (this.now() - c.startedAt)) : 0;
    const images = this.backlog.image * (this.unitMs.image ?? 0);
    // Text moves at the share images leave it while images wait, images at the share text has been leaving them.
    const textShare = images > 0 ? 1 - this.options.minImageShare : 1;
    const text = (this.backlog.text * (this.unitMs.text ?? 0)) / Math.max(0.05, textShare);
    if (kind === 'text') return running + text;
    const imageShare = Math.max(this.options.minImageShare, 1 - this.recentMs('text') / SHARE_WINDOW_MS);
    return running + text + images / Math.max(0.05, imageShare);
  }

  /** Work admitted and not finished (units per kind), mean time per unit, and waiting steps: for /v1/models. */
  stats(): { backlog: Record<WorkKind, number>; unitMs: Partial<Record<WorkKind, number>>; waiting: number } {
    return { backlog: { ...this.backlog }, unitMs: { ...this.unitMs }, waiting: this.waiting.length };
  }
}
