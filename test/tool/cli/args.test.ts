import { describe, expect, it } from 'vitest';
import { intFlag, NO_LIMIT, parse, UsageError } from '../../../tool/cli/args.ts';
import { runCli } from '../../helpers/cli.ts';
import { TINY_ST } from '../../helpers/paths.ts';

const spec = { name: 'test', summary: 'a test command', example: 'edge-clip test --n 3', flags: {} };
const flag = (value: string | undefined, min = 1, max = NO_LIMIT) =>
  intFlag(
    parse(value === undefined ? [] : [`--n=${value}`], {
      ...spec,
      flags: { n: { type: 'string', description: 'a count' } },
    }),
    'n',
    min,
    max,
  );

describe('integer flags', () => {
  it('accept integers within their range and fall back when absent', () => {
    expect(flag('3')).toBe(3);
    expect(flag('64', 1, 64)).toBe(64);
    expect(flag(undefined)).toBeUndefined();
  });

  it.each(['0', '-1', 'NaN', '2.5', '1e3', '', 'abc', '65'])('refuse %j as a usage error naming the flag', (v) => {
    expect(() => flag(v, 1, 64)).toThrow(UsageError);
    expect(() => flag(v, 1, 64)).toThrow(/--n must be an integer from 1 to 64/);
  });

  it('edge-clip prompts build --max-batches 0 is a usage error (exit 2), not a build that never stops', async () => {
    const res = await runCli([
      'prompts',
      'build',
      '--model',
      TINY_ST,
      '--labelset',
      'imagenet1k',
      '--max-batches',
      '0',
    ]);
    expect(res.stderr).toContain('--max-batches must be an integer at least 1 (got 0)');
    expect(res.code).toBe(2);
  });
});
