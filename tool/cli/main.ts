/** edge-clip command-line entry: the only place that prints errors and sets the exit code. */
import { errorLine } from '../../src/contracts/errors.ts';
import { HelpRequested, UsageError } from './args.ts';
import { commandList } from './specs.ts';

type Command = (argv: string[]) => Promise<unknown>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  build: async () => (await import('./commands/build.ts')).build,
  synth: async () => (await import('./commands/synth.ts')).synth,
  embed: async () => (await import('./commands/embed.ts')).embed,
  tokenize: async () => (await import('./commands/tokenize.ts')).tokenize,
  preprocess: async () => (await import('./commands/preprocess.ts')).preprocess,
  prompts: async () => (await import('./commands/prompts.ts')).prompts,
  eval: async () => (await import('./commands/eval.ts')).evaluate,
  'export-triton': async () => (await import('./commands/export-triton.ts')).exportTriton,
  measure: async () => (await import('./commands/measure.ts')).measure,
  label: async () => (await import('./commands/label.ts')).label,
  hub: async () => (await import('./commands/hub.ts')).hub,
};

const USAGE = `usage: edge-clip <command> [options]   (edge-clip <command> --help for its options and an example)
${commandList()}
JSON goes to stdout, progress to stderr.`;

/** Runs one command and returns its result; every failure is thrown (UsageError for bad arguments). */
async function execute(argv: string[]): Promise<unknown> {
  const [name, ...rest] = argv;
  const load = name === undefined ? undefined : COMMANDS[name];
  if (!load) throw new UsageError(`unknown command ${name}\n${USAGE}`);
  return (await load())(rest);
}

export async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  try {
    const result = await execute(argv);
    if (result !== undefined) process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(`${e.message}\n`);
      return 0;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`edge-clip ${name}: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`edge-clip ${name}: ${errorLine(e)}\n`);
    if (process.env.EDGE_CLIP_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
