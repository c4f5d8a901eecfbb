/** Reader for torch.save ZIP checkpoints (open_clip_pytorch_model.bin): data.pkl describes tensors, data/<key> holds storages. */
import {
  badCheckpoint,
  type Checkpoint,
  DTYPE_BYTES,
  lazyCheckpoint,
  type StoredDType,
  type TensorEntry,
} from './checkpoint.ts';
import { type PickleCall, PickleError, type PickleValue, unpickle } from './pickle.ts';
import { readZipIndex } from './zip-index.ts';

const STORAGE_DTYPES: Record<string, StoredDType> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
};

const isCall = (v: PickleValue, name: string): v is PickleCall =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  !(v instanceof Map) &&
  v.kind === 'call' &&
  v.fn.name === name;

export function openTorchZip(file: string): Checkpoint {
  return lazyCheckpoint(file, 'pytorch', (reader) => {
    const zip = readZipIndex(reader);
    const pklName = [...zip.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
    if (!pklName) throw badCheckpoint(file, 'ZIP archive has no data.pkl: not a torch.save checkpoint');
    const prefix = pklName.slice(0, -'data.pkl'.length);
    const pkl = zip.get(pklName)!;
    let root: PickleValue;
    try {
      root = unpickle(reader.read(pkl.dataOffset, pkl.size));
    } catch (e) {
      if (e instanceof PickleError) throw badCheckpoint(file, e.message, e);
      throw e;
    }
    if (root instanceof Map && root.has('state_dict')) root = root.get('state_dict') as PickleValue;
    if (!(root instanceof Map)) throw badCheckpoint(file, 'data.pkl is not a state dict');
    const entries = new Map<string, TensorEntry>();
    for (const [key, value] of root) {
      const name = String(key);
      let t = value;
      if (isCall(t, '_rebuild_parameter')) t = t.args[0];
      if (!isCall(t, '_rebuild_tensor_v2')) throw badCheckpoint(file, `state dict entry ${name} is not a tensor`);
      const [pid, storageOffset, size, stride] = t.args;
      if (
        typeof pid !== 'object' ||
        pid === null ||
        !('kind' in pid) ||
        pid.kind !== 'pid' ||
        !Array.isArray(pid.value)
      ) {
        throw badCheckpoint(file, `tensor ${name} has no storage reference`);
      }
      const [, storageType, storageKey] = pid.value;
      const typeName =
        typeof storageType === 'object' && storageType !== null && 'name' in storageType ? storageType.name : '';
      const dtype = STORAGE_DTYPES[String(typeName)];
      if (!dtype) throw badCheckpoint(file, `tensor ${name} has unsupported storage ${String(typeName)}`);
      const storage = zip.get(`${prefix}data/${String(storageKey)}`);
      if (!storage) throw badCheckpoint(file, `storage data/${String(storageKey)} of tensor ${name} is missing`);
      const shape = (size as number[]).map(Number);
      const strides = (stride as number[]).map(Number);
      const width = DTYPE_BYTES[dtype];
      let last = Number(storageOffset);
      for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * strides[i];
      if (shape.every((d) => d > 0) && (last + 1) * width > storage.size) {
        throw badCheckpoint(file, `tensor ${name} [${shape}] overruns its storage data/${String(storageKey)}`);
      }
      entries.set(name, { name, dtype, shape, strides, offset: storage.dataOffset + Number(storageOffset) * width });
    }
    return entries;
  });
}
