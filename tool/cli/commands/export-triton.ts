/** `edge-clip export-triton`: the fp32 towers as an NVIDIA Triton model repository, named as the worker's client expects. */
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { readBuildFile, readManifest } from '../../../src/adapters/node/local-model.ts';
import { originModelName } from '../../../src/adapters/origin/origin-client.ts';
import { TOWERS, type TowerName } from '../../../src/contracts/manifest.ts';
import type { TensorSpec } from '../../../src/contracts/tensors.ts';
import { intFlag, parse, required, str, UsageError } from '../args.ts';
import { commandSpec } from '../specs.ts';

const TRITON_TYPE: Record<string, string> = { float32: 'TYPE_FP32', int64: 'TYPE_INT64' };

/** Triton dims exclude the batch axis (max_batch_size > 0); symbolic sizes become -1. */
const tritonDims = (spec: TensorSpec) => spec.dims.slice(1).map((d) => (typeof d === 'number' ? d : -1));

export function tritonConfig(
  name: string,
  input: TensorSpec,
  output: TensorSpec,
  maxBatch: number,
  delayUs: number,
): string {
  const tensor = (t: TensorSpec) =>
    `  {\n    name: "${t.name}"\n    data_type: ${TRITON_TYPE[t.dtype]}\n    dims: [ ${tritonDims(t).join(', ')} ]\n  }`;
  return [
    `name: "${name}"`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${maxBatch}`,
    `input [\n${tensor(input)}\n]`,
    `output [\n${tensor(output)}\n]`,
    `dynamic_batching {\n  max_queue_delay_microseconds: ${delayUs}\n}`,
    'instance_group [\n  {\n    kind: KIND_AUTO\n    count: 1\n  }\n]',
    '',
  ].join('\n');
}

export async function exportTriton(argv: string[]) {
  const args = parse(argv, commandSpec('export-triton'));
  const dir = required(args, 'model');
  const out = resolve(required(args, 'out'));
  const prefix = str(args, 'prefix') ?? 'edgeclip';
  const maxBatch = intFlag(args, 'max-batch', 1, 4096, 16);
  const delayUs = intFlag(args, 'queue-delay-us', 0, 10_000_000, 2000);
  const manifest = readManifest(dir);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const models: { name: string; tower: TowerName; files: string[] }[] = [];
  try {
    for (const tower of TOWERS) {
      const build = manifest.towers[tower].fp32;
      if (!build) throw new UsageError(`${dir} has no fp32 ${tower} tower (build with --precisions fp32,...)`);
      if (build.segments.length !== 1)
        throw new UsageError(`the ${tower} tower is segmented; export an unsegmented build`);
      const seg = build.segments[0];
      const name = originModelName(prefix, tower);
      const version = join(tmp, name, '1');
      mkdirSync(version, { recursive: true });
      writeFileSync(join(version, 'model.onnx'), readBuildFile(dir, seg.graph));
      // External data keeps its `location` names: Triton's onnxruntime backend resolves them next to model.onnx.
      for (const ext of seg.externalData) {
        const target = createWriteStream(join(version, ext.location));
        for (const shard of ext.shards) target.write(readBuildFile(dir, shard));
        await new Promise<void>((r, j) => target.end((e?: Error | null) => (e ? j(e) : r())));
      }
      writeFileSync(
        join(tmp, name, 'config.pbtxt'),
        tritonConfig(name, seg.inputs[0], seg.outputs[seg.outputs.length - 1], maxBatch, delayUs),
      );
      models.push({ name, tower, files: ['model.onnx', ...seg.externalData.map((e) => e.location)] });
    }
    if (existsSync(out)) rmSync(out, { recursive: true });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { out, models, run: `tritonserver --model-repository=${out}`, origin_model_prefix: prefix };
}
