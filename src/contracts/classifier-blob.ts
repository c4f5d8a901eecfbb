/**
 * The binary form of a zero-shot classifier: "ECLS", u32 header length, UTF-8 JSON header, padding to 8 bytes, then
 * the [labels, dim] matrix row-major in float16 or float32 (little-endian). One row per label: the L2-normalized mean
 * of its templates' L2-normalized text embeddings.
 */
import { EdgeClipError, quoteInput } from './errors.ts';
import { fromHalf, toHalf } from './half-float.ts';
import { PRECISIONS, type Precision } from './manifest.ts';

const MAGIC = 0x534c4345; // "ECLS" little-endian

export interface ClassifierHeader {
  schema: 'edge-clip.classifier/v1';
  name: string;
  modelId: string;
  buildHash: string;
  /** Precision of the text tower that produced the rows. */
  precision: Precision;
  dtype: 'float16' | 'float32';
  labels: string[];
  templates: string[];
  dim: number;
  createdAt: string;
}

export interface Classifier {
  header: ClassifierHeader;
  /** [labels.length, dim], rows L2-normalized. */
  weights: Float32Array;
}

/** A label set's rows as the classifier of a build (the header every stored or written classifier carries). */
export function classifierOf(
  build: { modelId: string; buildHash: string; embedDim: number },
  set: { name: string; labels: string[]; templates: string[] },
  precision: Precision,
  dtype: ClassifierHeader['dtype'],
  weights: Float32Array,
): Classifier {
  return {
    header: {
      schema: 'edge-clip.classifier/v1',
      name: set.name,
      modelId: build.modelId,
      buildHash: build.buildHash,
      precision,
      dtype,
      labels: set.labels,
      templates: set.templates,
      dim: build.embedDim,
      createdAt: new Date().toISOString(),
    },
    weights,
  };
}

export function encodeClassifier(c: Classifier): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(c.header));
  const start = Math.ceil((8 + json.length) / 8) * 8;
  const width = c.header.dtype === 'float16' ? 2 : 4;
  const out = new Uint8Array(start + c.weights.length * width);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, json.length, true);
  out.set(json, 8);
  for (let i = 0; i < c.weights.length; i++) {
    if (width === 2) dv.setUint16(start + i * 2, toHalf(c.weights[i]), true);
    else dv.setFloat32(start + i * 4, c.weights[i], true);
  }
  return out;
}

export function decodeClassifier(bytes: Uint8Array): Classifier {
  const bad = (m: string) => new EdgeClipError('INVALID_INPUT', `classifier blob: ${m}`);
  if (bytes.length < 8) throw bad('too short');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw bad('not an edge-clip classifier (magic ECLS missing)');
  const len = dv.getUint32(4, true);
  if (8 + len > bytes.length) throw bad('header truncated');
  let header: ClassifierHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  } catch {
    throw bad('header is not JSON');
  }
  if (header.schema !== 'edge-clip.classifier/v1' || !Array.isArray(header.labels) || !(header.dim > 0))
    throw bad('unknown header');
  // Every field a key, a score or a decode depends on, checked here: a precision outside the list would make a key
  // that no listing or DELETE finds, a dtype outside the two would decode as float32 by accident.
  if (!(PRECISIONS as readonly string[]).includes(header.precision))
    throw bad(`precision must be one of ${PRECISIONS.join(', ')} (got ${quoteInput(header.precision)})`);
  if (header.dtype !== 'float16' && header.dtype !== 'float32')
    throw bad(`dtype must be float16 or float32 (got ${quoteInput(header.dtype)})`);
  if (!Number.isSafeInteger(header.dim)) throw bad(`dim must be an integer (got ${quoteInput(header.dim)})`);
  if (typeof header.name !== 'string' || !header.labels.every((l) => typeof l === 'string'))
    throw bad('name and labels must be strings');
  const start = Math.ceil((8 + len) / 8) * 8;
  const width = header.dtype === 'float16' ? 2 : 4;
  const count = header.labels.length * header.dim;
  if (bytes.length !== start + count * width) throw bad(`${bytes.length} bytes, expected ${start + count * width}`);
  const weights = new Float32Array(count);
  for (let i = 0; i < count; i++)
    weights[i] = width === 2 ? fromHalf(dv.getUint16(start + i * 2, true)) : dv.getFloat32(start + i * 4, true);
  return { header, weights };
}
