/**
 * Measures a segment's memory the way a segment Worker spends it: onnxruntime-web (the wasm build the Worker ships) or
 * our kernels, one thread, the segment's files read as the Worker reads them, then batch runs at the largest shapes it will be sent.
 * Each measurement runs in a child process of its own, because wasm memory only grows: a fresh instance per segment.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nodeKernelModules } from '../../src/adapters/node/kernel-wasm.ts';
import { readManifest } from '../../src/adapters/node/local-model.ts';
import { diskReader, loadOrt } from '../../src/adapters/node/ort-runtimes.ts';
import { watchOrtInstance } from '../../src/adapters/wasm-memory.ts';
import { EdgeClipError } from '../../src/contracts/errors.ts';
import { encodeInferRequest, type V2Tensor } from '../../src/contracts/inference-protocol.ts';
import type { Segment, SegmentMemory, TowerName } from '../../src/contracts/manifest.ts';
import { CLIP_TOKENS } from '../../src/contracts/tensors.ts';
import { SegmentHost } from '../../src/model/segment-host.ts';

/** Rows per run that the gateway sends a text segment (SegmentedTower splits larger batches); images go one by one. */
export const SEGMENT_BATCH: Record<TowerName, number> = { image: 1, text: 4 };

export interface MeasureRequest {
  dir: string;
  tower: TowerName;
  segment: Segment;
  /** Size of the "sequence" dimension (the context length: the worst case). */
  sequence: number;
  runs?: number;
  /** What runs the segment (default onnxruntime-web, what the build cuts for; a segment Worker runs our kernels). */
  engine?: 'onnxruntime' | 'kernels';
}

const BIN = fileURLToPath(new URL('../../bin/edge-clip.js', import.meta.url));

/** Measures in a fresh child process (`edge-clip measure --child`, request on stdin, result on stdout). */
export function measureSegment(req: MeasureRequest): Promise<SegmentMemory> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'measure', '--child'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(
          new EdgeClipError('INTERNAL', `measuring ${req.tower} segment ${req.segment.index} failed: ${err.trim()}`),
        );
        return;
      }
      resolve(JSON.parse(out) as SegmentMemory);
    });
    child.stdin.end(JSON.stringify(req));
  });
}

/** Runs in the child: nothing else may have instantiated onnxruntime-web in this process. */
export async function measureInProcess(req: MeasureRequest): Promise<SegmentMemory> {
  const wasmMemoryBytes = watchOrtInstance(() => true);
  const { segment, tower } = req;
  // The segment Worker's own host: same loading, same binary bodies, same byte accounting.
  const host = new SegmentHost({
    ort: await loadOrt('web'),
    segment: async () => segment,
    read: diskReader(req.dir),
    tower,
    index: segment.index,
    wasmMemoryBytes,
    kernels:
      req.engine === 'kernels'
        ? { modules: await nodeKernelModules(), manifest: async () => readManifest(req.dir) }
        : undefined,
  });
  await host.load();
  const batch = SEGMENT_BATCH[tower];
  const inputs: V2Tensor[] = segment.inputs.map((spec) => {
    const shape = spec.dims.map((d) => (d === 'batch' ? batch : d === 'sequence' ? req.sequence : (d as number)));
    const n = shape.reduce((a, b) => a * b, 1);
    // Ids: ordinary tokens with the end-of-text id (the largest) last in each row, where text pooling looks for it.
    const data =
      spec.dtype === 'int64'
        ? BigInt64Array.from({ length: n }, (_, i) =>
            (i + 1) % shape[shape.length - 1] === 0 ? BigInt(CLIP_TOKENS.eotId) : 320n,
          )
        : Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    return { name: spec.name, datatype: spec.dtype === 'int64' ? 'INT64' : 'FP32', shape, data };
  });
  const { body, headerLength } = encodeInferRequest(
    inputs,
    segment.outputs.map((o) => o.name),
  );
  for (let r = 0; r < (req.runs ?? 3); r++) await host.run(body, headerLength ?? 0);
  const memory = host.memory(batch);
  await host.release();
  return memory;
}
