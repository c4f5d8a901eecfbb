/** safetensors reader: 8-byte header length, JSON header, raw little-endian tensor data. */
import { isEdgeClipError } from '../../src/contracts/errors.ts';
import {
  badCheckpoint,
  type Checkpoint,
  DTYPE_BYTES,
  lazyCheckpoint,
  numel,
  type StoredDType,
  type TensorEntry,
} from './checkpoint.ts';

const MAX_HEADER = 100 * 1024 * 1024;

export function openSafetensors(file: string): Checkpoint {
  return lazyCheckpoint(file, 'safetensors', (reader) => {
    const len = Number(reader.read(0, 8).readBigUInt64LE(0));
    if (len <= 1 || len > MAX_HEADER) throw badCheckpoint(file, `not a safetensors file (header length ${len})`);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(reader.read(8, len).toString('utf8'));
    } catch (e) {
      if (isEdgeClipError(e)) throw e;
      throw badCheckpoint(file, 'safetensors header is not valid JSON', e);
    }
    const base = 8 + len;
    const entries = new Map<string, TensorEntry>();
    for (const [name, value] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const v = value as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      if (!v.dtype || !(v.dtype in DTYPE_BYTES))
        throw badCheckpoint(file, `tensor ${name} has unsupported dtype ${v.dtype}`);
      const dtype = v.dtype as StoredDType;
      if (!Array.isArray(v.shape) || !Array.isArray(v.data_offsets))
        throw badCheckpoint(file, `tensor ${name} lacks shape/offsets`);
      const [begin, end] = v.data_offsets;
      if (end - begin !== numel(v.shape) * DTYPE_BYTES[dtype]) {
        throw badCheckpoint(file, `tensor ${name}: ${end - begin} bytes for shape [${v.shape}] ${dtype}`);
      }
      if (base + end > reader.size) {
        throw badCheckpoint(
          file,
          `truncated: tensor ${name} ends at byte ${base + end} but the file has ${reader.size}`,
        );
      }
      entries.set(name, { name, dtype, shape: v.shape, offset: base + begin });
    }
    return entries;
  });
}
