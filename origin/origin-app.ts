/** The GPU origin: a subset of the Open Inference Protocol v2 (what Triton serves) over the fp32 towers. */
import { type Context, Hono } from 'hono';
import { readBody } from '../src/app/request-body.ts';
import { constantTimeEqual } from '../src/contracts/constant-time.ts';
import { EdgeClipError, isEdgeClipError } from '../src/contracts/errors.ts';
import { decodeInferRequest, encodeInferResponse, HEADER_LENGTH } from '../src/contracts/inference-protocol.ts';
import type { TensorSpec } from '../src/contracts/tensors.ts';
import type { TowerInput } from '../src/model/ports.ts';
import type { DynamicBatcher } from './dynamic-batcher.ts';
import type { OriginMetrics } from './metrics.ts';

export interface OriginModel {
  name: string;
  input: TensorSpec;
  output: TensorSpec;
  batcher: DynamicBatcher;
  limits: InputLimits;
}

/** What one request may ask of a model, checked before it joins a batch (so that a bad request fails alone). */
export interface InputLimits {
  /** Rows (images, prompts) in one request. */
  maxRows: number;
  /** Rows waiting for the device; a request beyond it is answered 503 at once. */
  maxQueuedRows: number;
  /** Token ids: at most this many per row, each from 0 to `maxId`. */
  maxSequence?: number;
  maxId?: number;
}

export interface OriginDeps {
  models: Map<string, OriginModel>;
  /** Prometheus metrics (GET /metrics), fed by the batchers and the infer route. */
  metrics: OriginMetrics;
  /**
   * The build it serves (the manifest's buildHash): its models' only version. The edge asks for its own build's
   * version, so an origin serving another build answers 404 instead of embeddings the edge would cache for a week.
   */
  version: string;
  token?: string;
  maxBodyBytes: number;
}

const V2_DATATYPE = { float32: 'FP32', int64: 'INT64' } as Record<string, string>;

function v2Shape(spec: TensorSpec): number[] {
  return spec.dims.map((d) => (typeof d === 'number' ? d : -1));
}

function checkLimits(m: OriginModel, shape: number[], data: TowerInput): void {
  const { maxRows, maxQueuedRows, maxSequence, maxId } = m.limits;
  if (shape[0] > maxRows)
    throw new EdgeClipError('PAYLOAD_TOO_LARGE', `${shape[0]} rows; ${m.name} takes at most ${maxRows} a request`);
  if (maxSequence !== undefined && shape[1] > maxSequence)
    throw new EdgeClipError('INVALID_INPUT', `${shape[1]} tokens a row; ${m.name} takes at most ${maxSequence}`);
  if (maxId !== undefined && data instanceof BigInt64Array)
    for (const id of data)
      if (id < 0n || id > BigInt(maxId))
        throw new EdgeClipError('INVALID_INPUT', `token id ${id} is outside 0–${maxId}`);
  if (m.batcher.queuedRows + shape[0] > maxQueuedRows)
    throw new EdgeClipError('ORIGIN_UNAVAILABLE', `${m.name} has ${m.batcher.queuedRows} rows waiting; retry shortly`, {
      retryAfter: 1,
    });
}

