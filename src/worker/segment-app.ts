/** A segment Worker: loads one segment of one tower from R2 and runs it on binary tensors from the gateway. */
import { Hono } from 'hono';
import { loadSegmentSession, type ReadFile, towerBuild } from '../model/load-tower.ts';
import type { InferenceSession, OrtModule, Tensor } from '../model/ort-types.ts';
import { SingleFlight } from '../model/single-flight.ts';
import { EdgeClipError, isEdgeClipError } from '../shared/errors.ts';
import { decodeInferRequest, encodeInferResponse, HEADER_LENGTH, type V2Tensor } from '../shared/inference-protocol.ts';
import {
  type ModelManifest,
  type Precision,
  type SegmentMemory,
  segmentLoadingBytes,
  segmentServingBytes,
  type TowerName,
} from '../shared/manifest.ts';

export interface SegmentAppDeps {
  ort: OrtModule;
  manifest: () => Promise<ModelManifest>;
  read: ReadFile;
  tower: TowerName;
  index: number;
  precision: Precision;
  wasmMemoryBytes?: () => number;
}

export function createSegmentApp(deps: SegmentAppDeps): Hono {
  const sessions = new SingleFlight<InferenceSession>();
  const wasm = deps.wasmMemoryBytes ?? (() => 0);
  // Live counterparts of the build's SegmentMemory: what this isolate held while loading and per request.
  const usage = { jsLoadBytes: 0, wasmAfterCreateBytes: 0, jsRequestBytes: 0 };
  const session = () =>
    sessions.get('segment', async () => {
      const seg = towerBuild(await deps.manifest(), deps.tower, deps.precision).segments[deps.index];
      if (!seg) throw new EdgeClipError('NOT_FOUND', `the ${deps.tower} tower has no segment ${deps.index}`);
      const s = await loadSegmentSession(deps.ort, seg, deps.read);
      usage.jsLoadBytes = seg.graph.bytes + seg.externalData.reduce((a, e) => a + e.bytes, 0);
      usage.wasmAfterCreateBytes = wasm();
      return s;
    });
  let queue: Promise<unknown> = Promise.resolve();
  const app = new Hono();
  app.onError((err, c) => {
    const status = isEdgeClipError(err) ? err.status : 500;
    return c.json(
      { error: { type: isEdgeClipError(err) ? err.code.toLowerCase() : 'internal', message: err.message } },
      status as 400,
    );
  });
  app.get('/stats', async (c) => {
    const m = await deps.manifest();
    const seg = towerBuild(m, deps.tower, deps.precision).segments[deps.index];
    const live: SegmentMemory = { ...usage, wasmAfterRunBytes: wasm(), batch: seg?.memory?.batch ?? 0 };
    return c.json({
      tower: deps.tower,
      index: deps.index,
      precision: deps.precision,
      loaded: sessions.has('segment'),
      weight_bytes: seg?.externalData.reduce((a, e) => a + e.bytes, 0),
      wasm_bytes: wasm(),
      js_load_bytes: usage.jsLoadBytes,
      wasm_after_create_bytes: usage.wasmAfterCreateBytes,
      js_request_bytes: usage.jsRequestBytes,
      // wasm + JS buffers while serving and while loading; the build's measurements for comparison.
      serving_bytes: segmentServingBytes(live),
      loading_bytes: segmentLoadingBytes(live),
      measured_serving_bytes: seg?.memory ? segmentServingBytes(seg.memory) : null,
      measured_loading_bytes: seg?.memory ? segmentLoadingBytes(seg.memory) : null,
    });
  });
  // The gateway calls this on every segment at once before a tower's first run, so that they load in parallel.
  app.post('/load', async (c) => {
    await session();
    return c.body(null, 204);
  });
  app.post('/run', async (c) => {
    const bodyIn = new Uint8Array(await c.req.arrayBuffer());
    const req = decodeInferRequest(bodyIn, c.req.header(HEADER_LENGTH));
    const s = await session();
    const feeds: Record<string, Tensor> = {};
    for (const t of req.inputs)
      feeds[t.name] =
        t.data instanceof Float32Array
          ? new deps.ort.Tensor('float32', t.data, t.shape)
          : new deps.ort.Tensor('int64', t.data, t.shape);
    // One run at a time: the isolate has one wasm instance.
    const job = queue.then(() => s.run(feeds));
    queue = job.catch(() => undefined);
    const results = (await job) as Record<string, Tensor>;
    const outputs: V2Tensor[] = Object.entries(results).map(([name, t]) => ({
      name,
      datatype: 'FP32',
      shape: [...t.dims],
      data: t.data as Float32Array,
    }));
    const { body, headerLength } = encodeInferResponse(`${deps.tower}_${deps.index}`, outputs, true);
    const outBytes = outputs.reduce((a, o) => a + o.data.byteLength, 0);
    usage.jsRequestBytes = Math.max(usage.jsRequestBytes, bodyIn.length + outBytes + body.length);
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      'content-type': 'application/octet-stream',
      [HEADER_LENGTH]: String(headerLength),
    });
  });
  return app;
}
