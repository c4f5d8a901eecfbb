/**
 * The int8 text tower in our kernels as a `Tower` of this isolate (`TEXT_ENGINE`, default `kernels`). A run is one synchronous
 * call (a batch of prompts takes tens of milliseconds), so it goes straight through, inside its batch's scheduler turn,
 * as the onnxruntime text segments do; nothing else can use the kernel instance meanwhile.
 */
import { TEXT_INPUT } from '../contracts/tensors.ts';
import type { Tower, TowerInput } from '../model/ports.ts';
import type { TextTowerRunner } from './text-tower-runner.ts';

export class KernelTextTower implements Tower {
  constructor(private readonly runner: TextTowerRunner) {}

  async run(inputName: string, data: TowerInput, dims: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    if (inputName !== TEXT_INPUT || !(data instanceof BigInt64Array) || dims.length !== 2)
      throw new Error('the kernel text tower takes int64 token ids [batch, sequence]');
    signal?.throwIfAborted();
    return this.runner.run(data, dims[0], dims[1]);
  }
}
