/**
 * `edge-clip label`: zero-shot labels for many images — a folder, files, URLs or a JSONL list — against a label set or
 * ad-hoc labels, through a Worker's `/v1/classify` (`--url`) or the same app run here on a build (`--model`).
 * Writes one JSON line per image to `--out`, a few at a time, retrying 429/503 after their Retry-After; a second run
 * with the same `--out` skips the images already labelled (resume after an interruption).
 */
import { createReadStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { localApp } from '../../../src/adapters/node/local-app.ts';
import { PRECISIONS } from '../../../src/contracts/manifest.ts';
import { limiter } from '../../../src/model/limiter.ts';
import { intFlag, oneOf, parse, str, UsageError } from '../args.ts';
import { Progress } from '../progress.ts';
import { commandSpec } from '../specs.ts';

const IMAGE_EXT = /\.(jpe?g|png|gif|bmp|tiff?|webp|avif)$/i;
const MAX_ATTEMPTS = 6;

/** One image to label: how it is named in the output, and how to get its bytes. */
interface Item {
  input: string;
  bytes: () => Promise<Uint8Array>;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

function item(ref: string): Item {
  if (isUrl(ref))
    return {
      input: ref,
      bytes: async () => {
        const res = await fetch(ref, { signal: AbortSignal.timeout(30_000) });
        if (!res.ok) throw new Error(`${ref}: HTTP ${res.status}`);
        return new Uint8Array(await res.arrayBuffer());
      },
    };
  return { input: ref, bytes: async () => new Uint8Array(readFileSync(ref)) };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : IMAGE_EXT.test(e.name) ? [join(dir, e.name)] : []));
}

/** A JSONL line: a string, or an object with `url`, `file` or `path` (relative to the list's folder). */
async function fromJsonl(list: string): Promise<Item[]> {
  const items: Item[] = [];
  let n = 0;
  for await (const line of createInterface(createReadStream(list))) {
    n++;
    if (!line.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new UsageError(`${list}:${n}: not JSON`);
    }
    const o = v as { url?: unknown; file?: unknown; path?: unknown };
    const ref = typeof v === 'string' ? v : (o?.url ?? o?.file ?? o?.path);
    if (typeof ref !== 'string') throw new UsageError(`${list}:${n}: expected a string or {"url"|"file"|"path": ...}`);
    items.push(item(isUrl(ref) || isAbsolute(ref) ? ref : join(dirname(list), ref)));
  }
  return items;
}

async function collect(refs: string[]): Promise<Item[]> {
  const items: Item[] = [];
  for (const ref of refs) {
    if (isUrl(ref)) items.push(item(ref));
    else if (!existsSync(ref)) throw new UsageError(`${ref}: no such file or folder`);
    else if (statSync(ref).isDirectory()) items.push(...walk(ref).map(item));
    else if (ref.endsWith('.jsonl')) items.push(...(await fromJsonl(ref)));
    else items.push(item(ref));
  }
  return items;
}

/**
 * Inputs already answered without an error in an earlier run's output. A last line cut by the interruption is
 * removed (that image is labelled again); failed images are tried again, and a later line for an input wins.
 */
function done(out: string): Set<string> {
  if (!existsSync(out)) return new Set();
  let text = readFileSync(out, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) {
    text = text.slice(0, text.lastIndexOf('\n') + 1);
    writeFileSync(out, text);
  }
  const seen = new Set<string>();
  for (const line of text.split('\n').filter(Boolean)) {
    try {
      const r = JSON.parse(line) as { input?: string; error?: unknown };
      if (typeof r.input === 'string' && r.error === undefined) seen.add(r.input);
    } catch {
      // A damaged line (edited by hand?): its image is labelled again.
    }
  }
  return seen;
}

/** Seconds a 429/503 asks to wait (Retry-After as seconds or an HTTP date), else exponential backoff. */
function waitMs(res: Response | undefined, attempt: number): number {
  const header = res?.headers.get('retry-after');
  const seconds = header === null || header === undefined ? Number.NaN : Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : header ? Date.parse(header) - Date.now() : 500 * 2 ** attempt;
  return Math.min(Math.max(ms, 0), 60_000);
}

type Send = (request: Request) => Promise<Response>;

/**
 * One image and the options as multipart fields (long label lists would not fit in a URL), the way /v1/classify
 * takes an upload.
 */
