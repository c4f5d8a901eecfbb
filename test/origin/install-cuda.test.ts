/** The CUDA library installer against a fake NuGet feed on 127.0.0.1: nothing is written unless the hashes agree. */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaPackage, installCuda, PACKAGE_FILE } from '../../origin/install-cuda.ts';
import { TEST_CACHE } from '../helpers/paths.ts';

const pkg = JSON.parse(readFileSync(PACKAGE_FILE, 'utf8')) as CudaPackage;
const id = pkg.id.toLowerCase();
const DIR = join(TEST_CACHE, 'install-cuda');
const library = (name: string) => new TextEncoder().encode(`fake ${name}`);
const nupkg = zipSync({
  ...Object.fromEntries(Object.entries(pkg.files).map(([name, path]) => [path, library(name)])),
  'lib/other.txt': new Uint8Array(10),
});
const sha512 = (b: Uint8Array) => createHash('sha512').update(b).digest('base64');

/** What the feed serves: the package's bytes and the hash its catalog lists. */
const feed = { body: nupkg, catalogHash: sha512(nupkg) };
let server: Server;
let index: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const send = (body: unknown) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    const path = req.url ?? '';
    if (path === '/v3/index.json')
      return send({
        resources: [
          { '@id': `${base}/flat/`, '@type': 'PackageBaseAddress/3.0.0' },
          { '@id': `${base}/reg`, '@type': 'RegistrationsBaseUrl/3.6.0' },
        ],
      });
    if (path === `/flat/${id}/${pkg.version}/${id}.${pkg.version}.nupkg`) return res.end(feed.body);
    if (path === `/reg/${id}/${pkg.version}.json`) return send({ catalogEntry: `${base}/catalog/${id}.json` });
    if (path === `/catalog/${id}.json`) return send({ packageHashAlgorithm: 'SHA512', packageHash: feed.catalogHash });
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  index = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3/index.json`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** A fresh folder with a copy of the package description (its hash not pinned) and no libraries. */
function setup(name: string) {
  const dir = join(DIR, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const packageFile = join(dir, 'cuda-package.json');
  copyFileSync(PACKAGE_FILE, packageFile);
  return { dest: join(dir, 'bin'), packageFile };
}

describe('origin:install-cuda', () => {
  it('names the package and files onnxruntime-node was built for (an upgrade must update cuda-package.json)', () => {
    const require = createRequire(import.meta.url);
    const versions = require('onnxruntime-node/script/install-metadata-versions.js') as {
      nuget: { version: string }[];
    };
    const metadata = require('onnxruntime-node/script/install-metadata.js') as {
      manifests: Record<string, Record<string, { package: string; path: string }>>;
      packages: Record<string, { name: string }>;
    };
    expect(pkg.version).toBe(versions.nuget[0].version);
    const manifest = metadata.manifests['linux/x64:cuda12'];
    expect(Object.fromEntries(Object.entries(manifest).map(([file, m]) => [file.replace('./', ''), m.path]))).toEqual(
      pkg.files,
    );
    expect(metadata.packages['nuget:linux/x64:cuda12'].name).toBe(pkg.id);
  });

  it('installs the libraries when the download matches the catalog, and --pin records the hash', async () => {
    feed.body = nupkg;
    feed.catalogHash = sha512(nupkg);
    const { dest, packageFile } = setup('ok');
    const logs: string[] = [];
    const res = await installCuda({ index, dest, packageFile, pin: true, log: (l) => logs.push(l) });
    expect(res.sha512).toBe(sha512(nupkg));
    for (const name of Object.keys(pkg.files))
      expect(readFileSync(join(dest, name))).toEqual(Buffer.from(library(name)));
    expect(existsSync(join(dest, 'other.txt'))).toBe(false);
    expect((JSON.parse(readFileSync(packageFile, 'utf8')) as CudaPackage).sha512).toBe(sha512(nupkg));
    expect(logs.join('\n')).toMatch(/matches nuget\.org's catalog/);
  });

  it('refuses a download that is not what the catalog lists, writing nothing', async () => {
    const tampered = nupkg.slice();
    tampered[tampered.length >> 1] ^= 1;
    feed.body = tampered;
    feed.catalogHash = sha512(nupkg);
    const { dest, packageFile } = setup('tampered');
    await expect(installCuda({ index, dest, packageFile, pin: true, log: () => {} })).rejects.toThrow(
      /is not the catalog's/,
    );
    expect(existsSync(dest)).toBe(false);
    expect((JSON.parse(readFileSync(packageFile, 'utf8')) as CudaPackage).sha512).toBeNull();
  });

  it('refuses a package the catalog now agrees with when it differs from the pinned one', async () => {
    const { dest, packageFile } = setup('pinned');
    feed.body = nupkg;
    feed.catalogHash = sha512(nupkg);
    await installCuda({ index, dest, packageFile, pin: true, log: () => {} });
    // The feed and its catalog both change (a compromised feed): the pin still holds.
    const other = zipSync({ ...Object.fromEntries(Object.values(pkg.files).map((p) => [p, new Uint8Array(3)])) });
    feed.body = other;
    feed.catalogHash = sha512(other);
    rmSync(dest, { recursive: true });
    await expect(installCuda({ index, dest, packageFile, pin: true, log: () => {} })).rejects.toThrow(
      /is not the pinned/,
    );
    expect(existsSync(dest)).toBe(false);
  });
});
