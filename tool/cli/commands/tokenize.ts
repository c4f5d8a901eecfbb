/** `edge-clip tokenize`: OpenCLIP token ids (padded to the context length) with the build's vocabulary. */
import { openLocalModel } from '../../../src/adapters/node/local-model.ts';
import { parse, required, UsageError } from '../args.ts';
import { commandSpec } from '../specs.ts';

export async function tokenize(argv: string[]) {
  const args = parse(argv, commandSpec('tokenize'));
  const dir = required(args, 'model');
  const texts = [...((args.values.text as string[] | undefined) ?? []), ...args.positionals];
  if (texts.length === 0) throw new UsageError('give at least one text');
  const tokenizer = await (await openLocalModel(dir)).tokenizer();
  return { ids: texts.map((t) => tokenizer.tokenizePadded(t)) };
}
