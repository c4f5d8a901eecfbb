/** The one place errors become responses: EdgeClipError → its status and JSON body; anything else → logged 500. */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { EdgeClipError } from '../../contracts/errors.ts';

export function errorResponse(err: Error, c: Context): Response {
  // A client that hung up aborts its pipeline (the request's signal): whatever that throws is not a 500 to log.
  if (c.req.raw.signal.aborted) {
    const closed = new EdgeClipError('CLIENT_CLOSED_REQUEST', 'the client closed the request');
    return c.json(closed.toJSON(), closed.status as 400);
  }
  if (err instanceof EdgeClipError) {
    const headers: Record<string, string> = {};
    if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
    // Shed load is the answer working as designed, not a failure to log.
    if (err.status >= 500 && err.code !== 'OVERLOADED') console.error(`${err.code}: ${err.message}`);
    return c.json(err.toJSON(), err.status as 400, headers);
  }
  if (err instanceof HTTPException) {
    return c.json({ error: { type: 'http_error', message: err.message || 'request failed' } }, err.status);
  }
  console.error(err);
  return c.json({ error: { type: 'internal', message: 'internal error' } }, 500);
}

/** The answer of a Worker that could not build its app (a bad setting): the error's JSON, logged once per request. */
export function startupError(e: unknown): Response {
  const err = e instanceof EdgeClipError ? e : new EdgeClipError('INTERNAL', 'the Worker could not start');
  console.error(`${err.code}: ${err.message}`, ...(err === e ? [] : [e]));
  return Response.json(err.toJSON(), { status: err.status });
}
