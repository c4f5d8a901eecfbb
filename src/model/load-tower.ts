/** Creates the onnxruntime sessions of one tower from a build, verifying every file's sha256 before use. */
import { EdgeClipError } from '../contracts/errors.ts';
import type { FileRef, ModelManifest, Precision, Segment, TowerName } from '../contracts/manifest.ts';
import { sha256Hex } from '../contracts/sha256.ts';
import { type Limiter, limiter } from './limiter.ts';
import { startRuntime } from './ort-runtime.ts';
import type { InferenceSession, OrtModule, ReadFile } from './ports.ts';

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

export interface LoadTowerOptions {
  /** Files read at once (default 4); ignored when `limit` is given. */
  concurrency?: number;
  limit?: Limiter;
  sessionOptions?: InferenceSession.SessionOptions;
  timings?: LoadTimings;
}

export interface SegmentFiles {
  graph: Uint8Array;
  /** Each external-data file whole, under the name the graph gives it. */
  externalData: { path: string; data: Uint8Array }[];
}

/**
 * A segment's graph and external data, verified, read under `options`' limit on files in flight; external-data files
 * that span several shards are reassembled here.
 */
export async function readSegmentFiles(
  segment: Segment,
  read: ReadFile,
  options: Pick<LoadTowerOptions, 'concurrency' | 'limit' | 'timings'> = {},
): Promise<SegmentFiles> {
  // A file of several shards is read shard by shard into its final buffer: the JS side then holds each weight once.
  const wholes = segment.externalData.map((e) => (e.shards.length > 1 ? new Uint8Array(e.bytes) : undefined));
  const reads = segment.externalData.flatMap((e, i) =>
    e.shards.map((ref) => ({ ref, into: wholes[i]?.subarray(ref.offset, ref.offset + ref.bytes) })),
  );
  const limit = options.limit ?? limiter(options.concurrency ?? 4);
  const [graph, ...parts] = await Promise.all(
    [{ ref: segment.graph, into: undefined }, ...reads].map((r) =>
      limit(() => verifiedRead(read, r.ref, options.timings, r.into)),
    ),
  );
  let k = 0;
  const externalData = segment.externalData.map((e, i) => {
    const data = wholes[i] ?? parts[k];
    k += e.shards.length;
    return { path: e.location, data };
  });
  return { graph, externalData };
}

/** The session of one segment. */
export async function loadSegmentSession(
  ort: OrtModule,
  segment: Segment,
  read: ReadFile,
  options: LoadTowerOptions = {},
): Promise<InferenceSession> {
  const runtime = startRuntime(ort);
  const { graph, externalData } = await readSegmentFiles(segment, read, options);
  await runtime;
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

/**
 * One session per segment, in order. All segments load at once under one limit on files in flight, and each
 * segment's session is created as soon as its own files are in, while later segments are still arriving.
 */
export async function loadTowerSessions(
  ort: OrtModule,
  manifest: ModelManifest,
  tower: TowerName,
  precision: Precision,
  read: ReadFile,
  options: LoadTowerOptions = {},
): Promise<InferenceSession[]> {
  return loadSegmentSessions(ort, towerBuild(manifest, tower, precision).segments, read, options);
}

/** `loadTowerSessions` for a list of segments (a build not described by a manifest yet: the int8 search's). */
export async function loadSegmentSessions(
  ort: OrtModule,
  segments: readonly Segment[],
  read: ReadFile,
  options: LoadTowerOptions = {},
): Promise<InferenceSession[]> {
  const shared = { ...options, limit: options.limit ?? limiter(options.concurrency ?? 4) };
  const settled = await Promise.allSettled(segments.map((segment) => loadSegmentSession(ort, segment, read, shared)));
  const failed = settled.find((r) => r.status === 'rejected');
  const sessions = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) {
    // A tower is usable whole or not at all: free the segments that did load.
    await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
    throw failed.reason;
  }
  return sessions;
}
