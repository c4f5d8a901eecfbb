/** A lazily-read checkpoint: tensor names, dtypes and shapes up front, data read from disk one tensor at a time. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { EdgeClipError } from '../../src/contracts/errors.ts';
import { fromHalf } from '../../src/contracts/half-float.ts';

export type StoredDType = 'F32' | 'F16' | 'BF16';
export const DTYPE_BYTES: Record<StoredDType, number> = { F32: 4, F16: 2, BF16: 2 };

export interface TensorEntry {
  name: string;
  dtype: StoredDType;
  shape: number[];
  /** Absolute byte offset of element 0 in the file. */
  offset: number;
  /** Element strides; contiguous row-major when omitted. */
  strides?: number[];
}

export interface Checkpoint {
  file: string;
  format: 'safetensors' | 'pytorch';
  entries: Map<string, TensorEntry>;
  /** The tensor converted to float32, contiguous row-major. */
  read(name: string): Float32Array;
  close(): void;
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function badCheckpoint(file: string, problem: string, cause?: unknown): EdgeClipError {
  return new EdgeClipError('BAD_CHECKPOINT', `${file}: ${problem}`, { cause });
}

/** Positional reads of a file with bounds checks that name the file when it is too short. */
export class FileReader {
  readonly fd: number;
  readonly size: number;
  constructor(readonly file: string) {
    try {
      this.fd = openSync(file, 'r');
    } catch (e) {
      throw badCheckpoint(file, `cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`, e);
    }
    this.size = fstatSync(this.fd).size;
  }
  read(offset: number, length: number): Buffer {
    if (offset < 0 || offset + length > this.size) {
      throw badCheckpoint(
        this.file,
        `truncated: needs bytes ${offset}..${offset + length} but the file has ${this.size}`,
      );
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw badCheckpoint(this.file, `unexpected end of file at byte ${offset + done}`);
      done += n;
    }
    return buf;
  }
  close(): void {
    closeSync(this.fd);
  }
}

function toFloat32(raw: Buffer, dtype: StoredDType, count: number): Float32Array {
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(raw.subarray(0, count * 4));
    return out;
  }
  const u32 = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) {
    const h = raw.readUInt16LE(i * 2);
    if (dtype === 'BF16') u32[i] = h << 16;
    else out[i] = fromHalf(h);
  }
  return out;
}

/** Reads one entry as contiguous float32, gathering through strides when the stored view is not contiguous. */
export function readEntry(reader: FileReader, e: TensorEntry): Float32Array {
  const count = numel(e.shape);
  const width = DTYPE_BYTES[e.dtype];
  const contiguous = contiguousStrides(e.shape);
  if (!e.strides || e.strides.every((s, i) => s === contiguous[i] || e.shape[i] === 1)) {
    return toFloat32(reader.read(e.offset, count * width), e.dtype, count);
  }
  let span = 1;
  for (let i = 0; i < e.shape.length; i++) span += (e.shape[i] - 1) * e.strides[i];
  const all = toFloat32(reader.read(e.offset, span * width), e.dtype, span);
  const out = new Float32Array(count);
  const idx = new Array<number>(e.shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let src = 0;
    for (let d = 0; d < idx.length; d++) src += idx[d] * e.strides[d];
    out[i] = all[src];
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < e.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/**
 * Opens `file`, indexes it with `index` and returns a Checkpoint that reads tensors on demand; the file is closed
 * again if indexing fails.
 */
export function lazyCheckpoint(
  file: string,
  format: Checkpoint['format'],
  index: (reader: FileReader) => Map<string, TensorEntry>,
): Checkpoint {
  const reader = new FileReader(file);
  let entries: Map<string, TensorEntry>;
  try {
    entries = index(reader);
  } catch (e) {
    reader.close();
    throw e;
  }
  return {
    file,
    format,
    entries,
    read(name) {
      const e = entries.get(name);
      if (!e) throw badCheckpoint(file, `no tensor named ${name}`);
      return readEntry(reader, e);
    },
    close: () => reader.close(),
  };
}
