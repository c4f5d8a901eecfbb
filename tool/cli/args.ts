/**
 * Argument parsing for the CLI, on commander: typed options from the command's spec (tool/cli/specs.ts), --flag value
 * and --flag=value, repeatable flags, `--` before literal texts, `-h`/`--help` per command, and an unknown option
 * answered with the ones the command takes.
 */
import { Command, CommanderError } from 'commander';
import { type CommandSpec, commandHelp } from './specs.ts';

export class UsageError extends Error {}

/** `--help` was asked for: its text, printed on stdout with exit 0 (not an error). */
export class HelpRequested extends Error {}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function parse(argv: string[], spec: CommandSpec): ParsedArgs {
  const options = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  if (options.includes('--help') || options.includes('-h')) throw new HelpRequested(commandHelp(spec));
  const cmd = new Command(`edge-clip ${spec.name}`)
    .exitOverride()
    .helpOption(false)
    .allowExcessArguments(spec.positionals !== undefined)
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  for (const [name, f] of Object.entries(spec.flags)) {
    if (f.type === 'boolean') cmd.option(`--${name}`, f.description);
    else if (f.multiple)
      cmd.option(`--${name} <value>`, f.description, (v: string, previous: string[] | undefined) => [
        ...(previous ?? []),
        v,
      ]);
    else cmd.option(`--${name} <value>`, f.description);
  }
  if (spec.positionals) cmd.argument('[arguments...]');
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    const message = e.message.replace(/^error: /, '');
    const valid = Object.keys(spec.flags).map((n) => `--${n}`);
    if (e.code === 'commander.unknownOption' || e.code === 'commander.excessArguments')
      throw new UsageError(`${message}; ${spec.name} takes ${valid.join(', ')} (edge-clip ${spec.name} --help)`);
    throw new UsageError(message);
  }
  const opts = cmd.opts() as Record<string, string | boolean | string[] | undefined>;
  const values = Object.fromEntries(Object.keys(spec.flags).map((n) => [n, opts[camel(n)]]));
  return { values, positionals: cmd.args };
}

export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function required(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (!v) throw new UsageError(`--${name} is required`);
  return v;
}

export function oneOf<T extends string>(args: ParsedArgs, name: string, allowed: readonly T[], fallback: T): T {
  const v = str(args, name) ?? fallback;
  if (!(allowed as readonly string[]).includes(v))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')} (got ${v})`);
  return v as T;
}

/** The `max` of an integer flag without an upper bound. */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * An integer flag within [min, max]; `fallback` when absent (undefined if none). Every count and size on the command
 * line goes through here, so that 0, NaN or 2.5 is a usage error rather than a loop that never stops or never starts.
 */
export function intFlag(args: ParsedArgs, name: string, min: number, max: number, fallback: number): number;
export function intFlag(args: ParsedArgs, name: string, min: number, max: number): number | undefined;
export function intFlag(args: ParsedArgs, name: string, min: number, max: number, fallback?: number) {
  const text = str(args, name);
  if (text === undefined) return fallback;
  const n = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === NO_LIMIT ? `at least ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${name} must be an integer ${range} (got ${text})`);
  }
  return n;
}

/** "32MiB", "512KiB", "1GiB", "1000000" → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB|k|K|M|G)?$/.exec(text.trim());
  if (!m) throw new UsageError(`not a size: ${text} (use e.g. 32MiB)`);
  const unit = m[2] ?? 'B';
  const mult: Record<string, number> = {
    B: 1,
    KiB: 1024,
    K: 1024,
    k: 1024,
    MiB: 2 ** 20,
    M: 2 ** 20,
    GiB: 2 ** 30,
    G: 2 ** 30,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
  };
  const bytes = Math.floor(Number(m[1]) * mult[unit]);
  if (bytes < 1024) throw new UsageError(`size ${text} is too small (at least 1KiB)`);
  return bytes;
}
