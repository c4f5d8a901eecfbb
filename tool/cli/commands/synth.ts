/**
 * `edge-clip synth`: a seeded random-weight checkpoint of a full architecture, in OpenCLIP's exact layout, optionally
 * with the channel outliers trained weights carry (`--outliers gain=16x4,hidden=5x2,residual=100x2`).
 */
import { existsSync } from 'node:fs';
import { readConfigFile } from '../../checkpoint/load-checkpoint.ts';
import { BUILTIN_CONFIGS } from '../../checkpoint/openclip-config.ts';
import { type OutlierSpec, parseOutlierSpec } from '../../synth/outliers.ts';
import { writeSynthCheckpoint } from '../../synth/synth-checkpoint.ts';
import { intFlag, parse, required, str, UsageError } from '../args.ts';
import { commandSpec } from '../specs.ts';

export async function synth(argv: string[]) {
  const args = parse(argv, commandSpec('synth'));
  const name = required(args, 'config');
  const config = BUILTIN_CONFIGS[name] ?? (existsSync(name) ? readConfigFile(name) : undefined);
  if (!config)
    throw new UsageError(
      `--config ${name} is neither a built-in config (${Object.keys(BUILTIN_CONFIGS).join(', ')}) nor a file`,
    );
  const seed = intFlag(args, 'seed', 0, 2 ** 32 - 1, 0);
  const outlierText = str(args, 'outliers');
  let outliers: OutlierSpec | undefined;
  try {
    outliers = outlierText === undefined ? undefined : parseOutlierSpec(outlierText);
  } catch (e) {
    throw new UsageError(`--outliers: ${(e as Error).message}`);
  }
  const t0 = Date.now();
  const result = await writeSynthCheckpoint(
    config,
    seed,
    required(args, 'out'),
    (l) => process.stderr.write(`${l}\n`),
    outliers,
  );
  return { ...result, seconds: (Date.now() - t0) / 1000 };
}
