/** Every command's --help, unknown options, and the README's command list, from the one set of option definitions. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_SPECS, commandList } from '../../../tool/cli/specs.ts';
import { runCli } from '../../helpers/cli.ts';
import { ROOT } from '../../helpers/paths.ts';

describe('edge-clip help', () => {
  it.each(COMMAND_SPECS.map((s) => [s.name, s] as const))(
    '%s answers --help and -h with every option and an example (exit 0, on stdout)',
    async (name, spec) => {
      for (const flag of ['--help', '-h']) {
        const res = await runCli([...name.split(' '), flag]);
        expect(res.code).toBe(0);
        expect(res.stdout).toContain(`usage: edge-clip ${name}`);
        for (const option of Object.keys(spec.flags)) expect(res.stdout).toContain(`--${option}`);
        expect(res.stdout).toContain(`example: ${spec.example}`);
      }
    },
  );

  it('an unknown option is a usage error (exit 2) that lists the options the command takes', async () => {
    const res = await runCli(['label', '--help-me']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown option '--help-me'; label takes --url, --api-key, --model, /);
    expect(res.stderr).toContain('(edge-clip label --help)');
  });

  it('every option a command documents is one it accepts (build --step-gflops once was not)', async () => {
    const res = await runCli(['build', '--step-gflops', '0']);
    expect(res.stderr).not.toMatch(/unknown option/);
    expect(res.code).toBe(2);
  });

  it("the README's command list is edge-clip --help", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /<!-- cli-commands:start -->\n```text\n([\s\S]*?)```\n<!-- cli-commands:end -->/.exec(readme)?.[1];
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(block).toBe(help.stdout);
    expect(help.stdout).toContain(commandList());
  });
});
