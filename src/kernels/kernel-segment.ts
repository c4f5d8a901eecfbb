/**
 * One int8 build segment run in our kernels (a segment Worker's engine, `SEGMENT_ENGINE=kernels`): the segment's own
 * initializers packed into a kernel instance of its own, its declared inputs in, its declared output out, in the
 * layouts the onnxruntime segments use (NHWC image maps, padded [batch, sequence, width] text streams), so that
 * segments of either engine chain.
 */
import type { V2Tensor } from '../contracts/inference-protocol.ts';
import type { ModelManifest, Segment, TowerName } from '../contracts/manifest.ts';
import { TEXT_INPUT } from '../contracts/tensors.ts';
import type { ReadFile } from '../model/ports.ts';
import { ImageTowerRunner } from './image-tower-runner.ts';
import { type KernelModules, type Kernels, pickKernels } from './kernels.ts';
import { type Initializers, towerInitializers } from './onnx-initializers.ts';
import { TextTowerRunner, textHeads } from './text-tower-runner.ts';

export interface KernelSegment {
  run(inputs: readonly V2Tensor[]): V2Tensor[];
  /** Bytes of the kernel instance's wasm memory. */
  readonly wasmBytes: number;
}

export async function loadKernelSegment(
  modules: KernelModules,
  segment: Segment,
  tower: TowerName,
  read: ReadFile,
  manifest: ModelManifest,
): Promise<KernelSegment> {
  const [{ kernels }, weights] = await Promise.all([pickKernels(modules), towerInitializers([segment], read)]);
  const output = segment.outputs[0];
  const run =
    tower === 'image'
      ? imageSegment(kernels, weights, manifest, output.name)
      : textSegment(kernels, weights, manifest, output.name);
  return {
    run,
    get wasmBytes() {
      return kernels.memoryBytes;
    },
  };
}

function imageSegment(kernels: Kernels, weights: Initializers, manifest: ModelManifest, name: string) {
  const runner = ImageTowerRunner.load(kernels, weights, manifest.preprocess.size);
  return (inputs: readonly V2Tensor[]): V2Tensor[] => {
    const input = inputs[0];
    if (!(input.data instanceof Float32Array)) throw new Error('an image segment takes float32');
    const [batch, ...rest] = input.shape;
    // A hidden map is NHWC [batch, h, h, c]; pixels are [batch, 3, S, S].
    const hidden = runner.takesPixels ? undefined : { h: rest[0], c: rest[2] };
    const per = rest.reduce((a, b) => a * b, 1);
    let out = new Float32Array(0);
    for (let b = 0; b < batch; b++) {
      const row = runner.run(input.data.subarray(b * per, (b + 1) * per), hidden);
      if (b === 0) out = new Float32Array(batch * row.length);
      out.set(row, b * row.length);
    }
    // The embedding [batch, dim], or the NHWC map after the segment's last unit.
    const map = runner.outputMap(hidden);
    const shape = runner.givesEmbedding ? [batch, out.length / batch] : [batch, map.h, map.h, map.c];
    return [{ name, datatype: 'FP32', shape, data: out }];
  };
}

function textSegment(kernels: Kernels, weights: Initializers, manifest: ModelManifest, name: string) {
  const runner = TextTowerRunner.load(kernels, weights, textHeads(manifest));
  return (inputs: readonly V2Tensor[]): V2Tensor[] => {
    const ids = inputs.find((t) => t.name === TEXT_INPUT);
    if (!(ids?.data instanceof BigInt64Array)) throw new Error('a text segment takes int64 input_ids');
    const [batch, sequence] = ids.shape;
    const hidden = inputs.find((t) => t.name !== TEXT_INPUT)?.data;
    if (hidden !== undefined && !(hidden instanceof Float32Array)) throw new Error('the hidden stream is float32');
    const out = runner.run(ids.data, batch, sequence, hidden);
    const shape = runner.givesEmbedding ? [batch, runner.outputWidth] : [batch, sequence, runner.outputWidth];
    return [{ name, datatype: 'FP32', shape, data: out }];
  };
}
