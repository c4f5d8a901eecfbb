/**
 * The int8 image tower in our kernels as a `Tower` of this isolate (`IMAGE_ENGINE`, default `kernels`): images run one at a
 * time (the runner's kernel memory is one bump allocator), each in as many steps as the build has image segments, so
 * that the scheduler accounts for it as for the onnxruntime segments it replaces.
 */

import type { Segment } from '../contracts/manifest.ts';
import { IMAGE_INPUT } from '../contracts/tensors.ts';
import type { Tower, TowerInput } from '../model/ports.ts';
import type { BetweenSegments } from '../model/session-chain.ts';
import { FairLock } from '../model/waiting.ts';
import { yieldToOthers } from '../model/yield-to-others.ts';
import type { ImageTowerRunner } from './image-tower-runner.ts';

/** Where the build cut the tower: the unit each segment after the first starts at (its `hidden_<unit>` input). */
export function segmentCuts(segments: readonly Segment[]): number[] {
  return segments.slice(1).map((s) => {
    const unit = Number(/^hidden_(\d+)$/.exec(s.inputs[0]?.name ?? '')?.[1]);
    if (!Number.isInteger(unit)) throw new Error(`image segment ${s.index} does not start at a unit boundary`);
    return unit;
  });
}

export class KernelImageTower implements Tower {
  private readonly lock = new FairLock();
  private released = false;

  constructor(
    private readonly runner: ImageTowerRunner,
    private readonly cuts: readonly number[],
    private readonly between: BetweenSegments,
  ) {}

  async run(inputName: string, data: TowerInput, dims: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    if (inputName !== IMAGE_INPUT || !(data instanceof Float32Array))
      throw new Error('the kernel image tower takes float32 pixels');
    const per = dims.slice(1).reduce((a, b) => a * b, 1);
    const unlock = await this.lock.acquire(signal);
    try {
      const rows: Float32Array[] = [];
      for (let b = 0; b < dims[0]; b++) rows.push(await this.image(data.subarray(b * per, (b + 1) * per), signal));
      const out = new Float32Array(rows.reduce((a, r) => a + r.length, 0));
      for (const [b, r] of rows.entries()) out.set(r, b * r.length);
      return out;
    } finally {
      unlock();
    }
  }

  private async image(pixels: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
    if (this.released) throw new Error('the tower was closed');
    const steps = this.runner.steps(pixels, this.cuts);
    const turns = typeof this.between === 'object' ? this.between : undefined;
    const order = turns?.scheduler.newJob();
    try {
      for (let k = 0; ; k++) {
        if (k > 0 && this.between === 'yield') await yieldToOthers();
        signal?.throwIfAborted();
        const step = async () => steps.next();
        const r = turns ? await turns.scheduler.turn(turns.kind, step, { signal, order }) : await step();
        if (r.done) return r.value;
      }
    } finally {
      // An abandoned run gives its kernel memory back.
      steps.return(new Float32Array());
    }
  }

  async release(): Promise<void> {
    this.released = true;
    (await this.lock.acquire())();
  }
}
