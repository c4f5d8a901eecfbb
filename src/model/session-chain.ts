/**
 * A chain of onnxruntime sessions in this process: a whole tower (its segments in order) or the one segment a segment
 * Worker holds. Towers elsewhere (the GPU origin, segment Workers) are other `Tower`s.
 */
import { EdgeClipError } from '../contracts/errors.ts';
import type { InferenceSession, OrtModule, Tensor, Tower, TowerInput } from './ports.ts';
import type { Scheduler, WorkKind } from './scheduler.ts';
import { FairLock } from './waiting.ts';
import { yieldToOthers } from './yield-to-others.ts';

/** The onnxruntime tensor of float32 pixels or activations, or of int64 token ids. */
export function toTensor(ort: OrtModule, data: TowerInput, dims: readonly number[]): Tensor {
  return data instanceof Float32Array ? new ort.Tensor('float32', data, dims) : new ort.Tensor('int64', data, dims);
}

/**
 * What a chain does between its segments: take a turn of the isolate's scheduler for each segment as work of a kind,
 * let other ready work run (a macrotask), or go straight on (short runs, such as a text tower's: a macrotask costs
 * ~1 ms in Node, which 4 text segments would add to every prompt; with a scheduler a text batch holds its turn).
 */
export type BetweenSegments = { scheduler: Scheduler; kind: WorkKind } | 'yield' | 'none';

export class SessionChain implements Tower {
  /** One run at a time; waiters enter in arrival order (so images finish in the order they came). */
  private readonly lock = new FairLock();
  private released = false;

  constructor(
    private readonly ort: OrtModule,
    /** Read by the profiler benches (onnxruntime's endProfiling); freed only through `release()`. */
    readonly sessions: readonly InferenceSession[],
    private readonly between: BetweenSegments = 'yield',
  ) {}

  async run(inputName: string, data: TowerInput, dims: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    const outputs = await this.runTensors({ [inputName]: toTensor(this.ort, data, dims) }, signal);
    return Object.values(outputs)[0].data as Float32Array;
  }

  /**
   * Feeds the chain named tensors and returns the last session's outputs. One run at a time per chain (the isolate
   * has one wasm instance and runs them one after another anyway). A run whose signal aborts stops before its next
   * segment.
   */
  async runTensors(inputs: Record<string, Tensor>, signal?: AbortSignal): Promise<Record<string, Tensor>> {
    const unlock = await this.lock.acquire(signal);
    try {
      const turns = typeof this.between === 'object' ? this.between : undefined;
      const order = turns?.scheduler.newJob();
      // A run queued behind release() would otherwise reach freed sessions.
      if (this.released) throw new EdgeClipError('INFERENCE_FAILED', 'the tower was closed');
      let feeds = inputs;
      for (const [k, session] of this.sessions.entries()) {
        // A wasm run holds the isolate's only thread: let waiting requests in between segments.
        if (k > 0 && this.between === 'yield') await yieldToOthers();
        signal?.throwIfAborted();
        // A segment takes what the previous one produced, plus the chain's own inputs where it needs them (text
        // segments re-read the ids for the causal mask and the EOT position).
        const available: Record<string, Tensor> = { ...inputs, ...feeds };
        const missing = session.inputNames.filter((n) => !available[n]);
        if (missing.length > 0)
          throw new EdgeClipError(
            'INFERENCE_FAILED',
            `session ${k} needs ${missing.join(', ')}, which nothing provided`,
          );
        feeds = Object.fromEntries(session.inputNames.map((n) => [n, available[n]]));
        const segmentFeeds = feeds;
        const step = () => session.run(segmentFeeds) as Promise<Record<string, Tensor>>;
        try {
          feeds = turns ? await turns.scheduler.turn(turns.kind, step, { signal, order }) : await step();
        } catch (e) {
          if (e instanceof EdgeClipError) throw e;
          const shapes = Object.entries(feeds).map(([name, t]) => `${name}[${t.dims}]`);
          throw new EdgeClipError(
            'INFERENCE_FAILED',
            `inference failed on ${shapes.join(', ')}: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
      return feeds;
    } finally {
      unlock();
    }
  }

  /** Frees the sessions (after the runs in flight): the chain is not used again. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    // After the run in flight (and those queued, which find the chain released).
    (await this.lock.acquire())();
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}
