/** `edge-clip synth`: a seeded random-weight checkpoint of a full architecture, in OpenCLIP's exact layout. */
import { existsSync } from 'node:fs';
import { readConfigFile } from '../../checkpoint/load-checkpoint.ts';
import { BUILTIN_CONFIGS } from '../../checkpoint/openclip-config.ts';
import { writeSynthCheckpoint } from '../../synth/synth-checkpoint.ts';
import { parse, required, str, UsageError } from '../args.ts';

export async function synth(argv: string[]) {
  const args = parse(argv, { config: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } });
  const name = required(args, 'config');
  const config = BUILTIN_CONFIGS[name] ?? (existsSync(name) ? readConfigFile(name) : undefined);
  if (!config)
    throw new UsageError(
      `--config ${name} is neither a built-in config (${Object.keys(BUILTIN_CONFIGS).join(', ')}) nor a file`,
    );
  const seed = Number(str(args, 'seed') ?? '0');
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed must be a non-negative integer');
  const t0 = Date.now();
  const result = await writeSynthCheckpoint(config, seed, required(args, 'out'), (l) => process.stderr.write(`${l}\n`));
  return { ...result, seconds: (Date.now() - t0) / 1000 };
}