export function createOriginApp(deps: OriginDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = isEdgeClipError(err) ? err.status : 500;
    if (status >= 500) console.error(err);
    const headers: Record<string, string> =
      isEdgeClipError(err) && err.retryAfter !== undefined ? { 'retry-after': String(err.retryAfter) } : {};
    return c.json({ error: isEdgeClipError(err) ? err.message : 'internal error' }, status as 400, headers);
  });
  app.use('*', async function bearerAuth(c, next) {
    // Health probes stay open for load balancers; everything else, /metrics included, needs the token.
    if (deps.token && !c.req.path.startsWith('/v2/health/')) {
      const m = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !(await constantTimeEqual(m[1], deps.token)))
        return c.json({ error: 'missing or wrong bearer token' }, 401);
    }
    await next();
  });
  const model = (name: string, version?: string): OriginModel => {
    const m = deps.models.get(name);
    if (!m) throw new EdgeClipError('NOT_FOUND', `unknown model ${name} (have ${[...deps.models.keys()].join(', ')})`);
    if (version !== undefined && version !== deps.version)
      throw new EdgeClipError(
        'NOT_FOUND',
        `model ${name} version ${version.slice(0, 64)} is not served here: this origin serves build ${deps.version}`,
      );
    return m;
  };
  const versioned = (path: string) => [path, path.replace(':name', ':name/versions/:version')];
  // Routed both ways (a route list loses Hono's param typing): the name is always there.
  const target = (c: Context) => model(c.req.param('name') ?? '', c.req.param('version'));

  app.get('/v2/health/live', (c) => c.json({ live: true }));
  app.get('/v2/health/ready', (c) => c.json({ ready: true }));
  app.get('/metrics', async (c) =>
    c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType }),
  );
  app.get('/v2', (c) =>
    c.json({ name: 'edge-clip-origin', version: '0.1.0', extensions: ['binary_tensor_data', 'statistics'] }),
  );
  app.on('GET', versioned('/v2/models/:name/ready'), (c) => {
    return c.json({ name: target(c).name, ready: true });
  });
  app.on('GET', versioned('/v2/models/:name'), (c) => {
    const m = target(c);
    return c.json({
      name: m.name,
      versions: [deps.version],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: m.input.name, datatype: V2_DATATYPE[m.input.dtype], shape: v2Shape(m.input) }],
      outputs: [{ name: m.output.name, datatype: V2_DATATYPE[m.output.dtype], shape: v2Shape(m.output) }],
    });
  });
  app.get('/v2/models/:name/stats', (c) => {
    const m = model(c.req.param('name'));
    return c.json({
      model_stats: [
        {
          name: m.name,
          version: '1',
          inference_count: m.batcher.stats.inferenceCount,
          execution_count: m.batcher.stats.executionCount,
          // Not in Triton's statistics: requests dropped from the queue because their client left.
          cancelled_count: m.batcher.stats.cancelledCount,
        },
      ],
    });
  });
  const infer = async (c: Context, m: OriginModel): Promise<Response> => {
    // Counted as it streams in: a chunked body has no length to check first.
    const body = await readBody(c.req.raw, deps.maxBodyBytes);
    const headerLength = c.req.header(HEADER_LENGTH);
    const req = decodeInferRequest(body, headerLength);
    const input = req.inputs.find((t) => t.name === m.input.name);
    if (!input || req.inputs.length !== 1)
      throw new EdgeClipError('INVALID_INPUT', `model ${m.name} takes exactly one input, ${m.input.name}`);
    if (input.datatype !== V2_DATATYPE[m.input.dtype])
      throw new EdgeClipError('INVALID_INPUT', `${m.input.name} must be ${V2_DATATYPE[m.input.dtype]}`);
    const expected = v2Shape(m.input);
    const ok =
      input.shape.length === expected.length &&
      input.shape[0] > 0 &&
      expected.every((d, i) => i === 0 || d === -1 || d === input.shape[i]);
    if (!ok || !input.shape.every((d) => d > 0))
      throw new EdgeClipError('INVALID_INPUT', `${m.input.name} shape [${input.shape}] does not fit [${expected}]`);
    checkLimits(m, input.shape, input.data);
    // A client that leaves (the edge timed out) takes its request out of the queue: its retry does not double the work.
    const rows = await m.batcher.submit(input.data, input.shape, c.req.raw.signal);
    const out = {
      name: m.output.name,
      datatype: 'FP32' as const,
      shape: [input.shape[0], rows.length / input.shape[0]],
      data: rows,
    };
    // Answer in binary when asked for (or when the request itself used the binary extension).
    const binary = req.outputs.length > 0 ? req.outputs.some((o) => o.binary) : headerLength !== undefined;
    const res = encodeInferResponse(m.name, [out], binary, req.id, deps.version);
    const headers: Record<string, string> = {
      'content-type': binary ? 'application/octet-stream' : 'application/json',
    };
    if (res.headerLength !== undefined) headers[HEADER_LENGTH] = String(res.headerLength);
    return c.body(res.body as Uint8Array<ArrayBuffer>, 200, headers);
  };
  app.on('POST', versioned('/v2/models/:name/infer'), async (c) => {
    const m = target(c);
    const t0 = performance.now();
    try {
      const res = await infer(c, m);
      deps.metrics.request(m.name, deps.version, true, performance.now() - t0);
      return res;
    } catch (e) {
      deps.metrics.request(m.name, deps.version, false, performance.now() - t0);
      throw e;
    }
  });
  return app;
}
