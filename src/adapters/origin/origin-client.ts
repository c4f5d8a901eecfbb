/**
 * Client of the GPU origin (Open Inference Protocol v2, binary tensor extension): timeouts, one retry on idempotent
 * failures, and a circuit breaker so that a down origin fails fast instead of holding every fp32 request.
 */
import type { OriginConfig } from '../../contracts/config.ts';
import { EdgeClipError } from '../../contracts/errors.ts';
import { decodeInferResponse, encodeInferRequest, HEADER_LENGTH } from '../../contracts/inference-protocol.ts';
import type { TowerName } from '../../contracts/manifest.ts';
import { IMAGE_OUTPUT, TEXT_OUTPUT } from '../../contracts/tensors.ts';
import type { Tower, TowerInput } from '../../model/ports.ts';
import { CircuitBreaker } from './circuit-breaker.ts';

export const originModelName = (prefix: string, tower: TowerName) => `${prefix}_${tower}`;

const RETRYABLE = new Set([502, 503, 504]);

export class OriginClient {
  readonly breaker: CircuitBreaker;

  constructor(
    readonly config: OriginConfig,
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
  ) {
    this.breaker = new CircuitBreaker(config.breakerThreshold, config.breakerCooldownMs);
  }

  private unavailable(message: string, cause?: unknown): EdgeClipError {
    const retryAfter = Math.max(1, Math.ceil(this.breaker.retryInMs() / 1000));
    return new EdgeClipError('ORIGIN_UNAVAILABLE', message, { cause, retryAfter });
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.config.token ? { authorization: `Bearer ${this.config.token}`, ...extra } : extra;
  }

  /** One attempt with a timeout; network errors and 502/503/504 are retryable (inference is idempotent). */
  private async attempt(path: string, init: RequestInit): Promise<Response> {
    const res = await this.fetcher(`${this.config.url.replace(/\/$/, '')}${path}`, {
      ...init,
      signal: AbortSignal.timeout(this.config.timeoutMs),
    });
    if (RETRYABLE.has(res.status)) throw new Error(`origin answered ${res.status}`);
    return res;
  }

  async request(path: string, init: RequestInit): Promise<Response> {
    if (!this.breaker.tryAcquire())
      throw this.unavailable('the GPU origin is unavailable (circuit open after repeated failures)');
    let lastError: unknown;
    for (let i = 0; i < 2; i++) {
      try {
        const res = await this.attempt(path, init);
        // A 4xx is the origin working correctly and refusing us: not an availability failure.
        this.breaker.success();
        return res;
      } catch (e) {
        lastError = e;
      }
    }
    this.breaker.failure();
    const reason =
      lastError instanceof Error
        ? lastError.name === 'TimeoutError'
          ? `no answer within ${this.config.timeoutMs} ms`
          : lastError.message
        : String(lastError);
    throw this.unavailable(`the GPU origin failed: ${reason}`, lastError);
  }

  /**
   * Server ready and both tower models ready (GET /v2/health/ready, /v2/models/{m}/ready). Probes go around the
   * circuit breaker: a readiness poll must neither open the circuit nor use up its half-open trial request.
   */
  async ready(buildHash: string): Promise<boolean> {
    try {
      const paths = [
        '/v2/health/ready',
        ...(['image', 'text'] as const).map((t) => `${this.modelPath(t, buildHash)}/ready`),
      ];
      for (const path of paths) if (!(await this.attempt(path, { headers: this.headers() })).ok) return false;
      return true;
    } catch {
      return false;
    }
  }

  /** The model at the edge's own build: an origin serving another build answers 404 (OIP model versions). */
  private modelPath(tower: TowerName, buildHash: string): string {
    return `/v2/models/${originModelName(this.config.modelPrefix, tower)}/versions/${buildHash}`;
  }

  /** The origin's `tower` of the build `buildHash()` names (the edge's manifest, read when a request runs). */
  tower(tower: TowerName, buildHash: () => Promise<string>): Tower {
    const model = originModelName(this.config.modelPrefix, tower);
    const output = tower === 'image' ? IMAGE_OUTPUT : TEXT_OUTPUT;
    return {
      run: async (inputName: string, data: TowerInput, dims: readonly number[]) => {
        const build = await buildHash();
        const datatype = data instanceof Float32Array ? 'FP32' : 'INT64';
        const { body, headerLength } = encodeInferRequest(
          [{ name: inputName, datatype, shape: [...dims], data }],
          [output],
        );
        const res = await this.request(`${this.modelPath(tower, build)}/infer`, {
          method: 'POST',
          headers: this.headers({ 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(headerLength) }),
          body: body as Uint8Array<ArrayBuffer>,
        });
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (!res.ok) {
          const detail = new TextDecoder().decode(bytes.subarray(0, 300));
          throw new EdgeClipError(
            'ORIGIN_UNAVAILABLE',
            `the GPU origin refused ${model}: HTTP ${res.status} ${detail}`,
            { retryAfter: 30 },
          );
        }
        const answer = decodeInferResponse(bytes, res.headers.get(HEADER_LENGTH));
        if (answer.modelVersion !== build)
          throw new EdgeClipError(
            'ORIGIN_UNAVAILABLE',
            `the GPU origin answered for build ${answer.modelVersion ?? '(none named)'}, not this edge's ${build}`,
          );
        const out = answer.outputs.find((t) => t.name === output);
        if (!out || !(out.data instanceof Float32Array))
          throw new EdgeClipError('ORIGIN_UNAVAILABLE', `the GPU origin's answer has no FP32 ${output}`);
        // What the edge caches for a week must be one finite row per input: anything else is refused, not stored.
        const [rows, width] = out.shape;
        if (out.shape.length !== 2 || rows !== dims[0] || !(width > 0) || out.data.length !== rows * width)
          throw new EdgeClipError(
            'ORIGIN_UNAVAILABLE',
            `the GPU origin answered ${output} of shape [${out.shape}] for ${dims[0]} input(s)`,
          );
        if (!out.data.every(Number.isFinite))
          throw new EdgeClipError('ORIGIN_UNAVAILABLE', `the GPU origin answered ${output} with non-finite values`);
        return out.data;
      },
    };
  }
}
