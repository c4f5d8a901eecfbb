/**
 * The initializers of the ONNX graphs our build writes, by name: dims, element type and bytes, from inline raw data or
 * from the external-data files the graph names. A reader for runners that take a build's own weights (the same
 * quantized values onnxruntime gets), not a general ONNX parser.
 */
import type { Segment } from '../contracts/manifest.ts';
import { limiter } from '../model/limiter.ts';
import { readSegmentFiles } from '../model/load-tower.ts';
import type { ReadFile } from '../model/ports.ts';

/** TensorProto data types the builds use. */
const DTYPES = { 1: 'float32', 3: 'int8', 7: 'int64', 10: 'float16' } as const;
type DType = (typeof DTYPES)[keyof typeof DTYPES];

export interface Initializer {
  dtype: DType;
  dims: number[];
  bytes: Uint8Array;
}

type Field = { field: number; wire: number; value: number | Uint8Array };

function* fields(b: Uint8Array): Generator<Field> {
  let p = 0;
  const varint = (): number => {
    let v = 0;
    let scale = 1;
    for (;;) {
      if (p >= b.length) throw new Error('truncated protobuf');
      const c = b[p++];
      v += (c & 127) * scale;
      scale *= 128;
      if (c < 128) return v;
    }
  };
  while (p < b.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 2) {
      const n = varint();
      if (p + n > b.length) throw new Error('truncated protobuf');
      yield { field, wire, value: b.subarray(p, p + n) };
      p += n;
    } else if (wire === 5) p += 4;
    else if (wire === 1) p += 8;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Reads every initializer of `model`; `external(location)` gives an external-data file's bytes. */
export function readInitializers(
  model: Uint8Array,
  external: (location: string) => Uint8Array,
  into = new Map<string, Initializer>(),
): Map<string, Initializer> {
  for (const m of fields(model)) {
    if (m.field !== 7 || !(m.value instanceof Uint8Array)) continue;
    for (const g of fields(m.value)) {
      if (g.field !== 5 || !(g.value instanceof Uint8Array)) continue;
      let name = '';
      let dtype = 0;
      const dims: number[] = [];
      let raw: Uint8Array | undefined;
      const ext = new Map<string, string>();
      for (const t of fields(g.value)) {
        // Our builds write dims unpacked, one varint each.
        if (t.field === 1 && typeof t.value === 'number') dims.push(t.value);
        else if (t.field === 2 && typeof t.value === 'number') dtype = t.value;
        else if (t.field === 8 && t.value instanceof Uint8Array) name = text(t.value);
        else if (t.field === 9 && t.value instanceof Uint8Array) raw = t.value;
        else if (t.field === 13 && t.value instanceof Uint8Array) {
          let key = '';
          let value = '';
          for (const e of fields(t.value)) {
            if (!(e.value instanceof Uint8Array)) continue;
            if (e.field === 1) key = text(e.value);
            else value = text(e.value);
          }
          ext.set(key, value);
        }
      }
      const type = DTYPES[dtype as keyof typeof DTYPES];
      if (!type) continue;
      const location = ext.get('location');
      const bytes = location
        ? external(location).subarray(
            Number(ext.get('offset') ?? 0),
            Number(ext.get('offset') ?? 0) + Number(ext.get('length')),
          )
        : raw;
      if (bytes) into.set(name, { dtype: type, dims, bytes });
    }
  }
  return into;
}

/**
 * A build lacks a weight the kernels read by name: one made before they named it (the fp32 channel indices got their
 * names with the kernels), so its onnxruntime sessions serve it.
 */
export class MissingInitializer extends Error {
  constructor(readonly initializer: string) {
    super(`the build has no initializer ${initializer}`);
  }
}

/**
 * Whether a kernel load failed because the build does not fit the kernels (a missing name, a shape or weight range
 * they do not take), so that the tower's onnxruntime sessions should serve it instead. The files are then read a
 * second time: builds made for the kernels never pay it.
 */
export function buildUnfitForKernels(e: unknown): boolean {
  return e instanceof MissingInitializer || e instanceof RangeError;
}

/** Typed copies of initializers (aligned: the bytes may sit anywhere in a file). */
export class Initializers {
  constructor(private readonly all: ReadonlyMap<string, Initializer>) {}

  has(name: string): boolean {
    return this.all.has(name);
  }

  private get(name: string, dtype: DType): Initializer {
    const t = this.known(name);
    if (t.dtype !== dtype) throw new Error(`${name} is ${t.dtype}, not ${dtype}`);
    return t;
  }

  dims(name: string): number[] {
    return this.known(name).dims;
  }

  private known(name: string): Initializer {
    const t = this.all.get(name);
    if (!t) throw new MissingInitializer(name);
    return t;
  }

  f32(name: string): Float32Array {
    return new Float32Array(this.get(name, 'float32').bytes.slice().buffer);
  }

  i8(name: string): Int8Array {
    return new Int8Array(this.get(name, 'int8').bytes.slice().buffer);
  }

  /** float16 values as their bits. */
  f16(name: string): Uint16Array {
    return new Uint16Array(this.get(name, 'float16').bytes.slice().buffer);
  }

  /** int64 values as numbers (indices). */
  indices(name: string): number[] {
    return Array.from(new BigInt64Array(this.get(name, 'int64').bytes.slice().buffer), Number);
  }
}

/** Every initializer of a tower's segments (graphs and external data read through `read`, sha256-verified). */
export async function towerInitializers(
  segments: readonly Segment[],
  read: ReadFile,
  options: { concurrency?: number } = {},
): Promise<Initializers> {
  // Every segment's files under one limit on reads in flight, as a session load reads them.
  const limit = limiter(options.concurrency ?? 4);
  const files = await Promise.all(segments.map((segment) => readSegmentFiles(segment, read, { limit })));
  const all = new Map<string, Initializer>();
  segments.forEach((segment, i) => {
    const { graph, externalData } = files[i];
    readInitializers(
      graph,
      (location) => {
        const file = externalData.find((e) => e.path === location);
        if (!file) throw new Error(`${segment.graph.file} names external data ${location}, which the manifest lacks`);
        return file.data;
      },
      all,
    );
  });
  return new Initializers(all);
}
