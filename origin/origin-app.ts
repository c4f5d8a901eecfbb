/** The GPU origin: a subset of the Open Inference Protocol v2 (what Triton serves) over the fp32 towers. */
import { Hono } from 'hono';
import { constantTimeEqual } from '../src/contracts/constant-time.ts';
import { EdgeClipError, isEdgeClipError } from '../src/contracts/errors.ts';
import { decodeInferRequest, encodeInferResponse, HEADER_LENGTH } from '../src/contracts/inference-protocol.ts';
import type { TensorSpec } from '../src/contracts/tensors.ts';
import type { DynamicBatcher } from './dynamic-batcher.ts';

export interface OriginModel {
  name: string;
  input: TensorSpec;
  output: TensorSpec;
  batcher: DynamicBatcher;
}

export interface OriginDeps {
  models: Map<string, OriginModel>;
  token?: string;
  maxBodyBytes: number;
}

const V2_DATATYPE = { float32: 'FP32', int64: 'INT64' } as Record<string, string>;

function v2Shape(spec: TensorSpec): number[] {
  return spec.dims.map((d) => (typeof d === 'number' ? d : -1));
}

export function createOriginApp(deps: OriginDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = isEdgeClipError(err) ? err.status : 500;
    if (status >= 500) console.error(err);
    return c.json({ error: isEdgeClipError(err) ? err.message : 'internal error' }, status as 400);
  });
  app.use('/v2/*', async function bearerAuth(c, next) {
    // Health probes stay open for load balancers; everything else needs the token.
    if (deps.token && !c.req.path.startsWith('/v2/health/')) {
      const m = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !(await constantTimeEqual(m[1], deps.token)))
        return c.json({ error: 'missing or wrong bearer token' }, 401);
    }
    await next();
  });
  const model = (name: string): OriginModel => {
    const m = deps.models.get(name);
    if (!m) throw new EdgeClipError('NOT_FOUND', `unknown model ${name} (have ${[...deps.models.keys()].join(', ')})`);
    return m;
  };

  app.get('/v2/health/live', (c) => c.json({ live: true }));
  app.get('/v2/health/ready', (c) => c.json({ ready: true }));
  app.get('/v2', (c) =>
    c.json({ name: 'edge-clip-origin', version: '0.1.0', extensions: ['binary_tensor_data', 'statistics'] }),
  );
  app.get('/v2/models/:name/ready', (c) => {
    model(c.req.param('name'));
    return c.json({ name: c.req.param('name'), ready: true });
  });
  app.get('/v2/models/:name', (c) => {
    const m = model(c.req.param('name'));
    return c.json({
      name: m.name,
      versions: ['1'],
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
        },
      ],
    });
  });
  app.post('/v2/models/:name/infer', async (c) => {
    const m = model(c.req.param('name'));
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > deps.maxBodyBytes)
      throw new EdgeClipError('PAYLOAD_TOO_LARGE', `body exceeds ${deps.maxBodyBytes} bytes`);
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.length > deps.maxBodyBytes)
      throw new EdgeClipError('PAYLOAD_TOO_LARGE', `body exceeds ${deps.maxBodyBytes} bytes`);
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
    if (!ok)
      throw new EdgeClipError('INVALID_INPUT', `${m.input.name} shape [${input.shape}] does not fit [${expected}]`);
    const rows = await m.batcher.submit(input.data, input.shape);
    const out = {
      name: m.output.name,
      datatype: 'FP32' as const,
      shape: [input.shape[0], rows.length / input.shape[0]],
      data: rows,
    };
    // Answer in binary when asked for (or when the request itself used the binary extension).
    const binary = req.outputs.length > 0 ? req.outputs.some((o) => o.binary) : headerLength !== undefined;
    const res = encodeInferResponse(m.name, [out], binary, req.id);
    const headers: Record<string, string> = {
      'content-type': binary ? 'application/octet-stream' : 'application/json',
    };
    if (res.headerLength !== undefined) headers[HEADER_LENGTH] = String(res.headerLength);
    return c.body(res.body as Uint8Array<ArrayBuffer>, 200, headers);
  });
  return app;
}
