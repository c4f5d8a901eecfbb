/**
 * Entry of a segment Worker (one script, deployed once per segment with SEGMENT_TOWER / SEGMENT_INDEX vars): it loads
 * only its segment's shards from R2 and serves `run` over RPC (binary tensors in and out), GET /stats and POST /load.
 */
import { WorkerEntrypoint } from 'cloudflare:workers';
import type { Hono } from 'hono';
import { ortWasmMemoryBytes, workerdOrt } from '../adapters/workerd/ort-wasm.ts';
import { r2Files } from '../adapters/workerd/r2-files.ts';
import { startupError } from '../app/middleware/error-handler.ts';
import { parseSegmentConfig } from '../contracts/config.ts';
import type { SegmentBody } from '../contracts/inference-protocol.ts';
import type { ModelManifest } from '../contracts/manifest.ts';
import { towerBuild } from '../model/load-tower.ts';
import { SegmentHost } from '../model/segment-host.ts';
import { SingleFlight } from '../model/single-flight.ts';
import { createSegmentApp } from './segment-app.ts';

export interface SegmentEnv {
  MODELS: R2Bucket;
  MODEL_ID: string;
  SEGMENT_TOWER: string;
  SEGMENT_INDEX: string;
  SEGMENT_PRECISION?: string;
}

/** This isolate's segment: its host (RPC) and HTTP face, built from the bindings. */
export function buildSegment(env: SegmentEnv): { host: SegmentHost; app: Hono } {
  const { modelId, tower, index, precision } = parseSegmentConfig(env);
  const files = r2Files(env.MODELS, modelId);
  const manifests = new SingleFlight<ModelManifest>();
  const host = new SegmentHost({
    ort: workerdOrt(),
    segment: async () => towerBuild(await manifests.get('manifest', files.manifest), tower, precision).segments[index],
    read: files.read,
    tower,
    index,
    precision,
    wasmMemoryBytes: ortWasmMemoryBytes,
  });
  return { host, app: createSegmentApp(host) };
}

let segment: ReturnType<typeof buildSegment> | undefined;

/**
 * The gateway calls `run` over RPC (a service binding to this entrypoint): activations go as bytes, without HTTP
 * framing. `fetch` serves /stats and /load only: no HTTP route takes tensors.
 */
export default class SegmentWorker extends WorkerEntrypoint<SegmentEnv> {
  override fetch(request: Request): Response | Promise<Response> {
    try {
      segment ??= buildSegment(this.env);
    } catch (e) {
      return startupError(e);
    }
    return segment.app.fetch(request);
  }

  run(body: Uint8Array, headerLength: number): Promise<SegmentBody> {
    segment ??= buildSegment(this.env);
    return segment.host.run(body, headerLength);
  }
}
