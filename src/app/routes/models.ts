/**
 * GET /v1/models (what is served and what is loaded), /healthz (process up), /readyz (every tower of the default
 * precision can be served: manifest readable, files present, no failed load, segment Workers answering).
 */
import { Hono } from 'hono';
import { TOWERS } from '../../contracts/manifest.ts';
import type { AppEnv } from '../app-env.ts';
import { doc } from '../openapi.ts';
import type { ApiSchemas } from '../schemas.ts';

export function modelRoutes(api: ApiSchemas) {
  return new Hono<AppEnv>()
    .get('/healthz', doc({ summary: 'The process is up', tag: 'service', ok: api.Health, errors: [] }), (c) =>
      c.json({ status: 'ok' as const }),
    )
    .get(
      '/readyz',
      doc({
        summary: 'Every tower of the default precision can be served (503 with the reason otherwise)',
        tag: 'service',
        ok: api.Ready,
        errors: [503],
      }),
      async (c) => {
        const notReady = (message: string) => {
          c.header('retry-after', '5');
          return c.json({ status: 'not_ready', error: { type: 'model_not_ready', message } }, 503);
        };
        try {
          const { model, origin, config, segmentStats } = c.get('deps');
          const m = await model.manifest();
          const problems = (await Promise.all(TOWERS.map((t) => model.problem(t, config.defaultPrecision)))).filter(
            (p): p is string => p !== undefined,
          );
          const downSegments = segmentStats ? (await segmentStats()).filter((s) => 'error' in s) : [];
          for (const s of downSegments) problems.push(`segment ${s.tower}/${s.index} is unavailable (${s.error})`);
          if (problems.length) return notReady(problems.join('; '));
          // int8 is served here either way: an unready origin is reported, not a reason to take the edge out.
          const originState = origin ? ((await origin.ready(m.buildHash)) ? 'ready' : 'unavailable') : 'not_configured';
          return c.json({ status: 'ready', model: m.modelId, build_hash: m.buildHash, origin: originState });
        } catch (e) {
          return notReady((e as Error).message);
        }
      },
    )
    .get(
      '/v1/models',
      doc({
        summary: 'The served model: build, weights, towers, what is loaded, memory, origin, segments',
        tag: 'service',
        ok: api.Models,
        errors: [502, 503],
      }),
      async (c) => {
        const { model, wasmMemoryBytes, config, origin, segmentStats } = c.get('deps');
        const m = await model.manifest();
        const towers = Object.fromEntries(
          TOWERS.map((t) => [
            t,
            Object.fromEntries(
              Object.entries(m.towers[t]).map(([p, b]) => [
                p,
                {
                  weight_bytes: b?.weightBytes,
                  segments: b?.segments.length,
                  loaded: model.isLoaded(t, b!.precision),
                  // int8 builds: how far they are from fp32 on the build's calibration inputs.
                  ...(b?.drift
                    ? {
                        drift: {
                          min_cos: b.drift.minCos,
                          mean_cos: b.drift.meanCos,
                          rows: b.drift.rows,
                          calibration: b.drift.calibration,
                          ...(b.drift.illConditioned ? { ill_conditioned_rows: b.drift.illConditioned } : {}),
                        },
                      }
                    : {}),
                  // int8 builds: where precision is spent (fp32 channels, linears kept fp32 by the accuracy search).
                  ...(b?.int8Plan
                    ? {
                        int8_plan: {
                          fp32_channels: b.int8Plan.fp32Channels,
                          linears_with_fp32_channels: b.int8Plan.channelLinears,
                          fp32_linears: b.int8Plan.fp32Linears,
                          search_rounds: b.int8Plan.searchRounds,
                          search_spent_bytes: b.int8Plan.spentBytes,
                        },
                      }
                    : {}),
                },
              ]),
            ),
          ]),
        );
        return c.json({
          object: 'list',
          data: [
            {
              id: m.modelId,
              object: 'model',
              owned_by: 'edge-clip',
              build_hash: m.buildHash,
              weights: m.weights,
              embed_dim: m.embedDim,
              default_precision: config.defaultPrecision,
              image_size: m.preprocess.size,
              context_length: m.tokenizer.contextLength,
              towers,
              memory: { wasm_bytes: wasmMemoryBytes?.() ?? null },
              // Not its URL: a caller who knows it could skip every limit of the edge.
              origin: origin ? { precisions: ['fp32'], circuit: origin.breaker.state } : null,
              loads: model.loads,
              // The isolate's queue: work admitted and not done (image segments, prompts), ms per unit, steps waiting,
              // prompt batches run, image runs started and joined.
              queue: model.queueStats() ?? null,
              segments: segmentStats ? await segmentStats() : null,
            },
          ],
        });
      },
    );
}
