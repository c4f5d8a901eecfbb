/**
 * Dynamic batching: requests that arrive within `windowMs` (or until `maxBatch` rows) run as one batch; each caller
 * gets its own rows back. Text batches are right-padded with 0 to the longest sequence (harmless: the text tower is
 * causal and pools at EOT).
 */
import type { Tower, TowerInput } from '../src/model/ports.ts';
import type { BatchObserver } from './metrics.ts';

interface Pending {
  data: TowerInput;
  dims: number[];
  resolve: (rows: Float32Array) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  /** performance.now() when it was submitted: its queue time ends when its batch starts. */
  since: number;
}

export interface BatcherStats {
  inferenceCount: number;
  executionCount: number;
  /** Requests whose client left while they waited: dropped before they reached the device. */
  cancelledCount: number;
}

export class DynamicBatcher {
  private queue: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private busy = false;
  readonly stats: BatcherStats = { inferenceCount: 0, executionCount: 0, cancelledCount: 0 };

  constructor(
    private readonly tower: Tower,
    private readonly inputName: string,
    private readonly outputDim: number,
    private readonly maxBatch: number,
    private readonly windowMs: number,
    private readonly observer?: BatchObserver,
  ) {}

  /** Rows waiting for the device (not yet running). */
  get queuedRows(): number {
    return this.queue.reduce((a, p) => a + p.dims[0], 0);
  }

  /**
   * Resolves with this request's rows. A request waits in the queue until the device is free (batches are formed
   * then, from whatever waits), so one whose `signal` aborts before that is removed and never computed.
   */
  submit(data: TowerInput, dims: number[], signal?: AbortSignal): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const pending: Pending = { data, dims, resolve, reject, signal, since: performance.now() };
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.queue.indexOf(pending);
          if (i < 0) return;
          this.queue.splice(i, 1);
          this.stats.cancelledCount++;
          reject(signal.reason);
        },
        { once: true },
      );
      this.queue.push(pending);
      if (this.maxBatch <= 1 || this.queuedRows >= this.maxBatch) this.pump();
      else this.timer ??= setTimeout(() => this.pump(), this.windowMs);
    });
  }

  /** Runs the next batch when the device is free: whole requests up to maxBatch rows (a larger one runs alone). */
  private pump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.busy || this.queue.length === 0) return;
    let rows = this.queue[0].dims[0];
    let take = 1;
    while (take < this.queue.length && rows + this.queue[take].dims[0] <= this.maxBatch)
      rows += this.queue[take++].dims[0];
    const batch = this.queue.splice(0, take);
    this.busy = true;
    void this.run(batch).finally(() => {
      this.busy = false;
      // What arrived while the device was busy has waited its window already.
      this.pump();
    });
  }

  private async run(batch: Pending[]): Promise<void> {
    // Triton counts inferences in rows: a request of 10 rows is 10 inferences, one execution.
    this.stats.inferenceCount += batch.reduce((a, p) => a + p.dims[0], 0);
    this.stats.executionCount++;
    const start = performance.now();
    for (const p of batch) this.observer?.queued(start - p.since);
    try {
      const rows = batch.reduce((a, p) => a + p.dims[0], 0);
      let data: TowerInput;
      let dims: number[];
      if (batch[0].data instanceof BigInt64Array) {
        const len = Math.max(...batch.map((p) => p.dims[1]));
        const ids = new BigInt64Array(rows * len);
        let r = 0;
        for (const p of batch) {
          for (let i = 0; i < p.dims[0]; i++)
            ids.set((p.data as BigInt64Array).subarray(i * p.dims[1], (i + 1) * p.dims[1]), (r + i) * len);
          r += p.dims[0];
        }
        data = ids;
        dims = [rows, len];
      } else {
        const per = batch[0].data.length / batch[0].dims[0];
        const px = new Float32Array(rows * per);
        let off = 0;
        for (const p of batch) {
          px.set(p.data as Float32Array, off);
          off += p.data.length;
        }
        data = px;
        dims = [rows, ...batch[0].dims.slice(1)];
      }
      const out = await this.tower.run(this.inputName, data, dims);
      this.observer?.executed(rows, performance.now() - start);
      let r = 0;
      for (const p of batch) {
        p.resolve(out.slice(r * this.outputDim, (r + p.dims[0]) * this.outputDim));
        r += p.dims[0];
      }
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }
}
