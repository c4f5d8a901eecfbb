import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../origin/dynamic-batcher.ts';
import type { Tower } from '../../src/model/ports.ts';

/** A tower that returns, for each row, the row's first value: enough to check routing and batch sizes. */
function recordingTower(dim: number) {
  const batches: number[] = [];
  const tower: Tower = {
    async run(_name, data, dims) {
      batches.push(dims[0]);
      const per = data.length / dims[0];
      const out = new Float32Array(dims[0] * dim);
      for (let r = 0; r < dims[0]; r++) out.fill(Number(data[r * per]), r * dim, (r + 1) * dim);
      return out;
    },
  };
  return { tower, batches };
}

describe('DynamicBatcher', () => {
  it('never runs a batch above maxBatch rows, and gives each caller its own rows', async () => {
    const { tower, batches } = recordingTower(2);
    const batcher = new DynamicBatcher(tower, 'x', 2, 8, 20);
    const requests = Array.from({ length: 5 }, (_, i) =>
      batcher.submit(
        Float32Array.from({ length: 3 * 4 }, (_, k) => i * 10 + Math.floor(k / 4)),
        [3, 4],
      ),
    );
    const results = await Promise.all(requests);
    expect(Math.max(...batches)).toBeLessThanOrEqual(8);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(15);
    results.forEach((rows, i) => {
      expect(Array.from(rows)).toEqual([i * 10, i * 10, i * 10 + 1, i * 10 + 1, i * 10 + 2, i * 10 + 2]);
    });
  });

  it('counts inferences in rows, as Triton does, and executions in batches', async () => {
    const { tower, batches } = recordingTower(1);
    const batcher = new DynamicBatcher(tower, 'x', 1, 16, 10);
    await Promise.all([batcher.submit(new Float32Array(10), [10, 1]), batcher.submit(new Float32Array(2), [2, 1])]);
    expect(batcher.stats.inferenceCount).toBe(12);
    expect(batcher.stats.executionCount).toBe(batches.length);
  });

  it('drops a request whose signal aborts while it waits: it never reaches the device', async () => {
    const { tower, batches } = recordingTower(1);
    const batcher = new DynamicBatcher(tower, 'x', 1, 8, 10_000);
    const left = new AbortController();
    const leaving = batcher.submit(new Float32Array(3), [3, 1], left.signal);
    const staying = batcher.submit(new Float32Array(4), [4, 1]);
    expect(batcher.queuedRows).toBe(7);
    left.abort(new Error('client left'));
    await expect(leaving).rejects.toThrow('client left');
    expect(batcher.queuedRows).toBe(4);
    // Enough rows to fill a batch run at once; the window would otherwise hold them for 10 s.
    const filling = batcher.submit(new Float32Array(4), [4, 1]);
    await Promise.all([staying, filling]);
    expect(batches).toEqual([8]);
    expect(batcher.stats).toEqual({ inferenceCount: 8, executionCount: 1, cancelledCount: 1 });
  });

  it('forms the next batch from everything that waited while the device was busy', async () => {
    const { tower, batches } = recordingTower(1);
    const batcher = new DynamicBatcher(tower, 'x', 1, 4, 1);
    await Promise.all(Array.from({ length: 9 }, () => batcher.submit(new Float32Array(1), [1, 1])));
    expect(batches).toEqual([4, 4, 1]);
  });

  it('runs a single request larger than maxBatch alone', async () => {
    const { tower, batches } = recordingTower(1);
    const batcher = new DynamicBatcher(tower, 'x', 1, 4, 10);
    await Promise.all([batcher.submit(new Float32Array(1), [1, 1]), batcher.submit(new Float32Array(6), [6, 1])]);
    expect(batches).toEqual([1, 6]);
  });
});
