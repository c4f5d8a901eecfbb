/**
 * One segment of one tower hosted in this isolate (a segment Worker): loads on first use, runs binary Open Inference
 * Protocol bodies, and counts the memory it spends. The build measures a segment by running this same class in Node
 * (tool/converter/segment-memory.ts).
 */
import { EdgeClipError } from '../contracts/errors.ts';
import {
  decodeInferRequest,
  encodeInferResponse,
  type SegmentBody,
  type V2Tensor,
} from '../contracts/inference-protocol.ts';
import {
  type ModelManifest,
  type Precision,
  type Segment,
  type SegmentMemory,
  segmentLoadingBytes,
  segmentServingBytes,
  type TowerName,
} from '../contracts/manifest.ts';
import { type KernelSegment, loadKernelSegment } from '../kernels/kernel-segment.ts';
import type { KernelModules } from '../kernels/kernels.ts';
import { buildUnfitForKernels } from '../kernels/onnx-initializers.ts';
import { loadSegmentSession } from './load-tower.ts';
import type { OrtModule, ReadFile } from './ports.ts';
import { SessionChain, toTensor } from './session-chain.ts';
import { SingleFlight } from './single-flight.ts';

export interface SegmentHostDeps {
  ort: OrtModule;
  /** This segment's entry in the manifest (undefined: the build has no such segment). */
  segment: () => Promise<Segment | undefined>;
  read: ReadFile;
  tower: TowerName;
  index: number;
  precision?: Precision;
  /** Bytes of the inference runtime's wasm memory. */
  wasmMemoryBytes?: () => number;
  /** Our kernels: given, an int8 segment runs in them instead of an onnxruntime-web session (`SEGMENT_ENGINE`). */
  kernels?: { modules: KernelModules; manifest: () => Promise<ModelManifest> };
}

/** What runs the segment: an onnxruntime-web session, or our kernels. */
interface SegmentRunner {
  run(inputs: V2Tensor[]): Promise<V2Tensor[]>;
  release(): Promise<void>;
  wasmBytes(): number;
}

function sessionRunner(ort: OrtModule, chain: SessionChain, wasmBytes: () => number): SegmentRunner {
  return {
    async run(inputs) {
      const results = await chain.runTensors(
        Object.fromEntries(inputs.map((t) => [t.name, toTensor(ort, t.data, t.shape)])),
      );
      return Object.entries(results).map(([name, t]) => ({
        name,
        datatype: 'FP32',
        shape: [...t.dims],
        data: t.data as Float32Array,
      }));
    },
    release: () => chain.release(),
    wasmBytes,
  };
}

function kernelRunner(segment: KernelSegment): SegmentRunner {
  return {
    run: async (inputs) => segment.run(inputs),
    release: async () => undefined,
    wasmBytes: () => segment.wasmBytes,
  };
}

/** Rows one run may carry: more than the gateway ever sends (MAX_INPUTS), bounded so no caller sizes ORT's memory. */
export const MAX_SEGMENT_ROWS = 64;

const V2_TYPE = { float32: 'FP32', int64: 'INT64' } as const;

/**
 * Only what the gateway sends: exactly the segment's declared inputs, of their type and rank, fixed dims as declared,
 * symbolic ones at least 1 and the batch at most MAX_SEGMENT_ROWS.
 */
function checkInputs(seg: Segment, inputs: V2Tensor[]): void {
  const bad = (m: string) => new EdgeClipError('INVALID_INPUT', `segment ${seg.index}: ${m}`);
  const names = seg.inputs.map((s) => s.name);
  if (inputs.length !== names.length || !inputs.every((t) => names.includes(t.name)))
    throw bad(`takes ${names.join(', ')}, got ${inputs.map((t) => t.name).join(', ') || 'nothing'}`);
  for (const t of inputs) {
    const spec = seg.inputs.find((s) => s.name === t.name)!;
    if (t.datatype !== V2_TYPE[spec.dtype as keyof typeof V2_TYPE]) throw bad(`${t.name} must be ${spec.dtype}`);
    const fits =
      t.shape.length === spec.dims.length &&
      spec.dims.every((d, i) => (typeof d === 'number' ? t.shape[i] === d : t.shape[i] >= 1));
    if (!fits) throw bad(`${t.name} of shape [${t.shape}] does not fit [${spec.dims}]`);
    if (t.shape[0] > MAX_SEGMENT_ROWS)
      throw new EdgeClipError('PAYLOAD_TOO_LARGE', `segment ${seg.index}: at most ${MAX_SEGMENT_ROWS} rows a run`);
  }
}

