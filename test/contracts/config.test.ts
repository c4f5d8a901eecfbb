import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startupError } from '../../src/app/middleware/error-handler.ts';
import { DEFAULTS, parseConfig, parseOriginServerConfig, parseSegmentConfig } from '../../src/contracts/config.ts';
import { ROOT } from '../helpers/paths.ts';

describe('configuration', () => {
  it('gives the Worker its defaults from MODEL_ID alone, and the origin block only with ORIGIN_URL', () => {
    const config = parseConfig({ MODEL_ID: 'm', MODELS: {}, PROMPTS: {} });
    expect(config).toMatchObject({ modelId: 'm', defaultPrecision: 'int8', maxInputs: 32, segmented: false });
    expect(config.queue).toEqual({
      maxTextWaitMs: 600,
      maxImageWaitMs: 10_000,
      imageSharePercent: 35,
      batchRows: 8,
      batchTokens: 128,
    });
    expect(config.origin).toBeUndefined();
    const withOrigin = parseConfig({
      MODEL_ID: 'm',
      ORIGIN_URL: 'https://gpu.example',
      ORIGIN_TOKEN: 't',
      ORIGIN_TIMEOUT_MS: '500',
    });
    expect(withOrigin.origin).toMatchObject({ url: 'https://gpu.example', timeoutMs: 500, modelPrefix: 'edgeclip' });
    expect(parseConfig({ MODEL_ID: 'm', CACHE_TTL_SECONDS: '0', SEGMENTED: 'true' })).toMatchObject({
      cacheTtlSeconds: 0,
      segmented: true,
    });
  });

  it.each([
    [{}, /MODEL_ID is missing/],
    [{ MAX_INPUTS: '0' }, /MAX_INPUTS must be an integer ≥ 1 \(got "0"\)/],
    [{ MAX_INPUTS: '12abc' }, /MAX_INPUTS must be an integer/],
    [{ MAX_INPUTS: '1e3' }, /MAX_INPUTS must be an integer/],
    [{ DEFAULT_PRECISION: 'int4' }, /DEFAULT_PRECISION must be one of fp32, int8 \(got "int4"\)/],
    [{ SEGMENTED: 'yes' }, /SEGMENTED must be one of true, false/],
    [{ ORIGIN_URL: 'gpu.example:8000' }, /ORIGIN_URL must be an http\(s\) URL/],
    [{ ORIGIN_URL: 'http://gpu.example', ORIGIN_TOKEN: 'secret' }, /ORIGIN_URL must be https off loopback/],
    [{ ORIGIN_URL: 'https://gpu.example' }, /ORIGIN_TOKEN is missing: an origin off loopback needs a bearer token/],
    [
      { ORIGIN_URL: 'http://127.0.0.1:8790', ORIGIN_BREAKER_FAILURES: '-1' },
      /ORIGIN_BREAKER_FAILURES must be an integer ≥ 1/,
    ],
    [{ ADMIN_TOKEN: 'short-admin-token' }, /ADMIN_TOKEN must be at least 32 characters \(got 17\)/],
    [{ IMAGE_SHARE_PERCENT: '101' }, /IMAGE_SHARE_PERCENT must be from 0 to 100 \(got 101\)/],
    [{ MAX_TEXT_WAIT_MS: '0' }, /MAX_TEXT_WAIT_MS must be an integer ≥ 1/],
  ])('stops the Worker on %j with a message naming the setting', (env, message) => {
    expect(() => parseConfig(Object.keys(env).length ? { MODEL_ID: 'm', ...env } : env)).toThrow(message);
  });

  it('validates a segment Worker’s tower, index, precision and engine', () => {
    expect(parseSegmentConfig({ MODEL_ID: 'm', SEGMENT_TOWER: 'text', SEGMENT_INDEX: '2' })).toEqual({
      modelId: 'm',
      tower: 'text',
      index: 2,
      precision: 'int8',
      engine: 'kernels',
    });
    expect(
      parseSegmentConfig({ MODEL_ID: 'm', SEGMENT_TOWER: 'text', SEGMENT_INDEX: '2', SEGMENT_ENGINE: 'onnxruntime' })
        .engine,
    ).toBe('onnxruntime');
    expect(() =>
      parseSegmentConfig({ MODEL_ID: 'm', SEGMENT_TOWER: 'text', SEGMENT_INDEX: '2', SEGMENT_ENGINE: 'tflite' }),
    ).toThrow(/SEGMENT_ENGINE must be one of onnxruntime, kernels/);
    expect(() => parseSegmentConfig({ MODEL_ID: 'm', SEGMENT_TOWER: 'audio', SEGMENT_INDEX: '0' })).toThrow(
      /SEGMENT_TOWER must be one of image, text/,
    );
    expect(() => parseSegmentConfig({ MODEL_ID: 'm', SEGMENT_TOWER: 'text' })).toThrow(/SEGMENT_INDEX is missing/);
    expect(() => parseSegmentConfig({ MODEL_ID: 'm', SEGMENT_TOWER: 'text', SEGMENT_INDEX: 'x' })).toThrow(
      /SEGMENT_INDEX must be an integer ≥ 0/,
    );
  });

  it('validates the origin server’s numbers and device', () => {
    expect(parseOriginServerConfig({ ORIGIN_PORT: '0' }, 'model-shards/x')).toMatchObject({
      modelDir: 'model-shards/x',
      port: 0,
      maxBatch: 16,
      device: 'auto',
    });
    expect(() => parseOriginServerConfig({}, undefined)).toThrow(/ORIGIN_MODEL_DIR is missing/);
    expect(() => parseOriginServerConfig({ ORIGIN_MAX_BATCH: 'lots' }, 'd')).toThrow(/ORIGIN_MAX_BATCH must be/);
    expect(() => parseOriginServerConfig({ ORIGIN_DEVICE: 'tpu' }, 'd')).toThrow(/ORIGIN_DEVICE must be one of/);
    // Beyond loopback only with a token; loopback (IPv4, IPv6, localhost) without.
    expect(() => parseOriginServerConfig({ ORIGIN_HOST: '0.0.0.0' }, 'd')).toThrow(/ORIGIN_TOKEN is missing/);
    expect(parseOriginServerConfig({ ORIGIN_HOST: '0.0.0.0', ORIGIN_TOKEN: 't' }, 'd').host).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', '::1', 'localhost'])
      expect(parseOriginServerConfig({ ORIGIN_HOST: host }, 'd').host).toBe(host);
  });

  it('a Worker whose settings are bad answers every request with the setting’s error as JSON', async () => {
    let error: unknown;
    try {
      parseConfig({ MODEL_ID: 'm', MAX_INPUTS: 'lots' });
    } catch (e) {
      error = e;
    }
    const res = startupError(error);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      error: { type: 'config_invalid', message: 'configuration MAX_INPUTS must be an integer ≥ 1 (got "lots")' },
    });
  });
});

