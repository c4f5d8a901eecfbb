/** Creates the onnxruntime sessions of one tower from a build, verifying every file's sha256 before use. */
import { EdgeClipError } from '../contracts/errors.ts';
import type { FileRef, ModelManifest, Precision, Segment, TowerName } from '../contracts/manifest.ts';
import { sha256Hex } from '../contracts/sha256.ts';
import type { InferenceSession, OrtModule } from './ort-types.ts';

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

export interface LoadTimings {
  fetchMs: number;
  verifyMs: number;
  createMs: number;
}

export async function verifiedRead(
  read: ReadFile,
  ref: FileRef,
  timings?: LoadTimings,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const t0 = performance.now();
  const { bytes: data, sha256 } = await read(ref, into);
  const t1 = performance.now();
  if (data.length !== ref.bytes) {
    throw new EdgeClipError('SHARD_INTEGRITY', `${ref.file}: ${data.length} bytes, manifest says ${ref.bytes}`, {
      retryAfter: 1,
    });
  }
  const hash = sha256 ?? (await sha256Hex(data));
  if (hash !== ref.sha256)
    throw new EdgeClipError('SHARD_INTEGRITY', `${ref.file}: sha256 mismatch`, { retryAfter: 1 });
  if (timings) {
    timings.fetchMs += t1 - t0;
    timings.verifyMs += performance.now() - t1;
  }
  return data;
}

/** Runs `tasks` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface LoadTowerOptions {
  concurrency?: number;
  sessionOptions?: InferenceSession.SessionOptions;
  timings?: LoadTimings;
}

/** The session of one segment; external-data files that span several shards are reassembled here. */
export async function loadSegmentSession(
  ort: OrtModule,
  segment: Segment,
  read: ReadFile,
  options: LoadTowerOptions = {},
): Promise<InferenceSession> {
  // A file of several shards is read shard by shard into its final buffer: the JS side then holds each weight once.
  const wholes = segment.externalData.map((e) => (e.shards.length > 1 ? new Uint8Array(e.bytes) : undefined));
  const reads = segment.externalData.flatMap((e, i) =>
    e.shards.map((ref) => ({ ref, into: wholes[i]?.subarray(ref.offset, ref.offset + ref.bytes) })),
  );
  const [graph, ...parts] = await mapLimit(
    [{ ref: segment.graph, into: undefined }, ...reads],
    options.concurrency ?? 4,
    (r) => verifiedRead(read, r.ref, options.timings, r.into),
  );
  let k = 0;
  const externalData = segment.externalData.map((e, i) => {
    const data = wholes[i] ?? parts[k];
    k += e.shards.length;
    return { path: e.location, data };
  });
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(graph, { ...options.sessionOptions, externalData });
  if (options.timings) options.timings.createMs += performance.now() - t0;
  return session;
}

export function towerBuild(manifest: ModelManifest, tower: TowerName, precision: Precision) {
  const build = manifest.towers[tower][precision];
  if (!build)
    throw new EdgeClipError('NOT_FOUND', `model ${manifest.modelId} has no ${precision} build of the ${tower} tower`);
  return build;
}

/** One session per segment, in order. */
export async function loadTowerSessions(
  ort: OrtModule,
  manifest: ModelManifest,
  tower: TowerName,
  precision: Precision,
  read: ReadFile,
  options: LoadTowerOptions = {},
): Promise<InferenceSession[]> {
  const sessions: InferenceSession[] = [];
  for (const segment of towerBuild(manifest, tower, precision).segments)
    sessions.push(await loadSegmentSession(ort, segment, read, options));
  return sessions;
}
