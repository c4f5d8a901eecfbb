/**
 * The Worker as `npm start` serves it: bundled as `wrangler deploy` uploads it, run by Miniflare on the real workerd
 * with wrangler.toml's bindings and the local R2/KV data `wrangler dev` uses (.wrangler/state), answering clients on
 * its own socket. Not behind `wrangler dev`'s proxy: when a connection from that proxy to the Worker drops, the proxy
 * answers a POST with 503 "Your worker restarted mid-request" although nothing restarted (docs/RELIABILITY.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';

export interface ServedWorker {
  url: string;
  dispose(): Promise<void>;
}

export interface ServeOptions {
  port: number;
  /** Vars on top of wrangler.toml's [vars] (MODEL_ID, ORIGIN_URL, …). */
  vars?: Record<string, string>;
  /** Where the bundle goes (one folder per server). */
  outDir?: string;
  /** Request lines and the Worker's console output (default: on). */
  quiet?: boolean;
  /** Local R2/KV/cache data: wrangler's .wrangler/state/v3 (what the seed scripts fill by default), or the folder
   * given to them as `persistTo`. */
  persistTo?: string;
}

/** wrangler's own bundling of the Worker (esbuild, .wasm beside it as modules), as `wrangler deploy` would upload it. */
function bundle(outDir: string): string {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const res = spawnSync(
    process.execPath,
    ['node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--outdir', outDir, '-c', 'wrangler.toml'],
    { env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`bundling the Worker failed: ${res.stderr || res.stdout}`);
  const entry = join(outDir, 'index.js');
  writeFileSync(join(outDir, '.gitignore'), '*\n');
  return entry;
}

export async function serveWorker(options: ServeOptions): Promise<ServedWorker> {
  const outDir = options.outDir ?? join('.wrangler', 'serve');
  const entry = resolve(bundle(outDir));
  const { workerOptions } = unstable_getMiniflareWorkerOptions('wrangler.toml');
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: options.port,
    log: new Log(options.quiet ? LogLevel.WARN : LogLevel.INFO),
    logRequests: !options.quiet,
    defaultPersistRoot: options.persistTo ?? join('.wrangler', 'state', 'v3'),
    // A placeholder Request.cf: fetching the real one needs the internet, and nothing here reads it.
    cf: false,
    // Quiet: the Worker's own lines (one JSON line per request) are dropped too.
    ...(options.quiet
      ? {
          handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
            stdout.resume();
            stderr.resume();
          },
        }
      : {}),
    workers: [
      {
        name: 'edge-clip',
        compatibilityDate: workerOptions.compatibilityDate,
        compatibilityFlags: workerOptions.compatibilityFlags,
        // Listed, not located by parsing the bundle: it keeps optional dynamic imports of packages it does not ship.
        modulesRoot: resolve(outDir),
        modules: [
          { type: 'ESModule', path: entry },
          ...readdirSync(outDir)
            .filter((f) => f.endsWith('.wasm'))
            .map((f) => ({ type: 'CompiledWasm' as const, path: resolve(outDir, f) })),
        ],
        bindings: { ...workerOptions.bindings, ...options.vars },
        kvNamespaces: workerOptions.kvNamespaces,
        r2Buckets: workerOptions.r2Buckets,
      },
    ],
  });
  const url = await mf.ready;
  return { url: url.origin, dispose: () => mf.dispose() };
}
