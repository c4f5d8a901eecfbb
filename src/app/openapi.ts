/** OpenAPI 3.1 from the route schemas (schemas.ts): per-route descriptions, and the document at GET /openapi.json. */
import { toJsonSchema } from '@valibot/to-json-schema';
import type { Hono, MiddlewareHandler } from 'hono';
import { type DescribeRouteOptions, describeRoute, openAPIRouteHandler, resolver } from 'hono-openapi';
import type * as v from 'valibot';
import { HTTP_ERROR_STATUS } from '../contracts/errors.ts';
import type { AppEnv } from './app-env.ts';
import { ErrorBody } from './schemas.ts';

type ObjectSchema =
  | v.ObjectSchema<v.ObjectEntries, v.ErrorMessage<v.ObjectIssue> | undefined>
  | v.StrictObjectSchema<v.ObjectEntries, v.ErrorMessage<v.StrictObjectIssue> | undefined>;

/** A non-JSON answer: its media type, what it is, and the headers that describe it. */
export interface BinaryAnswer {
  media: string;
  description: string;
  headers: Record<string, string>;
}

export interface RouteDoc {
  summary: string;
  tag: 'embeddings' | 'classification' | 'label sets' | 'service';
  /** The request body: JSON by its schema, or other media (images) described in words. */
  body?: { json: v.GenericSchema } | { media: string[]; description: string };
  query?: ObjectSchema;
  /** The answer's schema (JSON) or its media and headers (an image), and its status when it is not 200. */
  ok: v.GenericSchema | BinaryAnswer;
  okStatus?: 200 | 201;
  /** Error statuses the route answers (every one with the error body). */
  errors: number[];
  admin?: boolean;
}

const REASONS: Record<number, string> = Object.fromEntries(
  Object.entries(HTTP_ERROR_STATUS).map(([code, status]) => [status, code.toLowerCase()]),
);

/** Query parameters from an object schema: one optional parameter per entry. */
function parameters(query: ObjectSchema): DescribeRouteOptions['parameters'] {
  return Object.entries(query.entries).map(([name, schema]) => ({
    name,
    in: 'query',
    required: false,
    schema: toJsonSchema(schema, { errorMode: 'ignore' }),
  })) as DescribeRouteOptions['parameters'];
}

export function doc(d: RouteDoc): MiddlewareHandler<AppEnv> {
  const errors = Object.fromEntries(
    d.errors.map((status) => [
      String(status),
      {
        description: `error (${REASONS[status] ?? 'see message'})`,
        content: { 'application/json': { schema: resolver(ErrorBody) } },
      },
    ]),
  );
  const body: DescribeRouteOptions['requestBody'] =
    d.body === undefined
      ? undefined
      : 'json' in d.body
        ? { required: true, content: { 'application/json': { schema: resolver(d.body.json) } } }
        : {
            required: true,
            description: d.body.description,
            content: Object.fromEntries(
              d.body.media.map((m) => [m, { schema: { type: 'string' as const, format: 'binary' } }]),
            ),
          };
  return describeRoute({
    summary: d.summary,
    tags: [d.tag],
    ...(d.query ? { parameters: parameters(d.query) } : {}),
    ...(body ? { requestBody: body } : {}),
    ...(d.admin ? { security: [{ adminToken: [] }] } : {}),
    responses: {
      [String(d.okStatus ?? 200)]:
        'media' in d.ok
          ? {
              description: d.ok.description,
              headers: Object.fromEntries(
                Object.entries(d.ok.headers).map(([name, description]) => [
                  name,
                  { description, schema: { type: 'string' as const } },
                ]),
              ),
              content: { [d.ok.media]: { schema: { type: 'string' as const, format: 'binary' } } },
            }
          : { description: 'OK', content: { 'application/json': { schema: resolver(d.ok) } } },
      ...errors,
    },
  }) as MiddlewareHandler<AppEnv>;
}

export function openApiDocument(app: Hono<AppEnv>): MiddlewareHandler<AppEnv> {
  return openAPIRouteHandler(app, {
    documentation: {
      openapi: '3.1.0',
      info: {
        title: 'edge-clip',
        version: '1',
        description:
          'CLIP ConvNeXt-Large-D @320 embeddings and zero-shot classification at the edge. Every error answers ' +
          '{"error": {"type", "message"}}; 503s carry Retry-After. Limits come from the Worker settings.',
      },
      components: {
        securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' } },
      },
    },
    // The document itself, and the playground page (HTML for people).
    exclude: ['/openapi.json', '/'],
  });
}
