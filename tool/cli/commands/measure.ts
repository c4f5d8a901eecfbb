/** `edge-clip measure`: each segment's memory in onnxruntime-web or our kernels, as a segment Worker would spend it. */
import { text } from 'node:stream/consumers';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import {
  PRECISIONS,
  segmentLoadingBytes,
  segmentServingBytes,
  TOWERS,
  type TowerName,
} from '../../../src/contracts/manifest.ts';
import { type MeasureRequest, measureInProcess, measureSegment } from '../../converter/segment-memory.ts';
import { oneOf, parse, required, str } from '../args.ts';
import { commandSpec } from '../specs.ts';

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

export async function measure(argv: string[]) {
  const args = parse(argv, commandSpec('measure'));
  if (args.values.child) return measureInProcess(JSON.parse(await text(process.stdin)) as MeasureRequest);
  const dir = required(args, 'model');
  const precision = oneOf(args, 'precision', PRECISIONS, 'int8');
  const engine = oneOf(args, 'engine', ['onnxruntime', 'kernels'] as const, 'onnxruntime');
  const towers = str(args, 'tower') ? [oneOf(args, 'tower', TOWERS, 'image')] : [...TOWERS];
  const manifest = readManifest(dir);
  const rows: Record<string, unknown>[] = [];
  for (const tower of towers as TowerName[]) {
    const build = manifest.towers[tower][precision];
    if (!build) continue;
    for (const segment of build.segments) {
      const m = await measureSegment({ dir, tower, segment, sequence: manifest.tokenizer.contextLength, engine });
      const weights = segment.externalData.reduce((a, e) => a + e.bytes, 0);
      process.stderr.write(
        `${tower} ${segment.index}: weights ${mib(weights)} MiB, serving ${mib(segmentServingBytes(m))} MiB (wasm ${mib(m.wasmAfterRunBytes)} + JS ${mib(m.jsRequestBytes)}), loading ${mib(segmentLoadingBytes(m))} MiB (JS ${mib(m.jsLoadBytes)} + wasm ${mib(m.wasmAfterCreateBytes)})\n`,
      );
      rows.push({
        tower,
        index: segment.index,
        weightBytes: weights,
        servingBytes: segmentServingBytes(m),
        loadingBytes: segmentLoadingBytes(m),
        ...m,
      });
    }
  }
  return { model: manifest.modelId, precision, engine, segments: rows };
}
