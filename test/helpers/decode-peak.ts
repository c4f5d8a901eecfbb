/** Measures the resident memory that decoding and preprocessing one image adds, in a fresh Node process. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT } from './paths.ts';

export interface DecodePeak {
  /** Peak resident bytes above the resting process (decoder instances made, code compiled). */
  peakBytes: number;
  /** What stays resident after the decode and a collection: grown wasm memories. */
  retainedBytes: number;
  width: number;
  height: number;
}

export async function decodePeak(warmFile: string, imageFile: string, maxPixels: number): Promise<DecodePeak> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', 'test/helpers/decode-peak-child.ts', warmFile, imageFile, String(maxPixels)],
    { cwd: ROOT, maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout) as DecodePeak;
}
