/**
 * Request validation with the route's schema (schemas.ts): the validated value goes where Hono's validator puts it
 * (`c.req.valid('json' | 'query')`). JSON bodies are read here rather than by hono/validator: under the body-size
 * limit, and whatever their label (`curl -d` sends JSON as x-www-form-urlencoded).
 */
import type { MiddlewareHandler } from 'hono';
import { validator } from 'hono/validator';
import * as v from 'valibot';
import { EdgeClipError, quoteInput } from '../contracts/errors.ts';
import type { AppEnv } from './app-env.ts';
import { readJson } from './request-body.ts';

type Schema = v.GenericSchema;

type PathItem = NonNullable<v.BaseIssue<unknown>['path']>[number];

/** `input[2]`, `labels[0]`, `top_k`: where in the body an issue is. */
const where = (path: readonly PathItem[]) =>
  path.map((p, i) => (typeof p.key === 'number' ? `[${p.key}]` : `${i ? '.' : ''}${String(p.key)}`)).join('');

/**
 * The issue that says most, with its full path: inside a union, an option's issue that went into the value (an
 * array whose items were wrong) rather than the union's "none matched". A union's issues have paths relative to it.
 */
function deepest(
  issue: v.BaseIssue<unknown>,
  path: PathItem[] = [...(issue.path ?? [])],
): [v.BaseIssue<unknown>, PathItem[]] {
  const inner = issue.issues?.reduce((a, b) => ((b.path?.length ?? 0) > (a.path?.length ?? 0) ? b : a));
  if (!inner?.path?.length) return [issue, path];
  return deepest(inner, [...path, ...inner.path]);
}

/** What `withinLimit` issues expect: a limit exceeded across fields. */
const LIMIT = 'within the limit';

/** A limit over several fields (labels × templates, say): `exceeded` names it when the value is over, else undefined. */
export const withinLimit = <T>(exceeded: (value: T) => string | undefined) =>
  v.rawCheck<T>(({ dataset, addIssue }) => {
    const message = dataset.typed ? exceeded(dataset.value) : undefined;
    if (message) addIssue({ message, expected: LIMIT });
  });

type Entries = Record<string, { message?: unknown }>;

/** A limit exceeded is 413, naming the limit; anything else is 400 with the schema's message. */
function issueError(first: v.BaseIssue<unknown>, schema?: Schema): EdgeClipError {
  const [issue, path] = deepest(first);
  const at = where(path) || 'the request body';
  if (issue.expected === LIMIT) return new EdgeClipError('PAYLOAD_TOO_LARGE', issue.message);
  if (issue.type === 'max_length') {
    const message =
      typeof issue.input === 'string'
        ? `${at} has ${issue.received} characters; the limit is ${issue.requirement}`
        : issue.message;
    return new EdgeClipError('PAYLOAD_TOO_LARGE', message);
  }
  if (issue.input === undefined && issue.kind === 'schema' && issue.type === 'object') {
    // A missing field: its own schema's message says what it must be, where it has one.
    const key = String(path.at(-1)?.key);
    // An object's own entries, or a variant's (the same fields in every option).
    const shape = schema as { entries?: Entries; options?: { entries?: Entries }[] } | undefined;
    const entry = (shape?.entries ?? shape?.options?.[0]?.entries)?.[key];
    return new EdgeClipError('INVALID_INPUT', typeof entry?.message === 'string' ? entry.message : `${at} is required`);
  }
  // valibot's own messages ("Invalid type: ...") get the field's name in front; the schemas' own say it already.
  const message = issue.message.startsWith('Invalid') ? `${at}: ${issue.message}` : issue.message;
  return new EdgeClipError('INVALID_INPUT', message);
}

/** A JSON `null` field means "not given" (as clients send for unset options): dropped before validation. */
function withoutNulls(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}

export function check<S extends Schema>(schema: S, value: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, withoutNulls(value));
  if (!result.success) throw issueError(result.issues[0], schema);
  return result.output;
}

export function jsonBody<S extends Schema>(
  schema: S,
): MiddlewareHandler<AppEnv, string, { in: { json: v.InferInput<S> }; out: { json: v.InferOutput<S> } }> {
  return async (c, next) => {
    // An option in the query would be ignored: say so rather than answer as if it had been read.
    const query = [...new URL(c.req.url).searchParams.keys()];
    if (query.length > 0)
      throw new EdgeClipError(
        'INVALID_INPUT',
        `this route reads its options from the JSON body, not the query (got ${quoteInput(query.join(', '))})`,
      );
    const body = await readJson(c.req.raw, c.get('deps').config.maxBodyBytes);
    c.req.addValidatedData('json', check(schema, body) as object);
    await next();
  };
}

export const queryParams = <S extends Schema>(schema: S) =>
  validator('query', (query): v.InferOutput<S> => check(schema, query));
