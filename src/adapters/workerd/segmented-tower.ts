/**
 * The gateway side of a segmented tower: each segment runs in its own Worker, reached through a service binding;
 * activations travel as binary tensors (the Open Inference Protocol body: JSON header + raw little-endian data).
 */
import { EdgeClipError } from '../../contracts/errors.ts';
import {
  decodeInferResponse,
  encodeInferRequest,
  type SegmentBody,
  type V2Tensor,
} from '../../contracts/inference-protocol.ts';
import type { ModelManifest, Precision, TowerBuild, TowerName } from '../../contracts/manifest.ts';
import type { Tower, TowerInput } from '../../model/ports.ts';

/** A segment Worker as the gateway sees it: a service binding to its entrypoint (or a test double of one). */
export interface SegmentEndpoint {
  /** One Open Inference Protocol binary body in, one out. */
  run(body: Uint8Array, headerLength: number): Promise<SegmentBody>;
  /** The segment Worker's own report: weights, whether loaded, wasm memory. */
  stats(): Promise<Record<string, unknown>>;
  /** Loads the segment's session now. */
  load(): Promise<void>;
}

/** Binding names by convention: SEG_IMAGE_0, SEG_IMAGE_1, …, SEG_TEXT_0, … */
export const segmentBinding = (tower: TowerName, index: number): string => `SEG_${tower.toUpperCase()}_${index}`;

/** The binding of that name when it is one (an RPC stub answers every method name), else undefined. */
export function segmentEndpoint(bindings: object, name: string): SegmentEndpoint | undefined {
  const binding: unknown = Reflect.get(bindings, name);
  const callable = (key: string) => typeof Reflect.get(binding as object, key) === 'function';
  return (typeof binding === 'object' || typeof binding === 'function') && binding !== null && callable('run')
    ? (binding as SegmentEndpoint)
    : undefined;
}

const toV2 = (name: string, data: TowerInput, dims: readonly number[]): V2Tensor => ({
  name,
  datatype: data instanceof Float32Array ? 'FP32' : 'INT64',
  shape: [...dims],
  data,
});

export class SegmentedTower implements Tower {
  constructor(
    private readonly manifest: () => Promise<ModelManifest>,
    private readonly tower: TowerName,
    private readonly precision: Precision,
    private readonly endpoint: (tower: TowerName, index: number) => SegmentEndpoint | undefined,
  ) {}

  private warming: Promise<void> | undefined;

  /**
   * Asks every segment to load at once: a cold chain then costs the slowest segment's load, not the sum. Failures are
   * left to the run itself, which names the segment.
   */
  private async warmUp(build: TowerBuild): Promise<void> {
    await Promise.allSettled(build.segments.map((seg) => this.endpoint(this.tower, seg.index)?.load()));
  }

  /** Each segment Worker's own report (weights, whether loaded, wasm memory); errors per segment. */
  async stats(): Promise<Record<string, unknown>[]> {
    const build = (await this.manifest()).towers[this.tower][this.precision];
    return Promise.all(
      (build?.segments ?? []).map(async (seg) => {
        try {
          const endpoint = this.endpoint(this.tower, seg.index);
          if (!endpoint) return { tower: this.tower, index: seg.index, error: 'no service binding' };
          return await endpoint.stats();
        } catch (e) {
          return { tower: this.tower, index: seg.index, error: (e as Error).message };
        }
      }),
    );
  }

  async run(inputName: string, data: TowerInput, dims: readonly number[]): Promise<Float32Array> {
    const build = (await this.manifest()).towers[this.tower][this.precision];
    if (!build) throw new EdgeClipError('NOT_FOUND', `no ${this.precision} ${this.tower} tower`);
    this.warming ??= this.warmUp(build);
    // A segment's memory was measured at `memory.batch` rows: larger batches go through in slices of that many.
    const maxRows = Math.min(...build.segments.map((seg) => seg.memory?.batch || Number.POSITIVE_INFINITY));
    if (dims[0] <= maxRows) return this.runSlice(build, inputName, data, dims);
    const rowSize = data.length / dims[0];
    let out: Float32Array | undefined;
    for (let r = 0; r < dims[0]; r += maxRows) {
      const rows = Math.min(maxRows, dims[0] - r);
      const slice = data.subarray(r * rowSize, (r + rows) * rowSize) as TowerInput;
      const part = await this.runSlice(build, inputName, slice, [rows, ...dims.slice(1)]);
      const width = part.length / rows;
      out ??= new Float32Array(dims[0] * width);
      out.set(part, r * width);
    }
    return out as Float32Array;
  }

  private async runSlice(
    build: TowerBuild,
    inputName: string,
    data: TowerInput,
    dims: readonly number[],
  ): Promise<Float32Array> {
    const original = toV2(inputName, data, dims);
    let available = new Map<string, V2Tensor>([[inputName, original]]);
    for (const seg of build.segments) {
      const where = `segment ${this.tower}/${seg.index}`;
      const endpoint = this.endpoint(this.tower, seg.index);
      if (!endpoint)
        throw new EdgeClipError('INTERNAL', `${where} has no service binding ${segmentBinding(this.tower, seg.index)}`);
      const inputs = seg.inputs.map((spec) => {
        const t = available.get(spec.name);
        if (!t) throw new EdgeClipError('INTERNAL', `${where} needs ${spec.name}, which no earlier segment produced`);
        return t;
      });
      const { body, headerLength } = encodeInferRequest(
        inputs,
        seg.outputs.map((o) => o.name),
      );
      let res: SegmentBody;
      try {
        res = await endpoint.run(body, headerLength ?? 0);
      } catch (e) {
        // RPC hands back the segment's own error message, or the runtime's when the Worker is unreachable.
        throw new EdgeClipError('SEGMENT_UNAVAILABLE', `${where} failed: ${(e as Error).message}`, {
          cause: e,
          retryAfter: 5,
        });
      }
      const outputs = decodeInferResponse(res.body, String(res.headerLength)).outputs;
      available = new Map([[inputName, original], ...outputs.map((t) => [t.name, t] as const)]);
    }
    const last = build.segments[build.segments.length - 1].outputs[0].name;
    const out = available.get(last);
    if (!out || !(out.data instanceof Float32Array))
      throw new EdgeClipError('INTERNAL', `the last ${this.tower} segment did not return ${last}`);
    return out.data;
  }
}
