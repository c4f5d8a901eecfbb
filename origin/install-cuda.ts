/**
 * `npm run origin:install-cuda`: onnxruntime-node's CUDA provider libraries for the GPU origin, from NuGet, checked
 * before anything is written. onnxruntime-node's own installer downloads the ~1 GB package and extracts it unchecked;
 * this one takes the package named in origin/cuda-package.json (the version onnxruntime-node was built for), and
 * accepts it only when its SHA-512 equals both the hash pinned there (once recorded) and the hash nuget.org's catalog
 * lists for that package. `--pin` records a verified hash in cuda-package.json, to be committed: from then on a
 * package that differs from the first one verified is refused even if the catalog agrees with it.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';

export interface CudaPackage {
  id: string;
  version: string;
  /** Base64 SHA-512 of the .nupkg, as NuGet writes package hashes; null until pinned. */
  sha512: string | null;
  /** Library name → its path inside the package. */
  files: Record<string, string>;
}

export interface InstallOptions {
  /** The NuGet service index. */
  index: string;
  /** Where onnxruntime-node looks for provider libraries. */
  dest: string;
  /** The package description (cuda-package.json). */
  packageFile: string;
  /** Record the verified hash in `packageFile`. */
  pin: boolean;
  log: (line: string) => void;
}

export const DEFAULT_INDEX = 'https://api.nuget.org/v3/index.json';
export const DEFAULT_DEST = resolve(import.meta.dirname, '../node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
export const PACKAGE_FILE = resolve(import.meta.dirname, 'cuda-package.json');

async function get(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res;
}

const json = async (url: string) => (await get(url)).json() as Promise<Record<string, unknown>>;

/** The resource of that type in the service index (https://learn.microsoft.com/nuget/api/overview). */
function resource(index: Record<string, unknown>, type: string): string {
  const found = (index.resources as { '@id': string; '@type': string }[] | undefined)?.find((r) =>
    r['@type'].startsWith(type),
  );
  if (!found) throw new Error(`the NuGet index has no ${type} resource`);
  return found['@id'].endsWith('/') ? found['@id'] : `${found['@id']}/`;
}

/** The package hash nuget.org's catalog lists for this id and version (base64 SHA-512). */
async function catalogHash(index: Record<string, unknown>, id: string, version: string): Promise<string> {
  const leaf = await json(
    `${resource(index, 'RegistrationsBaseUrl')}${id.toLowerCase()}/${version.toLowerCase()}.json`,
  );
  const entry = await json(String(leaf.catalogEntry));
  if (entry.packageHashAlgorithm !== 'SHA512' || typeof entry.packageHash !== 'string')
    throw new Error(`the catalog entry of ${id} ${version} lists no SHA512 package hash`);
  return entry.packageHash;
}

export async function installCuda(opts: InstallOptions): Promise<{ sha512: string; files: string[] }> {
  const pkg = JSON.parse(readFileSync(opts.packageFile, 'utf8')) as CudaPackage;
  const index = await json(opts.index);
  const id = pkg.id.toLowerCase();
  const version = pkg.version.toLowerCase();
  const url = `${resource(index, 'PackageBaseAddress/3.0.0')}${id}/${version}/${id}.${version}.nupkg`;
  opts.log(`downloading ${url}`);
  const bytes = new Uint8Array(await (await get(url)).arrayBuffer());
  const sha512 = createHash('sha512').update(bytes).digest('base64');
  const listed = await catalogHash(index, pkg.id, pkg.version);
  if (sha512 !== listed)
    throw new Error(`${pkg.id} ${pkg.version}: the download's SHA-512 ${sha512} is not the catalog's ${listed}`);
  if (pkg.sha512 !== null && sha512 !== pkg.sha512)
    throw new Error(`${pkg.id} ${pkg.version}: the download's SHA-512 ${sha512} is not the pinned ${pkg.sha512}`);
  opts.log(
    `SHA-512 ${sha512} matches nuget.org's catalog${pkg.sha512 === null ? ' (no hash pinned yet: npm run origin:install-cuda -- --pin records it)' : ' and the pinned hash'}`,
  );
  const wanted = new Set(Object.values(pkg.files));
  const entries = unzipSync(bytes, { filter: (f) => wanted.has(f.name) });
  const missing = Object.values(pkg.files).filter((path) => !entries[path]);
  if (missing.length) throw new Error(`${pkg.id} ${pkg.version} has no ${missing.join(', ')}`);
  mkdirSync(opts.dest, { recursive: true });
  for (const [name, path] of Object.entries(pkg.files)) {
    // Written beside, then renamed: a failure never leaves a truncated library where onnxruntime looks.
    const target = join(opts.dest, name);
    writeFileSync(`${target}.tmp`, entries[path]);
    chmodSync(`${target}.tmp`, 0o755);
    renameSync(`${target}.tmp`, target);
    opts.log(`installed ${target} (${(entries[path].length / 2 ** 20).toFixed(1)} MiB)`);
  }
  if (opts.pin && pkg.sha512 === null)
    writeFileSync(opts.packageFile, `${JSON.stringify({ ...pkg, sha512 }, null, 2)}\n`);
  return { sha512, files: Object.keys(pkg.files) };
}

// Run as a script (npm run origin:install-cuda), not when a test imports it.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  try {
    await installCuda({
      index: flag('--index') ?? DEFAULT_INDEX,
      dest: flag('--dest') ?? DEFAULT_DEST,
      packageFile: PACKAGE_FILE,
      pin: args.includes('--pin'),
      log: (line) => process.stderr.write(`[install-cuda] ${line}\n`),
    });
  } catch (e) {
    process.stderr.write(`[install-cuda] ${(e as Error).message}\n`);
    process.exit(1);
  }
}
