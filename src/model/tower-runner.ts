/** Runs a tower: locally (a chain of onnxruntime segment sessions) or remotely (the GPU origin), same interface. */
import { EdgeClipError } from '../contracts/errors.ts';
import type { InferenceSession, OrtModule, Tensor } from './ort-types.ts';
import { yieldToOthers } from './yield-to-others.ts';

export type TowerInput = Float32Array | BigInt64Array;

export interface TowerExecutor {
  /** Runs the tower on one input (float32 pixels or int64 ids) and returns its only output's data. */
  run(inputName: string, data: TowerInput, dims: readonly number[]): Promise<Float32Array>;
}

export class TowerRunner implements TowerExecutor {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ort: OrtModule,
    readonly sessions: InferenceSession[],
  ) {}

  /** One request at a time per session chain (the isolate runs them one after another anyway). */
  run(inputName: string, data: TowerInput, dims: readonly number[]): Promise<Float32Array> {
    const job = this.queue.then(async () => {
      const input =
        data instanceof Float32Array
          ? new this.ort.Tensor('float32', data, dims)
          : new this.ort.Tensor('int64', data, dims);
      const original: Record<string, Tensor> = { [inputName]: input };
      let feeds: Record<string, Tensor> = original;
      for (const [k, session] of this.sessions.entries()) {
        // A wasm run holds the isolate's only thread: let waiting requests in between segments.
        if (k > 0) await yieldToOthers();
        // A segment takes what the previous one produced, plus the tower's own input where it needs it (text
        // segments re-read the ids for the causal mask and the EOT position).
        const available: Record<string, Tensor> = { ...original, ...feeds };
        feeds = Object.fromEntries(session.inputNames.map((n) => [n, available[n]]));
        try {
          feeds = (await session.run(feeds)) as Record<string, Tensor>;
        } catch (e) {
          const shapes = Object.entries(feeds).map(([k, t]) => `${k}[${t.dims}]`);
          throw new EdgeClipError(
            'INFERENCE_FAILED',
            `inference failed on ${shapes.join(', ')}: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
      return Object.values(feeds)[0].data as Float32Array;
    });
    this.queue = job.catch(() => undefined);
    return job;
  }
}