async function classify(
  send: Send,
  url: URL,
  bytes: Uint8Array,
  fields: Record<string, string>,
  headers: Record<string, string>,
): Promise<Record<string, unknown>> {
  for (let attempt = 1; ; attempt++) {
    const form = new FormData();
    for (const [k, value] of Object.entries(fields)) form.set(k, value);
    form.set('image', new Blob([bytes as Uint8Array<ArrayBuffer>]), 'image');
    let res: Response | undefined;
    try {
      res = await send(new Request(url, { method: 'POST', body: form, headers }));
    } catch (e) {
      if (attempt >= MAX_ATTEMPTS) throw e;
    }
    if (res && res.status !== 429 && res.status !== 503) {
      const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
      if (!res.ok || !body) {
        const error = body?.error as { type?: string; message?: string } | undefined;
        throw new Error(`HTTP ${res.status} ${error?.type ?? ''}: ${error?.message ?? 'not a JSON answer'}`);
      }
      return body;
    }
    if (attempt >= MAX_ATTEMPTS) throw new Error(`HTTP ${res?.status}: still unavailable after ${attempt} attempts`);
    await res?.body?.cancel();
    await new Promise((r) => setTimeout(r, waitMs(res, attempt)));
  }
}

export async function label(argv: string[]) {
  const args = parse(argv, commandSpec('label'));
  const target = str(args, 'url');
  // For a Worker whose inference routes need one of its API_KEYS.
  const apiKey = str(args, 'api-key');
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const model = str(args, 'model');
  if (!target === !model) throw new UsageError('give --url <worker> or --model model-shards/<id> (one of them)');
  const out = str(args, 'out');
  if (!out) throw new UsageError('--out <file.jsonl> is required (a second run with it resumes)');
  const labelset = str(args, 'labelset');
  const labels = str(args, 'labels');
  if (!labelset === !labels) throw new UsageError('give --labelset <name> or --labels "a,b,c" (one of them)');
  const concurrency = intFlag(args, 'concurrency', 1, 64, 4);
  if (args.positionals.length === 0) throw new UsageError('name the images: folders, files, URLs or a .jsonl list');

  const fields: Record<string, string> = { top_k: str(args, 'top-k') ?? '5' };
  if (labelset) fields.labelset = labelset;
  if (labels) fields.labels = labels;
  const templates = str(args, 'templates');
  if (templates) fields.templates = templates;
  // Without --precision the Worker's own default applies.
  if (str(args, 'precision')) fields.precision = oneOf(args, 'precision', PRECISIONS, 'int8');

  const items = await collect(args.positionals);
  const skip = done(out);
  const todo = items.filter((i) => !skip.has(i.input));
  let send: Send;
  let base: string;
  if (model) {
    // Locally there is no isolate to protect: any number of ad-hoc labels and prompts may be computed.
    const many = '1000000';
    const local = await localApp(
      model,
      { MAX_REQUEST_PROMPTS: many, MAX_LABELS: many, MAX_EDGE_PROMPTS: many },
      availableParallelism(),
    );
    send = async (request) => local.app.fetch(request);
    base = 'http://local';
  } else {
    send = (request) => fetch(request);
    base = target!;
  }
  // Relative to the base, so that a Worker under a path prefix (https://host/clip/) keeps it.
  const url = new URL('v1/classify', base.endsWith('/') ? base : `${base}/`);
  if (!existsSync(out)) writeFileSync(out, '');
  const progress = new Progress('label', items.length, 'items', process.stderr, items.length - todo.length);
  let finished = items.length - todo.length;
  let failed = 0;
  // In-process inference runs one image at a time anyway; --concurrency is for a Worker's isolates.
  const limit = limiter(model ? 1 : concurrency);
  const t0 = Date.now();
  await Promise.all(
    todo.map((it) =>
      limit(async () => {
        let line: Record<string, unknown>;
        try {
          const body = await classify(send, url, await it.bytes(), fields, headers);
          line = { input: it.input, results: body.results, precision: body.precision, model: body.model };
        } catch (e) {
          failed++;
          line = { input: it.input, error: (e as Error).message };
        }
        await appendFile(out, `${JSON.stringify(line)}\n`);
        progress.update(++finished);
      }),
    ),
  );
  return {
    out: resolve(out),
    images: items.length,
    labelled: todo.length - failed,
    skipped: items.length - todo.length,
    failed,
    seconds: (Date.now() - t0) / 1000,
  };
}
