/** Label-set administration: list, describe, upload (prebuilt blob or computed at the edge), delete. */
import { Hono } from 'hono';
import { classifierOf, decodeClassifier } from '../../contracts/classifier-blob.ts';
import { EdgeClipError, quoteInput } from '../../contracts/errors.ts';
import { checkLabelsetName, DEFAULT_TEMPLATES } from '../../contracts/labelset.ts';
import { labelSetClassifier } from '../../model/pipelines/classify.ts';
import type { AppEnv } from '../app-env.ts';
import { adminAuth } from '../middleware/admin-auth.ts';
import { doc } from '../openapi.ts';
import { readBody } from '../request-body.ts';
import { invalid, precisionFor } from '../request-options.ts';
import type { ApiSchemas } from '../schemas.ts';
import { check, queryParams } from '../validate.ts';
import { PROMPT_BATCH, requireStore } from './classify.ts';

export function labelsetRoutes(api: ApiSchemas) {
  return new Hono<AppEnv>()
    .get(
      '/v1/labelsets',
      doc({ summary: 'The label sets stored for this model', tag: 'label sets', ok: api.LabelsetList, errors: [503] }),
      async (c) => {
        const m = await c.get('deps').model.manifest();
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
        query: api.LabelsetQuery,
        ok: api.LabelsetInfo,
        errors: [400, 404, 409, 503],
      }),
      queryParams(api.LabelsetQuery),
      async (c) => {
        const m = await c.get('deps').model.manifest();
        const precision = await precisionFor(c, 'text', c.req.valid('query').precision);
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
        const { config, model } = c.get('deps');
        const store = requireStore(c);
        const m = await model.manifest();
        const name = checkLabelsetName(c.req.param('name'));
        const type = c.req.header('content-type') ?? '';
        const blob = /^application\/octet-stream/i.test(type);
        // Labels and templates are text: a JSON body is read only up to what text needs, a blob up to the body limit.
        const bytes = await readBody(c.req.raw, blob ? config.maxBodyBytes : config.maxJsonBytes);
        if (blob) {
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
        const set = { name, labels: (body.labels ?? body.classnames)!, templates: body.templates ?? DEFAULT_TEMPLATES };
        const prompts = set.labels.length * set.templates.length;
        const precision = await precisionFor(c, 'text', body.precision);
        const built = await labelSetClassifier(model, set, {
          precision,
          timing: c.get('timing'),
          cache: c.get('cache'),
          batch: PROMPT_BATCH,
          maxPromptChars: config.maxTextChars,
          signal: c.get('signal'),
        });
        const key = await store.put(m, classifierOf(m, set, precision, 'float16', built.weights));
        return c.json({ name, key, labels: set.labels.length, prompts, encoded: built.computed, computed: true }, 201);
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
        const m = await c.get('deps').model.manifest();
        const n = await requireStore(c).delete(m, c.req.param('name'));
        if (n === 0)
          throw new EdgeClipError('NOT_FOUND', `label set ${c.req.param('name')} does not exist for this build`);
        return c.json({ name: c.req.param('name'), deleted: n });
      },
    );
}
