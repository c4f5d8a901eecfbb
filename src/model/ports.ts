/**
 * Every port of the model layer: what `ClipModel` and its pipelines need from the world, implemented by the adapters
 * (workerd: R2, KV, the Cache API, segment Workers, the GPU origin; Node: files, onnxruntime-node). src/model imports
 * no adapter; the composition roots (src/worker/build-app.ts, src/adapters/node/local-model.ts, the segment Worker)
 * hand these in.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { QueueSettings } from '../contracts/config.ts';
import type { FileRef, ModelManifest, Precision, TowerName } from '../contracts/manifest.ts';
import type { KernelModules } from '../kernels/kernels.ts';

export type { InferenceSession, Tensor };

/** The slice of the onnxruntime API edge-clip uses; onnxruntime-node and onnxruntime-web both provide it. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}

/** A file's bytes, with their sha256 (hex) when the reader hashed them while they streamed in. */
export interface FileBytes {
  bytes: Uint8Array;
  sha256?: string;
}

/**
 * Returns a file's bytes; loaders (disk, R2) differ only here. With `into` (exactly `ref.bytes` long) the bytes are
 * written there and returned in it, so that the shards of a large external-data file land in one buffer without a
 * second copy of each shard (a segment Worker's memory peaks while it loads).
 */
export type ReadFile = (ref: FileRef, into?: Uint8Array) => Promise<FileBytes>;

/** A tower's input: float32 pixels or activations, or int64 token ids. */
export type TowerInput = Float32Array | BigInt64Array;

/**
 * A tower wherever it runs (sessions here, segment Workers, the GPU origin): one input in, its only output out. Towers
 * here stop before their next segment once `signal` aborts.
 */
export interface Tower {
  run(inputName: string, data: TowerInput, dims: readonly number[], signal?: AbortSignal): Promise<Float32Array>;
}

/** The operations edge-clip needs from a key-value store; the workerd adapter maps them onto a KV binding. */
export interface KeyValueStore {
  get(key: string): Promise<Uint8Array | null>;
  /** `ttlSeconds`: the entry expires by itself (KV's expirationTtl); absent, it stays. */
  put(key: string, value: Uint8Array, ttlSeconds?: number): Promise<void>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
}

/** One tier of the embedding cache: values are a tower's raw output row (before L2 normalization). */
export interface EmbeddingStore {
  get(key: string): Promise<Float32Array | undefined>;
  put(key: string, value: Float32Array): Promise<void>;
}

/** Where the phases of a request spent their time (Server-Timing). */
export interface Timing {
  add(name: string, ms: number): void;
  measure<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
}

/** A compiled wasm module, or how to compile it when it is first needed. */
export type ModuleSource = WebAssembly.Module | (() => Promise<WebAssembly.Module>);

/**
 * The wasm image decoders' modules: workerd imports them precompiled; Node compiles each file on its format's first
 * image (compiling all three up front would compete for the CPU with the towers' own wasm).
 */
export interface DecoderModules {
  jpeg: ModuleSource;
  webp: ModuleSource;
  avif: ModuleSource;
}

/** What `ClipModel.open` is given. */
export interface ModelPorts {
  ort: OrtModule;
  readManifest: () => Promise<ModelManifest>;
  read: ReadFile;
  /** The wasm image decoders' modules; absent, only the JS decoders (PNG, GIF, BMP, TIFF) work. */
  decoders?: DecoderModules;
  /** Where a tower runs elsewhere (the GPU origin for fp32, segment Workers): that tower; undefined = here. */
  remote?: (tower: TowerName, precision: Precision) => Tower | undefined;
  /** A stored file's size, or undefined when it is missing; lets readiness see missing or cut files before a load. */
  size?: (file: string) => Promise<number | undefined>;
  /** Files read at once while loading a tower. */
  concurrency?: number;
  /**
   * One thread for every tower here (workerd): their steps are scheduled (text first), prompts of concurrent requests
   * batched, and work refused when it would wait longer than these bounds. Absent (Node), towers run as called.
   */
  queue?: QueueSettings;
  sessionOptions?: InferenceSession.SessionOptions;
  /**
   * Our kernels' modules and the int8 towers that run in them instead of onnxruntime-web sessions (src/kernels,
   * `IMAGE_ENGINE` / `TEXT_ENGINE`).
   */
  kernels?: { modules: KernelModules; towers: readonly TowerName[] };
}
