/** Argument parsing for the CLI: --flag value, --flag=value, repeated flags, and `--` for literal texts. */
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(argv: string[], flags: FlagSpec): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: flags,
      allowPositionals: true,
      strict: true,
      allowNegative: false,
    });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
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