describe('defaults live in one place', () => {
  /** The [vars] table of a wrangler config: `KEY = "value"` lines (the only form the project writes). */
  const vars = (toml: string) => {
    const section = toml.split(/^\[/m).find((s) => s.startsWith('vars]')) ?? '';
    return Object.fromEntries([...section.matchAll(/^(\w+)\s*=\s*"([^"]*)"/gm)].map((m) => [m[1], m[2]]));
  };

  it('wrangler.toml sets only what differs from src/contracts/config.ts, and only settings config.ts reads', () => {
    const set = vars(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8'));
    expect(set.MODEL_ID).toBeDefined();
    const known = new Set([...Object.keys(DEFAULTS), 'MODEL_ID', 'SEGMENTED', 'ORIGIN_URL']);
    for (const [key, value] of Object.entries(set)) {
      expect(known.has(key), `${key} is not a setting`).toBe(true);
      if (key in DEFAULTS)
        expect(value, `${key} repeats its default`).not.toBe(String(DEFAULTS[key as keyof typeof DEFAULTS]));
    }
    // And the config the Worker runs with is config.ts's defaults for everything wrangler.toml leaves out.
    expect(parseConfig(set)).toMatchObject({
      maxImagePixels: DEFAULTS.MAX_IMAGE_PIXELS,
      maxInputs: DEFAULTS.MAX_INPUTS,
    });
  });
});
