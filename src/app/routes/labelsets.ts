/** Label-set administration: list, describe, upload (prebuilt blob or computed at the edge), delete. */
import { Hono } from 'hono';
import { decodeClassifier } from '../../contracts/classifier-blob.ts';
import { EdgeClipError, quoteInput } from '../../contracts/errors.ts';
import { checkLabelsetName, parseLabelSet } from '../../contracts/labelset.ts';
import { adHocClassifier } from '../../model/classify.ts';
import type { AppEnv } from '../app-env.ts';
import { adminAuth } from '../middleware/admin-auth.ts';
import { doc } from '../openapi.ts';
import { readBody } from '../request-body.ts';
import { invalid, resolvePrecision } from '../request-options.ts';
import type { ApiSchemas } from '../schemas.ts';
import { check } from '../validate.ts';
import { requireStore } from './classify.ts';

export function labelsetRoutes(api: ApiSchemas) {
  return new Hono<AppEnv>()
    .get(
      '/v1/labelsets',
      doc({ summary: 'The label sets stored for this model', tag: 'label sets', ok: api.LabelsetList, errors: [503] }),
      async (c) => {
        const m = await c.get('deps').models.manifest();
        const entries = await requireStore(c).list(m);
        return c.json({
          model: m.modelId,
          build_hash: m.buildHash,
          data: entries.map((e) => ({ name: e.name, precision: e.precision, build_hash: e.buildHash, stale: e.stale })),
        });
      },
    )
    .get(
      '/v1/labelsets/:name',
      doc({
        summary: 'One label set: labels, templates, dimensions',
        tag: 'label sets',
        ok: api.LabelsetInfo,
        errors: [400, 404, 409, 503],
      }),
      async (c) => {
        const m = await c.get('deps').models.manifest();
        const precision = await resolvePrecision(c, 'text', undefined);
        const { header } = await requireStore(c).get(m, c.req.param('name'), precision);
        return c.json({
          name: header.name,
          labels: header.labels,
          templates: header.templates,
          dims: [header.labels.length, header.dim],
          dtype: header.dtype,
          build_hash: header.buildHash,
          precision: header.precision,
          created_at: header.createdAt,
        });
      },
    )
    .put(
      '/v1/labelsets/:name',
      doc({
        summary:
          'Store a label set: JSON {labels, templates?} computed at the edge, or a prebuilt blob (application/octet-stream, edge-clip prompts build)',
        tag: 'label sets',
        body: { json: api.LabelsetPut },
        ok: api.LabelsetStored,
        okStatus: 201,
        errors: [400, 401, 403, 413, 503],
        admin: true,
      }),
      adminAuth,
      async (c) => {
        const { config, models } = c.get('deps');
        const store = requireStore(c);
        const m = await models.manifest();
        const name = checkLabelsetName(c.req.param('name'));
        const type = c.req.header('content-type') ?? '';
        const bytes = await readBody(c.req.raw, config.maxBodyBytes);
        if (/^application\/octet-stream/i.test(type)) {
          const classifier = decodeClassifier(bytes);
          if (classifier.header.name !== name)
            throw invalid(`the blob is label set ${quoteInput(classifier.header.name)}, not ${name}`);
          const key = await store.put(m, classifier);
          return c.json({ name, key, labels: classifier.header.labels.length, computed: false }, 201);
        }
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder().decode(bytes));
        } catch {
          throw invalid('send a label set as JSON {labels, templates?} or a prebuilt blob as application/octet-stream');
        }
        const body = check(api.LabelsetPut, json);
        const set = parseLabelSet({ ...body, name }, name);
        const prompts = set.labels.length * set.templates.length;
        if (prompts > config.maxEdgePrompts) {
          throw new EdgeClipError(
            'PAYLOAD_TOO_LARGE',
            `${prompts} prompts is more than the ${config.maxEdgePrompts} computed at the edge; build it with edge-clip prompts build and upload the blob`,
          );
        }
        const precision = await resolvePrecision(c, 'text', body.precision);
        const { rows, encoded } = await adHocClassifier(models, store, set, precision, c.get('timing'));
        const key = await store.put(m, {
          header: {
            schema: 'edge-clip.classifier/v1',
            name,
            modelId: m.modelId,
            buildHash: m.buildHash,
            precision,
            dtype: 'float16',
            labels: set.labels,
            templates: set.templates,
            dim: m.embedDim,
            createdAt: new Date().toISOString(),
          },
          weights: rows,
        });
        return c.json({ name, key, labels: set.labels.length, prompts, encoded, computed: true }, 201);
      },
    )
    .delete(
      '/v1/labelsets/:name',
      doc({
        summary: 'Delete a label set',
        tag: 'label sets',
        ok: api.LabelsetDeleted,
        errors: [401, 403, 404, 503],
        admin: true,
      }),
      adminAuth,
      async (c) => {
        const m = await c.get('deps').models.manifest();
        const n = await requireStore(c).delete(m, c.req.param('name'));
        if (n === 0)
          throw new EdgeClipError('NOT_FOUND', `label set ${c.req.param('name')} does not exist for this build`);
        return c.json({ name: c.req.param('name'), deleted: n });
      },
    );
}
