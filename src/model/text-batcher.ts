/**
 * Prompts of concurrent requests run together: rows that wait while the text tower is busy (or arrive within the
 * scheduler's turn gap) go into one batch, bounded in rows and in padded tokens, so that a batch is one short step.
 * Identical prompts in flight are computed once. A row's result does not depend on its batch-mates beyond float32
 * rounding (≤ 1e-6): the text graph is causal, pools at EOT and quantizes activations per row; only the kernels'
 * summation order changes with the batch's shape (test/worker/load.test.ts checks it).
 *
 * No loop of the isolate drives the batches: a request whose rows wait leads (takes the scheduler's text turn and
 * runs whatever is pending, its rows and others'); when it is done and rows remain, the others wake and one of them
 * leads next. Work stays inside the requests that want it, and each waits on its own promises, as workerd requires.
 */
import type { Tower } from './ports.ts';
import type { Scheduler } from './scheduler.ts';
import { packIds } from './text-batch.ts';
import { type Deferred, Fanout, untilAborted, Wakeup } from './waiting.ts';

export interface BatchLimits {
  /** Prompts per batch. */
  rows: number;
  /** Padded tokens per batch (rows × the longest row). */
  tokens: number;
}

interface Row {
  key: string;
  ids: readonly number[];
  /** Requests still waiting for this row; at 0 before it runs, it is dropped. */
  interest: number;
  running: boolean;
  result: Fanout<Float32Array>;
}

export class TextBatcher {
  private readonly pending: Row[] = [];
  /** Rows pending or running, by their token ids. */
  private readonly inFlight = new Map<string, Row>();
  private leading = false;
  /** Woken whenever a leader finishes: the rows still waiting may need a new one. */
  private readonly vacancy = new Wakeup();
  /** Batches run and the prompts in them (/v1/models). */
  readonly stats = { batches: 0, rows: 0 };

  constructor(
    private readonly tower: Tower,
    private readonly inputName: string,
    private readonly scheduler: Scheduler,
    private readonly limits: BatchLimits,
  ) {}

  /** The tower's raw output rows, [ids.length, dim], in the order given. */
  async embed(sequences: readonly (readonly number[])[], signal?: AbortSignal): Promise<Float32Array> {
    const rows = sequences.map((ids) => this.join(ids));
    const mine = rows.map((r) => r.result.subscribe());
    try {
      while (!rows.every((r) => r.result.settled)) {
        if (this.leading) {
          await this.vacancy.wait(signal);
          continue;
        }
        this.leading = true;
        try {
          await this.scheduler.turn('text', () => this.runBatch(), { signal, units: (n) => n });
        } finally {
          this.leading = false;
          this.vacancy.wakeAll();
        }
      }
      const parts = await untilAborted(Promise.all(mine.map((d) => d.promise)), signal);
      const dim = parts[0]?.length ?? 0;
      const out = new Float32Array(parts.length * dim);
      for (const [i, p] of parts.entries()) out.set(p, i * dim);
      return out;
    } finally {
      for (const [i, r] of rows.entries()) this.leave(r, mine[i]);
    }
  }

  private join(ids: readonly number[]): Row {
    const key = ids.join(' ');
    let row = this.inFlight.get(key);
    if (!row) {
      row = { key, ids, interest: 0, running: false, result: new Fanout<Float32Array>() };
      this.inFlight.set(key, row);
      this.pending.push(row);
    }
    row.interest++;
    return row;
  }

  /** A row nobody waits for any more is not computed (it may be running already: then it just finishes). */
  private leave(row: Row, mine: Deferred<Float32Array>): void {
    row.result.unsubscribe(mine);
    // A failure nobody reads any more must not surface as unhandled.
    mine.promise.catch(() => undefined);
    if (--row.interest > 0 || row.running) return;
    const i = this.pending.indexOf(row);
    if (i >= 0) this.pending.splice(i, 1);
    if (this.inFlight.get(row.key) === row) this.inFlight.delete(row.key);
  }

  /** Runs the oldest pending rows as one batch within the limits; returns how many. */
  private async runBatch(): Promise<number> {
    const batch: Row[] = [];
    let longest = 0;
    while (this.pending.length > 0 && batch.length < this.limits.rows) {
      const next = this.pending[0];
      const len = Math.max(longest, next.ids.length);
      if (batch.length > 0 && (batch.length + 1) * len > this.limits.tokens) break;
      batch.push(next);
      longest = len;
      this.pending.shift();
    }
    if (batch.length === 0) return 0;
    for (const r of batch) r.running = true;
    this.stats.batches++;
    this.stats.rows += batch.length;
    try {
      const { data, dims } = packIds(batch.map((r) => r.ids));
      const out = await this.tower.run(this.inputName, data, dims);
      const dim = out.length / batch.length;
      for (const [i, r] of batch.entries()) r.result.resolve(out.slice(i * dim, (i + 1) * dim));
    } catch (e) {
      for (const r of batch) r.result.reject(e);
    } finally {
      for (const r of batch) if (this.inFlight.get(r.key) === r) this.inFlight.delete(r.key);
    }
    return batch.length;
  }
}