export class SegmentHost {
  private readonly runners = new SingleFlight<SegmentRunner>();
  private wasm: () => number;
  /** What runs the segment: the configured engine until a load says otherwise (a build older than the kernels). */
  private engine: 'kernels' | 'onnxruntime';
  // Live counterparts of the build's SegmentMemory: what this isolate held while loading and per request.
  private readonly usage = { jsLoadBytes: 0, wasmAfterCreateBytes: 0, jsRequestBytes: 0 };

  constructor(private readonly deps: SegmentHostDeps) {
    this.wasm = deps.wasmMemoryBytes ?? (() => 0);
    this.engine = deps.kernels && (deps.precision ?? 'int8') === 'int8' ? 'kernels' : 'onnxruntime';
  }

  private async segment(): Promise<Segment> {
    const seg = await this.deps.segment();
    if (!seg) throw new EdgeClipError('NOT_FOUND', `the ${this.deps.tower} tower has no segment ${this.deps.index}`);
    return seg;
  }

  private runner(): Promise<SegmentRunner> {
    return this.runners.get('segment', async () => {
      const { deps } = this;
      const seg = await this.segment();
      let runner: SegmentRunner | undefined;
      if (deps.kernels && this.engine === 'kernels') {
        const manifest = await deps.kernels.manifest();
        runner = await loadKernelSegment(deps.kernels.modules, seg, deps.tower, deps.read, manifest).then(
          kernelRunner,
          // A build the kernels cannot run (older than their names): the segment's session serves it.
          (e: unknown) => {
            if (buildUnfitForKernels(e)) return undefined;
            throw e;
          },
        );
      }
      if (!runner) {
        this.engine = 'onnxruntime';
        const session = await loadSegmentSession(deps.ort, seg, deps.read);
        runner = sessionRunner(deps.ort, new SessionChain(deps.ort, [session]), this.wasm);
      }
      this.wasm = runner.wasmBytes;
      this.usage.jsLoadBytes = seg.graph.bytes + seg.externalData.reduce((a, e) => a + e.bytes, 0);
      this.usage.wasmAfterCreateBytes = this.wasm();
      return runner;
    });
  }

  async load(): Promise<void> {
    await this.runner();
  }

  async release(): Promise<void> {
    if (this.runners.has('segment')) await (await this.runner()).release();
  }

  async run(bodyIn: Uint8Array, headerLength: number | string | null): Promise<SegmentBody> {
    const { deps } = this;
    const req = decodeInferRequest(bodyIn, headerLength === null ? null : String(headerLength));
    checkInputs(await this.segment(), req.inputs);
    const outputs = await (await this.runner()).run(req.inputs);
    const out = encodeInferResponse(`${deps.tower}_${deps.index}`, outputs, true);
    const outBytes = outputs.reduce((a, o) => a + o.data.byteLength, 0);
    this.usage.jsRequestBytes = Math.max(this.usage.jsRequestBytes, bodyIn.length + outBytes + out.body.length);
    return { body: out.body, headerLength: out.headerLength ?? 0 };
  }

  /** What this isolate has spent so far, in the build's terms (`batch`: rows per request it was sent). */
  memory(batch: number): SegmentMemory {
    return { ...this.usage, wasmAfterRunBytes: this.wasm(), batch };
  }

  async stats(): Promise<Record<string, unknown>> {
    const { deps } = this;
    const seg = await this.segment().catch(() => undefined);
    const live = this.memory(seg?.memory?.batch ?? 0);
    return {
      tower: deps.tower,
      index: deps.index,
      precision: deps.precision,
      engine: this.engine,
      loaded: this.runners.has('segment'),
      weight_bytes: seg?.externalData.reduce((a, e) => a + e.bytes, 0),
      wasm_bytes: live.wasmAfterRunBytes,
      js_load_bytes: live.jsLoadBytes,
      wasm_after_create_bytes: live.wasmAfterCreateBytes,
      js_request_bytes: live.jsRequestBytes,
      // wasm + JS buffers while serving and while loading; the build's measurements for comparison.
      serving_bytes: segmentServingBytes(live),
      loading_bytes: segmentLoadingBytes(live),
      measured_serving_bytes: seg?.memory ? segmentServingBytes(seg.memory) : null,
      measured_loading_bytes: seg?.memory ? segmentLoadingBytes(seg.memory) : null,
    };
  }
}
