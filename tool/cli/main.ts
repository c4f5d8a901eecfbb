/** edge-clip command-line entry: the only place that prints errors and sets the exit code. */
import { errorLine } from '../../src/contracts/errors.ts';
import { UsageError } from './args.ts';

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

const USAGE = `usage: edge-clip <command> [options]
  build     --checkpoint <dir|file|hf:REPO> --out model-shards/<id> [--precisions fp32,int8] [--shard-size 32MiB] [--segmented | --segment-budget <MiB>] [--segments N] [--step-gflops 16] [--vocab <file>] [--calibration <dir|file.jsonl>] [--min-int8-cos 0.995]
  synth     --config convnext_large_d_320|<open_clip_config.json> --seed 0 --out <dir> [--outliers gain=16x4,hidden=5x2,residual=100x2[,everywhere]]
  embed     --model model-shards/<id> [--precision fp32|int8] [--runtime node|web] (--image <file> ... | --image-tensor <f32> --shape N,3,H,W | --text <s> ...) [--raw]
  tokenize  --model model-shards/<id> [--] <text> ...
  preprocess --image <file> [--size 320] [--orientation ignore|exif] [--model model-shards/<id>] --out <file.f32>
  prompts build --model model-shards/<id> --labelset <imagenet1k|file.json> [--precision int8|fp32] [--dtype float16|float32] [--templates all|simple] [--batch 64] [--max-batches N] [--out <file>]
  prompts upload --model model-shards/<id> --blob <file.ecls> [--local|--remote]
  eval      --model model-shards/<id> --labelset <name|file.ecls> --dataset <ImageFolder> [--precision int8|fp32] [--limit N]
  measure   --model model-shards/<id> [--tower image|text] [--precision int8|fp32]   (each segment's memory in onnxruntime-web)
  label     (--url <worker> [--api-key KEY] | --model model-shards/<id>) (--labelset <name> | --labels "a,b,c") [--templates ...] [--top-k 5] [--precision int8|fp32] [--concurrency 4 (with --url)] --out <results.jsonl> <folder|file|URL|list.jsonl> ...
  hub       [--repo owner/name]   (whether the Hugging Face Hub, or HF_ENDPOINT, answers for the repo; default the mission's checkpoint)
  export-triton --model model-shards/<id> --out <dir> [--prefix edgeclip] [--max-batch 16] [--queue-delay-us 2000]
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
    if (e instanceof UsageError) {
      process.stderr.write(`edge-clip ${name}: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`edge-clip ${name}: ${errorLine(e)}\n`);
    if (process.env.EDGE_CLIP_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
