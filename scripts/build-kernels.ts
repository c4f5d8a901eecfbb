/**
 * `npm run build:kernels`: compiles src/kernels/kernels.c into the two .wasm files the runtime imports, with
 * Debian's clang-19 and wasm-ld-19 (`apt-get install clang-19 lld-19`). The .wasm files are committed, so neither
 * users nor CI need a compiler; `--check` rebuilds into a temporary folder and fails when the committed files differ.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SOURCE = 'src/kernels/kernels.c';
export const KERNEL_BUILDS = [
  { out: 'src/kernels/kernels.wasm', flags: ['-msimd128', '-mbulk-memory'] },
  { out: 'src/kernels/kernels-relaxed.wasm', flags: ['-msimd128', '-mrelaxed-simd', '-mbulk-memory'] },
];

function compile(out: string, flags: string[]): void {
  execFileSync(
    'clang-19',
    [
      '--target=wasm32',
      '-O3',
      ...flags,
      '-nostdlib',
      '-fuse-ld=lld',
      '-Wl,--no-entry',
      '-Wl,--strip-all',
      '-o',
      out,
      SOURCE,
    ],
    { stdio: 'inherit' },
  );
}

const check = process.argv.includes('--check');
const dir = check ? mkdtempSync(join(tmpdir(), 'edge-clip-kernels-')) : '';
try {
  for (const { out, flags } of KERNEL_BUILDS) {
    const target = check ? join(dir, out.replaceAll('/', '_')) : out;
    compile(target, flags);
    if (check && !readFileSync(target).equals(readFileSync(out))) {
      // Byte-exact: another clang-19 point release may emit other bytes from the same source; say which one ran.
      const version = execFileSync('clang-19', ['--version']).toString().split('\n')[0];
      throw new Error(
        `${out} differs from what ${SOURCE} compiles to with ${version}: run npm run build:kernels and commit it`,
      );
    }
    process.stderr.write(`${check ? 'checked' : 'wrote'} ${out}\n`);
  }
} finally {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
