/** Builds one ONNX ModelProto node by node; large initializers go to external data as they are added. */
import type { DType, TensorSpec } from '../../src/contracts/tensors.ts';
import type { ExternalDataWriter } from './external-data.ts';
import { ATTR, IR_VERSION, ONNX_DTYPE, OPSET } from './onnx-types.ts';
import { ProtoWriter } from './protobuf.ts';

export type Attr = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string };
export type TypedData = Float32Array | Uint16Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

/** Initializers at least this large are stored externally; smaller ones stay inline in the graph. */
const EXTERNAL_MIN_BYTES = 1024;

const asBytes = (a: TypedData): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A graph input or output; a probe output (dims absent) declares no shape. */
type ValueSpec = Omit<TensorSpec, 'dims'> & { dims?: TensorSpec['dims'] };

function valueInfo(spec: ValueSpec): ProtoWriter {
  const tensorType = new ProtoWriter().int(1, ONNX_DTYPE[spec.dtype]);
  if (spec.dims) {
    const shape = new ProtoWriter();
    for (const d of spec.dims) {
      const dim = new ProtoWriter();
      if (typeof d === 'number') dim.int(1, d);
      else dim.string(2, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  return new ProtoWriter().string(1, spec.name).message(2, new ProtoWriter().message(1, tensorType));
}

export class GraphBuilder {
  private nodes: ProtoWriter[] = [];
  private initializers: ProtoWriter[] = [];
  readonly inputs: TensorSpec[] = [];
  readonly outputs: TensorSpec[] = [];
  /** Extra float32 outputs of any shape (intermediate values read by the int8 calibration). */
  private readonly probes: string[] = [];
  private counter = 0;
  private usesMicrosoftDomain = false;

  constructor(
    readonly name: string,
    private readonly weights: ExternalDataWriter,
  ) {}

  input(spec: TensorSpec): string {
    this.inputs.push(spec);
    return spec.name;
  }

  output(spec: TensorSpec, from: string): void {
    this.op('Identity', [from], {}, { outputs: [spec.name] });
    this.outputs.push(spec);
  }

  /** Exposes an intermediate float32 value as an extra output named `name`. */
  probe(name: string, from: string): void {
    this.op('Identity', [from], {}, { outputs: [name] });
    this.probes.push(name);
  }

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  /** Adds an initializer; returns its name. */
  init(name: string, dtype: DType, dims: number[], data: TypedData): string {
    const t = new ProtoWriter();
    for (const d of dims) t.int(1, d);
    t.int(2, ONNX_DTYPE[dtype]);
    t.string(8, name);
    const bytes = asBytes(data);
    if (bytes.length >= EXTERNAL_MIN_BYTES) {
      const ref = this.weights.write(bytes);
      for (const [k, v] of [
        ['location', ref.location],
        ['offset', String(ref.offset)],
        ['length', String(ref.length)],
      ]) {
        t.message(13, new ProtoWriter().string(1, k).string(2, v));
      }
      t.int(14, 1);
    } else {
      t.bytes(9, bytes.slice());
    }
    this.initializers.push(t);
    return name;
  }

  f32(name: string, dims: number[], data: Float32Array): string {
    return this.init(name, 'float32', dims, data);
  }

  /** A small constant; named after its values so identical constants are written once. */
  private constants = new Map<string, string>();
  i64(values: number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.init(this.fresh('const_i64'), 'int64', [values.length], BigInt64Array.from(values.map(BigInt)));
      this.constants.set(key, name);
    }
    return name;
  }
  scalar(value: number, dtype: 'float32' | 'int64' = 'float32'): string {
    const key = `${dtype}:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      const data = dtype === 'float32' ? Float32Array.of(value) : BigInt64Array.of(BigInt(value));
      name = this.init(this.fresh(`const_${dtype}`), dtype, [], data);
      this.constants.set(key, name);
    }
    return name;
  }

  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, Attr> = {},
    opts: { outputs?: string[] | number; domain?: string } = {},
  ): string[] {
    const outputs =
      typeof opts.outputs === 'object'
        ? opts.outputs
        : Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(opType.toLowerCase()));
    const n = new ProtoWriter();
    for (const i of inputs) n.string(1, i);
    for (const o of outputs) n.string(2, o);
    n.string(3, this.fresh(`n_${opType}`));
    n.string(4, opType);
    if (opts.domain) {
      n.string(7, opts.domain);
      if (opts.domain === 'com.microsoft') this.usesMicrosoftDomain = true;
    }
    for (const [name, a] of Object.entries(attrs)) {
      const w = new ProtoWriter().string(1, name);
      if ('i' in a) w.int(3, a.i).int(20, ATTR.INT);
      else if ('f' in a) w.float(2, a.f).int(20, ATTR.FLOAT);
      else if ('s' in a) w.string(4, a.s).int(20, ATTR.STRING);
      else if ('ints' in a) {
        for (const v of a.ints) w.int(8, v);
        w.int(20, ATTR.INTS);
      } else {
        for (const v of a.floats) w.float(7, v);
        w.int(20, ATTR.FLOATS);
      }
      n.message(5, w);
    }
    this.nodes.push(n);
    return outputs;
  }

  /** Single-output shorthand. */
  op1(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, domain?: string): string {
    return this.op(opType, inputs, attrs, domain ? { domain } : {})[0];
  }

  encode(metadata: Record<string, string> = {}): Uint8Array {
    const g = new ProtoWriter();
    for (const n of this.nodes) g.message(1, n);
    g.string(2, this.name);
    for (const t of this.initializers) g.message(5, t);
    for (const i of this.inputs) g.message(11, valueInfo(i));
    for (const o of this.outputs) g.message(12, valueInfo(o));
    for (const name of this.probes) g.message(12, valueInfo({ name, dtype: 'float32' }));
    const m = new ProtoWriter().int(1, IR_VERSION).string(2, 'edge-clip').string(3, '0.1.0');
    m.message(8, new ProtoWriter().string(1, '').int(2, OPSET));
    if (this.usesMicrosoftDomain) m.message(8, new ProtoWriter().string(1, 'com.microsoft').int(2, 1));
    m.message(7, g);
    for (const [k, v] of Object.entries(metadata)) m.message(14, new ProtoWriter().string(1, k).string(2, v));
    return m.finish();
  }
}
