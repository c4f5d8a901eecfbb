/** Runs a tower (a chain of segment sessions) on one input tensor, one request at a time. */
import { EdgeClipError } from '../shared/errors.ts';
import type { InferenceSession, OrtModule, Tensor } from './ort-types.ts';

export class TowerRunner {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ort: OrtModule,
    readonly sessions: InferenceSession[],
  ) {}

  /** Feeds `input` to the first segment, each segment's outputs to the next; returns the last output's data. */
  run(inputName: string, input: Tensor): Promise<Float32Array> {
    const job = this.queue.then(async () => {
      let feeds: Record<string, Tensor> = { [inputName]: input };
      for (const session of this.sessions) {
        try {
          feeds = (await session.run(feeds)) as Record<string, Tensor>;
        } catch (e) {
          const dims = Object.entries(feeds).map(([k, t]) => `${k}[${t.dims}]`);
          throw new EdgeClipError(
            'INFERENCE_FAILED',
            `inference failed on ${dims.join(', ')}: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
      const out = Object.values(feeds)[0];
      return out.data as Float32Array;
    });
    this.queue = job.catch(() => undefined);
    return job;
  }

  get Tensor(): OrtModule['Tensor'] {
    return this.ort.Tensor;
  }
}
