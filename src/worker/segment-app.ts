/** A segment Worker: loads one segment of one tower from R2 and runs it on binary tensors from the gateway. */
import { Hono } from 'hono';
import { EdgeClipError, isEdgeClipError } from '../contracts/errors.ts';
import {
  decodeInferRequest,
  encodeInferResponse,
  HEADER_LENGTH,
  type V2Tensor,
} from '../contracts/inference-protocol.ts';
import {
  type ModelManifest,
  type Precision,
  type SegmentMemory,
  segmentLoadingBytes,
  segmentServingBytes,
  type TowerName,
} from '../contracts/manifest.ts';
import { loadSegmentSession, type ReadFile, towerBuild } from '../model/load-tower.ts';
import type { InferenceSession, OrtModule, Tensor } from '../model/ort-types.ts';
import type { SegmentBody } from '../model/segment-chain.ts';
import { SingleFlight } from '../model/single-flight.ts';

export interface SegmentAppDeps {
  ort: OrtModule;
  manifest: () => Promise<ModelManifest>;
  read: ReadFile;
  tower: TowerName;
  index: number;
  precision: Precision;
  wasmMemoryBytes?: () => number;
}

/** One segment of one tower in this isolate: loads on first use, runs one request at a time, counts its memory. */
export class SegmentRunner {
  private readonly sessions = new SingleFlight<InferenceSession>();
  private readonly wasm: () => number;
  // Live counterparts of the build's SegmentMemory: what this isolate held while loading and per request.
  private readonly usage = { jsLoadBytes: 0, wasmAfterCreateBytes: 0, jsRequestBytes: 0 };
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: SegmentAppDeps) {
    this.wasm = deps.wasmMemoryBytes ?? (() => 0);
  }

  private async segment() {
    const seg = towerBuild(await this.deps.manifest(), this.deps.tower, this.deps.precision).segments[this.deps.index];
    if (!seg) throw new EdgeClipError('NOT_FOUND', `the ${this.deps.tower} tower has no segment ${this.deps.index}`);
    return seg;
  }

  private session(): Promise<InferenceSession> {
    return this.sessions.get('segment', async () => {
      const seg = await this.segment();
      const s = await loadSegmentSession(this.deps.ort, seg, this.deps.read);
      this.usage.jsLoadBytes = seg.graph.bytes + seg.externalData.reduce((a, e) => a + e.bytes, 0);
      this.usage.wasmAfterCreateBytes = this.wasm();
      return s;
    });
  }

  async load(): Promise<void> {
    await this.session();
  }

  async run(bodyIn: Uint8Array, headerLength: number | string | null): Promise<SegmentBody> {
    const { deps } = this;
    const req = decodeInferRequest(bodyIn, headerLength === null ? null : String(headerLength));
    const s = await this.session();
    const feeds: Record<string, Tensor> = {};
    for (const t of req.inputs)
      feeds[t.name] =
        t.data instanceof Float32Array
          ? new deps.ort.Tensor('float32', t.data, t.shape)
          : new deps.ort.Tensor('int64', t.data, t.shape);
    // One run at a time: the isolate has one wasm instance.
    const job = this.queue.then(() => s.run(feeds));
    this.queue = job.catch(() => undefined);
    const results = (await job) as Record<string, Tensor>;
    const outputs: V2Tensor[] = Object.entries(results).map(([name, t]) => ({
      name,
      datatype: 'FP32',
      shape: [...t.dims],
      data: t.data as Float32Array,
    }));
    const out = encodeInferResponse(`${deps.tower}_${deps.index}`, outputs, true);
    const outBytes = outputs.reduce((a, o) => a + o.data.byteLength, 0);
    this.usage.jsRequestBytes = Math.max(this.usage.jsRequestBytes, bodyIn.length + outBytes + out.body.length);
    return { body: out.body, headerLength: out.headerLength ?? 0 };
  }

  async stats(): Promise<Record<string, unknown>> {
    const { deps, usage } = this;
    const seg = await this.segment().catch(() => undefined);
    const live: SegmentMemory = { ...usage, wasmAfterRunBytes: this.wasm(), batch: seg?.memory?.batch ?? 0 };
    return {
      tower: deps.tower,
      index: deps.index,
      precision: deps.precision,
      loaded: this.sessions.has('segment'),
      weight_bytes: seg?.externalData.reduce((a, e) => a + e.bytes, 0),
      wasm_bytes: this.wasm(),
      js_load_bytes: usage.jsLoadBytes,
      wasm_after_create_bytes: usage.wasmAfterCreateBytes,
      js_request_bytes: usage.jsRequestBytes,
      // wasm + JS buffers while serving and while loading; the build's measurements for comparison.
      serving_bytes: segmentServingBytes(live),
      loading_bytes: segmentLoadingBytes(live),
      measured_serving_bytes: seg?.memory ? segmentServingBytes(seg.memory) : null,
      measured_loading_bytes: seg?.memory ? segmentLoadingBytes(seg.memory) : null,
    };
  }
}

/** The segment's HTTP face: GET /stats, POST /load, POST /run (the gateway itself calls `run` over RPC). */
export function createSegmentApp(runner: SegmentRunner): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = isEdgeClipError(err) ? err.status : 500;
    return c.json(
      { error: { type: isEdgeClipError(err) ? err.code.toLowerCase() : 'internal', message: err.message } },
      status as 400,
    );
  });
  app.get('/stats', async (c) => c.json(await runner.stats()));
  // The gateway calls this on every segment at once before a tower's first run, so that they load in parallel.
  app.post('/load', async (c) => {
    await runner.load();
    return c.body(null, 204);
  });
  app.post('/run', async (c) => {
    const { body, headerLength } = await runner.run(
      new Uint8Array(await c.req.arrayBuffer()),
      c.req.header(HEADER_LENGTH) ?? null,
    );
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      'content-type': 'application/octet-stream',
      [HEADER_LENGTH]: String(headerLength),
    });
  });
  return app;
}
