/** POST /v1/embeddings (OpenAI-compatible, text or data-URI images) and POST /v1/images/embeddings (raw or multipart). */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { type Embeddings, embedImages, embedTexts } from '../../model/embed.ts';
import type { Orientation } from '../../model/image/preprocess-image.ts';
import { decodeBase64, encodeBase64 } from '../../shared/base64.ts';
import { EdgeClipError } from '../../shared/errors.ts';
import { PRECISIONS, type Precision, type TowerName } from '../../shared/manifest.ts';
import type { AppEnv } from '../app-env.ts';
import { readBody, readJson } from '../request-body.ts';

const invalid = (message: string) => new EdgeClipError('INVALID_INPUT', message);

async function resolvePrecision(c: Context<AppEnv>, tower: TowerName, requested: unknown): Promise<Precision> {
  const { config, models } = c.get('deps');
  const precision = requested ?? c.req.query('precision') ?? config.defaultPrecision;
  if (typeof precision !== 'string' || !(PRECISIONS as readonly string[]).includes(precision)) {
    throw invalid(`precision must be one of ${PRECISIONS.join(', ')}`);
  }
  const manifest = await models.manifest();
  if (!manifest.towers[tower][precision as Precision]) {
    const have = Object.keys(manifest.towers[tower]).join(', ');
    throw invalid(`this build has no ${precision} ${tower} tower (it has ${have})`);
  }
  return precision as Precision;
}

function resolveOrientation(value: unknown): Orientation {
  const v = value ?? 'ignore';
  if (v !== 'ignore' && v !== 'exif') throw invalid('orientation must be "ignore" or "exif"');
  return v;
}

async function checkModel(c: Context<AppEnv>, model: unknown): Promise<string> {
  const { modelId } = await c.get('deps').models.manifest();
  if (model !== undefined && model !== modelId)
    throw new EdgeClipError('NOT_FOUND', `model ${String(model)} is not served here (this worker serves ${modelId})`);
  return modelId;
}

function respond(
  c: Context<AppEnv>,
  model: string,
  precision: Precision,
  emb: Embeddings,
  format: 'float' | 'base64',
  usage: Record<string, unknown>,
) {
  const data = [];
  for (let i = 0; i < emb.data.length / emb.dim; i++) {
    const row = emb.data.subarray(i * emb.dim, (i + 1) * emb.dim);
    const embedding =
      format === 'base64' ? encodeBase64(new Uint8Array(row.buffer, row.byteOffset, row.byteLength)) : Array.from(row);
    data.push({ object: 'embedding', index: i, embedding });
  }
  c.header('x-precision', precision);
  c.header('server-timing', c.get('timing').header());
  return c.json({ object: 'list', data, model, precision, usage });
}

const DATA_URI = /^data:(image\/[\w.+-]+)?(;[\w=.-]+)*;base64,/i;

export const embeddingsRoutes = new Hono<AppEnv>()
  .post('/v1/embeddings', async (c) => {
    const { config, models } = c.get('deps');
    const body = await readJson(c.req.raw, config.maxBodyBytes);
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (!Array.isArray(inputs) || inputs.length === 0)
      throw invalid('input must be a string or a non-empty array of strings');
    if (inputs.length > config.maxInputs)
      throw new EdgeClipError(
        'PAYLOAD_TOO_LARGE',
        `at most ${config.maxInputs} inputs per request (got ${inputs.length})`,
      );
    if (!inputs.every((s) => typeof s === 'string')) throw invalid('every input must be a string');
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') throw invalid('encoding_format must be "float" or "base64"');
    const modality = body.modality ?? 'text';
    if (modality !== 'text' && modality !== 'image') throw invalid('modality must be "text" or "image"');
    const model = await checkModel(c, body.model);
    const timing = c.get('timing');

    if (modality === 'image') {
      const precision = await resolvePrecision(c, 'image', body.precision);
      const images = (inputs as string[]).map((s, i) => {
        const m = DATA_URI.exec(s);
        if (!m) throw invalid(`input[${i}] must be a data:image/...;base64, URI`);
        return decodeBase64(s.slice(m[0].length));
      });
      const emb = await embedImages(models, images, precision, timing, {
        orientation: resolveOrientation(body.orientation),
        maxPixels: config.maxImagePixels,
      });
      return respond(c, model, precision, emb, format, { images: images.length, prompt_tokens: 0, total_tokens: 0 });
    }
    const precision = await resolvePrecision(c, 'text', body.precision);
    for (const [i, s] of (inputs as string[]).entries()) {
      if (s.length > config.maxTextChars)
        throw new EdgeClipError(
          'PAYLOAD_TOO_LARGE',
          `input[${i}] has ${s.length} characters; the limit is ${config.maxTextChars}`,
        );
    }
    const emb = await embedTexts(models, inputs as string[], precision, timing);
    const tokens = emb.tokens.reduce((a, b) => a + b, 0);
    return respond(c, model, precision, emb, format, {
      prompt_tokens: tokens,
      total_tokens: tokens,
      truncated_inputs: emb.truncated,
    });
  })
  .post('/v1/images/embeddings', async (c) => {
    const { config, models } = c.get('deps');
    const type = c.req.header('content-type') ?? '';
    const bytes = await readBody(c.req.raw, config.maxBodyBytes);
    let image: Uint8Array;
    if (/^image\//i.test(type) || /^application\/octet-stream/i.test(type)) {
      image = bytes;
    } else if (/^multipart\/form-data/i.test(type)) {
      let form: FormData;
      try {
        form = await new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': type } }).formData();
      } catch {
        throw invalid('malformed multipart/form-data body');
      }
      const file: unknown = form.get('image');
      if (!(file instanceof Blob)) throw invalid('multipart body needs a file field named "image"');
      image = new Uint8Array(await file.arrayBuffer());
    } else {
      throw new EdgeClipError(
        'UNSUPPORTED_MEDIA_TYPE',
        `send the image as image/* or multipart/form-data (got ${type || 'no content type'})`,
      );
    }
    if (image.length === 0) throw new EdgeClipError('UNPROCESSABLE_IMAGE', 'empty image');
    const model = await checkModel(c, c.req.query('model'));
    const precision = await resolvePrecision(c, 'image', undefined);
    const emb = await embedImages(models, [image], precision, c.get('timing'), {
      orientation: resolveOrientation(c.req.query('orientation')),
      maxPixels: config.maxImagePixels,
    });
    const format = c.req.query('encoding_format') ?? 'float';
    if (format !== 'float' && format !== 'base64') throw invalid('encoding_format must be "float" or "base64"');
    return respond(c, model, precision, emb, format, { images: 1 });
  });
