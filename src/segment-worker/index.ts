/**
 * Entry of a segment Worker (one script, deployed once per segment with SEGMENT_TOWER / SEGMENT_INDEX vars): it loads
 * only its segment's shards from R2 and answers the gateway's RPC only (`run`, `stats`, `load`); HTTP gets a 404.
 */
import { WorkerEntrypoint } from 'cloudflare:workers';
import { workerdKernelModules } from '../adapters/workerd/kernel-wasm.ts';
import { ortWasmMemoryBytes, workerdOrt } from '../adapters/workerd/ort-wasm.ts';
import { r2Files } from '../adapters/workerd/r2-files.ts';
import { parseSegmentConfig } from '../contracts/config.ts';
import { EdgeClipError } from '../contracts/errors.ts';
import type { SegmentBody } from '../contracts/inference-protocol.ts';
import type { ModelManifest } from '../contracts/manifest.ts';
import { towerBuild } from '../model/load-tower.ts';
import { SegmentHost } from '../model/segment-host.ts';
import { SingleFlight } from '../model/single-flight.ts';

export interface SegmentEnv {
  MODELS: R2Bucket;
  MODEL_ID: string;
  SEGMENT_TOWER: string;
  SEGMENT_INDEX: string;
  SEGMENT_PRECISION?: string;
  SEGMENT_ENGINE?: string;
}

/** This isolate's segment host, built from the bindings. */
export function buildSegment(env: SegmentEnv): SegmentHost {
  const { modelId, tower, index, precision, engine } = parseSegmentConfig(env);
  const files = r2Files(env.MODELS, modelId);
  const manifests = new SingleFlight<ModelManifest>();
  const manifest = () => manifests.get('manifest', files.manifest);
  return new SegmentHost({
    ort: workerdOrt(),
    segment: async () => towerBuild(await manifest(), tower, precision).segments[index],
    read: files.read,
    tower,
    index,
    precision,
    wasmMemoryBytes: ortWasmMemoryBytes,
    kernels: engine === 'kernels' ? { modules: workerdKernelModules, manifest } : undefined,
  });
}

let segment: SegmentHost | undefined;

/**
 * Reached only through the gateway's service binding to this entrypoint: activations go as bytes, without HTTP
 * framing, and nothing is offered over HTTP (a segment Worker has no public URL either: workers_dev and preview_urls
 * off), so no caller but the gateway can load, inspect or run a segment.
 */
export default class SegmentWorker extends WorkerEntrypoint<SegmentEnv> {
  override fetch(): Response {
    const refused = new EdgeClipError('NOT_FOUND', 'a segment Worker answers its gateway over RPC only');
    return Response.json(refused.toJSON(), { status: refused.status });
  }

  private host(): SegmentHost {
    segment ??= buildSegment(this.env);
    return segment;
  }

  run(body: Uint8Array, headerLength: number): Promise<SegmentBody> {
    return this.host().run(body, headerLength);
  }

  /** What it holds: weights, whether loaded, wasm memory, the build's measurements. */
  stats(): Promise<Record<string, unknown>> {
    return this.host().stats();
  }

  /** The gateway asks every segment at once before a tower's first run, so that they load in parallel. */
  load(): Promise<void> {
    return this.host().load();
  }
}
