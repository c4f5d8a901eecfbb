/**
 * Open Inference Protocol (KServe v2, what NVIDIA Triton speaks): infer request/response bodies, as JSON or with the
 * binary tensor data extension (JSON header of `Inference-Header-Content-Length` bytes, then raw little-endian tensors).
 */
import { EdgeClipError } from './errors.ts';

export type V2Datatype = 'FP32' | 'INT64';
export type V2Data = Float32Array | BigInt64Array;

export interface V2Tensor {
  name: string;
  datatype: V2Datatype;
  shape: number[];
  data: V2Data;
}

export const HEADER_LENGTH = 'inference-header-content-length';

/** A binary body and its JSON header's length: what the gateway and a segment Worker pass each other over RPC. */
export interface SegmentBody {
  body: Uint8Array;
  headerLength: number;
}

interface JsonTensor {
  name: string;
  datatype: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number; binary_data?: boolean };
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const bytesOf = (d: V2Data) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

function tensorFrom(t: JsonTensor, binary: Uint8Array | undefined, offset: number): { tensor: V2Tensor; used: number } {
  const bad = (m: string) => new EdgeClipError('INVALID_INPUT', `tensor ${t.name}: ${m}`);
  if (t.datatype !== 'FP32' && t.datatype !== 'INT64')
    throw bad(`datatype ${t.datatype} is not supported (FP32, INT64)`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0))
    throw bad('shape must be non-negative integers');
  const n = count(t.shape);
  const width = t.datatype === 'FP32' ? 4 : 8;
  const size = t.parameters?.binary_data_size;
  if (size !== undefined) {
    if (!binary || offset + size > binary.length) throw bad('binary data shorter than binary_data_size');
    if (size !== n * width) throw bad(`binary_data_size ${size} does not match shape ${t.shape}`);
    // A view when the bytes are aligned (our encoder aligns them), so a large activation is not held twice.
    const at = binary.byteOffset + offset;
    const src = at % width === 0 ? binary : binary.slice(offset, offset + size);
    const start = src === binary ? at : 0;
    const data =
      t.datatype === 'FP32' ? new Float32Array(src.buffer, start, n) : new BigInt64Array(src.buffer, start, n);
    return { tensor: { name: t.name, datatype: t.datatype, shape: t.shape, data }, used: size };
  }
  if (!Array.isArray(t.data) || t.data.flat(Number.POSITIVE_INFINITY).length !== n)
    throw bad('data must hold as many values as the shape says');
  const flat = t.data.flat(Number.POSITIVE_INFINITY) as number[];
  const data =
    t.datatype === 'FP32' ? Float32Array.from(flat) : BigInt64Array.from(flat.map((v) => BigInt(Math.trunc(v))));
  return { tensor: { name: t.name, datatype: t.datatype, shape: t.shape, data }, used: 0 };
}

/** Splits a body into its JSON header and binary tail (no tail when `headerLength` is absent). */
function splitBody(
  body: Uint8Array,
  headerLength: string | null | undefined,
): { json: Record<string, unknown>; binary?: Uint8Array } {
  const len = headerLength ? Number(headerLength) : body.length;
  if (!Number.isInteger(len) || len < 0 || len > body.length)
    throw new EdgeClipError('INVALID_INPUT', `${HEADER_LENGTH} ${headerLength} is invalid`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(body.subarray(0, len)));
  } catch {
    throw new EdgeClipError('INVALID_INPUT', 'inference header is not valid JSON');
  }
  return { json, binary: headerLength ? body.subarray(len) : undefined };
}

function joinBody(header: unknown, tensors: V2Data[]): { body: Uint8Array; headerLength: number } {
  // JSON may end in spaces: padding the header to 8 bytes lets the receiver view (not copy) 8-byte-aligned tensors.
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const body = new Uint8Array(headerLength + tensors.reduce((a, t) => a + t.byteLength, 0));
  body.set(json);
  body.fill(0x20, json.length, headerLength);
  let p = headerLength;
  for (const t of tensors) {
    body.set(bytesOf(t), p);
    p += t.byteLength;
  }
  return { body, headerLength };
}

export interface InferRequest {
  id?: string;
  inputs: V2Tensor[];
  /** Requested outputs and whether each should come back as binary. */
  outputs: { name: string; binary: boolean }[];
}

export function encodeInferRequest(
  inputs: V2Tensor[],
  outputs: string[],
  binary = true,
): { body: Uint8Array; headerLength?: number } {
  const header = {
    inputs: inputs.map((t) =>
      binary
        ? { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: t.data.byteLength } }
        : { name: t.name, datatype: t.datatype, shape: t.shape, data: Array.from(t.data, Number) },
    ),
    outputs: outputs.map((name) => ({ name, parameters: { binary_data: binary } })),
  };
  if (!binary) return { body: new TextEncoder().encode(JSON.stringify(header)) };
  return joinBody(
    header,
    inputs.map((t) => t.data),
  );
}

export function decodeInferRequest(body: Uint8Array, headerLength: string | null | undefined): InferRequest {
  const { json, binary } = splitBody(body, headerLength);
  if (!Array.isArray(json.inputs) || json.inputs.length === 0)
    throw new EdgeClipError('INVALID_INPUT', 'inputs must be a non-empty array');
  let offset = 0;
  const inputs = (json.inputs as JsonTensor[]).map((t) => {
    const { tensor, used } = tensorFrom(t, binary, offset);
    offset += used;
    return tensor;
  });
  const outputs = Array.isArray(json.outputs)
    ? (json.outputs as JsonTensor[]).map((o) => ({ name: o.name, binary: !!o.parameters?.binary_data }))
    : [];
  return { id: typeof json.id === 'string' ? json.id : undefined, inputs, outputs };
}

export function encodeInferResponse(
  model: string,
  outputs: V2Tensor[],
  binary: boolean,
  id?: string,
  version?: string,
): { body: Uint8Array; headerLength?: number } {
  const header = {
    model_name: model,
    ...(version ? { model_version: version } : {}),
    ...(id ? { id } : {}),
    outputs: outputs.map((t) =>
      binary
        ? { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: t.data.byteLength } }
        : { name: t.name, datatype: t.datatype, shape: t.shape, data: Array.from(t.data, Number) },
    ),
  };
  if (!binary) return { body: new TextEncoder().encode(JSON.stringify(header)) };
  return joinBody(
    header,
    outputs.map((t) => t.data),
  );
}

export interface InferResponse {
  /** The version of the model that answered (a build hash, for the origin), when the server names one. */
  modelVersion?: string;
  outputs: V2Tensor[];
}

export function decodeInferResponse(body: Uint8Array, headerLength: string | null | undefined): InferResponse {
  const { json, binary } = splitBody(body, headerLength);
  if (!Array.isArray(json.outputs)) throw new EdgeClipError('INVALID_INPUT', 'infer response has no outputs');
  let offset = 0;
  const outputs = (json.outputs as JsonTensor[]).map((t) => {
    const { tensor, used } = tensorFrom(t, binary, offset);
    offset += used;
    return tensor;
  });
  return { modelVersion: typeof json.model_version === 'string' ? json.model_version : undefined, outputs };
}
