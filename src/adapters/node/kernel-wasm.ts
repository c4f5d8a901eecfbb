/** Our int8 linear kernels in Node: compiled from the committed .wasm files; Node 20 has no relaxed SIMD by default. */
import { readFile } from 'node:fs/promises';
import type { KernelModules } from '../../kernels/kernels.ts';

const file = (name: string) => new URL(`../../kernels/${name}`, import.meta.url);

export async function nodeKernelModules(): Promise<KernelModules> {
  const plain = await WebAssembly.compile(await readFile(file('kernels.wasm')));
  // Node 20 validates relaxed SIMD only behind --experimental-wasm-relaxed-simd, and its baseline compiler gets the
  // relaxed dot wrong there (issue #26): never use it in Node 20, even when the flag is on.
  return { plain };
}
