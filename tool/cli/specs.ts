/**
 * Every command's options, in one place: what the parser accepts (tool/cli/args.ts), what `--help` prints, and the
 * command list of `edge-clip --help` and the README (a test keeps the README's block equal to `commandList()`).
 * Loaded without the commands themselves, so that help costs nothing.
 */
export interface Flag {
  type: 'string' | 'boolean';
  /** Repeatable: `--image a --image b`. */
  multiple?: boolean;
  /** The value's placeholder in help, e.g. "model-shards/<id>". */
  value?: string;
  description: string;
  /** Shown in the one-line synopsis (the flags a user must know); the rest are in `--help`. */
  synopsis?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments, e.g. "<text> ..."; none accepted when absent. */
  positionals?: string;
  flags: Record<string, Flag>;
  example: string;
}

const model: Flag = { type: 'string', value: 'model-shards/<id>', description: 'the build folder', synopsis: true };
const precision: Flag = { type: 'string', value: 'int8|fp32', description: 'tower precision' };
const threads: Flag = { type: 'string', value: 'N', description: 'onnxruntime threads' };

export const COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: 'build',
    summary: 'OpenCLIP checkpoint → ONNX towers (fp32, int8), sharded, with a manifest',
    flags: {
      checkpoint: {
        type: 'string',
        value: '<dir|file|hf:REPO>',
        description: 'open_clip checkpoint: folder, .safetensors/.bin file, or a Hugging Face repo',
        synopsis: true,
      },
      out: { type: 'string', value: 'model-shards/<id>', description: 'output build folder', synopsis: true },
      precisions: { type: 'string', value: 'fp32,int8', description: 'precisions to build (default both)' },
      'shard-size': { type: 'string', value: '32MiB', description: 'bytes per external-data shard' },
      vocab: { type: 'string', value: '<file>', description: 'BPE vocabulary (default the shipped OpenCLIP one)' },
      'model-id': { type: 'string', value: '<id>', description: 'model id in the manifest (default the folder name)' },
      'segment-budget': {
        type: 'string',
        value: '<MiB>',
        description: 'cut towers into segments of at most this memory',
      },
      segmented: { type: 'boolean', description: 'cut towers for 128 MB isolates (the default budget)' },
      segments: { type: 'string', value: 'N', description: 'at least this many segments a tower' },
      'step-gflops': { type: 'string', value: '16', description: 'at most this much compute per image segment' },
      calibration: { type: 'string', value: '<dir|file.jsonl>', description: 'int8 calibration images or prompts' },
      'min-int8-cos': { type: 'string', value: '0.995', description: 'fidelity bar of every int8 tower vs fp32' },
    },
    example:
      'npx edge-clip build --checkpoint hf:laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft --out model-shards/clip',
  },
  {
    name: 'synth',
    summary: 'a random-weight checkpoint in the exact OpenCLIP layout (tests, benchmarks)',
    flags: {
      config: {
        type: 'string',
        value: 'convnext_large_d_320|<open_clip_config.json>',
        description: 'architecture',
        synopsis: true,
      },
      seed: { type: 'string', value: '0', description: 'random seed' },
      out: { type: 'string', value: '<dir>', description: 'output folder', synopsis: true },
      outliers: {
        type: 'string',
        value: 'gain=16x4,hidden=5x2,residual=100x2[,everywhere]',
        description: 'imitate trained towers’ outliers',
      },
    },
    example: 'npx edge-clip synth --config convnext_large_d_320 --seed 0 --out .cache/synth',
  },
  {
    name: 'embed',
    summary: 'image or text embeddings from a build, in Node',
    positionals: '[<text> ...]',
    flags: {
      model,
      precision,
      runtime: { type: 'string', value: 'node|web', description: 'onnxruntime-node or onnxruntime-web' },
      image: { type: 'string', multiple: true, value: '<file>', description: 'an image (repeatable)' },
      'image-tensor': { type: 'string', value: '<file.f32>', description: 'preprocessed pixels instead of images' },
      shape: { type: 'string', value: 'N,3,H,W', description: 'shape of --image-tensor' },
      text: { type: 'string', multiple: true, value: '<text>', description: 'a text (repeatable)' },
      raw: { type: 'boolean', description: 'features before L2 normalization' },
      threads,
    },
    example: 'npx edge-clip embed --model model-shards/<id> --text "a photo of a cat" --image cat.jpg',
  },
  {
    name: 'tokenize',
    summary: 'CLIP token ids, padded to the context length',
    positionals: '<text> ...',
    flags: { model, text: { type: 'string', multiple: true, value: '<text>', description: 'a text (repeatable)' } },
    example: 'npx edge-clip tokenize --model model-shards/<id> -- "a photo of a cat"',
  },
  {
    name: 'preprocess',
    summary: 'the model input of an image (OpenCLIP’s eval transform): float32 tensor and/or the crop as PNG',
    flags: {
      image: { type: 'string', value: '<file>', description: 'the image', synopsis: true },
      size: { type: 'string', value: '320', description: 'input size (default the model’s, else 320)' },
      orientation: { type: 'string', value: 'ignore|exif', description: 'apply the EXIF orientation first' },
      model: { ...model, synopsis: false, description: 'take size and normalization from this build' },
      'max-pixels': { type: 'string', value: 'N', description: 'refuse larger images' },
      out: { type: 'string', value: '<file.f32>', description: 'the model input: [3,S,S] float32' },
      png: { type: 'string', value: '<file.png>', description: 'the S×S crop before normalization, as PNG (jimp)' },
    },
    example: 'npx edge-clip preprocess --image cat.jpg --png cat-as-the-model-sees-it.png --out cat.f32',
  },
  {
    name: 'prompts build',
    summary: 'a label set’s zero-shot classifier (prompt embeddings) as a blob for KV',
    flags: {
      model,
      labelset: {
        type: 'string',
        value: '<imagenet1k|file.json>',
        description: 'shipped name or file',
        synopsis: true,
      },
      precision,
      dtype: { type: 'string', value: 'float16|float32', description: 'stored weights' },
      templates: { type: 'string', value: 'all|simple', description: 'OpenAI’s 80 templates or 1' },
      batch: { type: 'string', value: '64', description: 'prompts per run' },
      'max-batches': { type: 'string', value: 'N', description: 'stop after N batches (a partial set)' },
      threads,
      out: { type: 'string', value: '<file.ecls>', description: 'output blob' },
    },
    example: 'npx edge-clip prompts build --model model-shards/<id> --labelset imagenet1k --out imagenet1k.ecls',
  },
  {
    name: 'prompts upload',
    summary: 'put a classifier blob into the PROMPTS KV namespace',
    flags: {
      model,
      blob: { type: 'string', value: '<file.ecls>', description: 'the blob', synopsis: true },
      local: { type: 'boolean', description: 'the local (wrangler dev) namespace' },
      remote: { type: 'boolean', description: 'the deployed namespace' },
    },
    example: 'npx edge-clip prompts upload --model model-shards/<id> --blob imagenet1k.ecls --remote',
  },
  {
    name: 'eval',
    summary: 'zero-shot top-1/top-5 on an ImageFolder dataset',
    flags: {
      model,
      labelset: { type: 'string', value: '<name|file.ecls>', description: 'the classifier', synopsis: true },
      dataset: { type: 'string', value: '<ImageFolder>', description: 'one folder per class', synopsis: true },
      precision,
      limit: { type: 'string', value: 'N', description: 'at most N images' },
    },
    example: 'npx edge-clip eval --model model-shards/<id> --labelset imagenet1k --dataset imagenet/val',
  },
  {
    name: 'measure',
    summary: 'each segment’s memory in onnxruntime-web',
    flags: {
      model,
      tower: { type: 'string', value: 'image|text', description: 'one tower (default both)' },
      precision,
      engine: {
        type: 'string',
        value: 'onnxruntime|kernels',
        description: 'what runs the segment (default onnxruntime, as the build cuts)',
      },
      child: { type: 'boolean', description: 'internal: measure in this process' },
    },
    example: 'npx edge-clip measure --model model-shards/<id> --tower text',
  },
  {
    name: 'label',
    summary: 'label images (folders, files, URLs, a .jsonl list) through a Worker or a local build',
    positionals: '<folder|file|URL|list.jsonl> ...',
    flags: {
      url: { type: 'string', value: '<worker>', description: 'a Worker to call', synopsis: true },
      'api-key': { type: 'string', value: 'KEY', description: 'for a Worker whose inference routes need API_KEYS' },
      model: { ...model, synopsis: false, description: 'or run the Worker’s app here on this build' },
      labelset: { type: 'string', value: '<name>', description: 'a stored label set', synopsis: true },
      labels: { type: 'string', value: '"a,b,c"', description: 'or ad-hoc labels' },
      templates: { type: 'string', value: '"a photo of a {c}."', description: 'templates for ad-hoc labels' },
      'top-k': { type: 'string', value: '5', description: 'labels per image' },
      precision,
      concurrency: { type: 'string', value: '4', description: 'requests at once (with --url)' },
      out: { type: 'string', value: '<results.jsonl>', description: 'results; a second run resumes', synopsis: true },
    },
    example: 'npx edge-clip label --url https://<worker> --labelset imagenet1k --out results.jsonl photos/',
  },
  {
    name: 'hub',
    summary: 'whether the Hugging Face Hub (or HF_ENDPOINT) answers for a repo',
    flags: { repo: { type: 'string', value: 'owner/name', description: 'default the mission’s checkpoint' } },
    example: 'npx edge-clip hub --repo laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft',
  },
  {
    name: 'export-triton',
    summary: 'the fp32 towers as an NVIDIA Triton model repository',
    flags: {
      model,
      out: { type: 'string', value: '<dir>', description: 'the repository', synopsis: true },
      prefix: { type: 'string', value: 'edgeclip', description: 'model name prefix' },
      'max-batch': { type: 'string', value: '16', description: 'Triton max_batch_size' },
      'queue-delay-us': { type: 'string', value: '2000', description: 'dynamic batching delay' },
    },
    example: 'npx edge-clip export-triton --model model-shards/<id> --out triton-repo',
  },
];

export function commandSpec(name: string): CommandSpec {
  const spec = COMMAND_SPECS.find((s) => s.name === name);
  if (!spec) throw new Error(`no spec for ${name}`);
  return spec;
}

const flagText = (name: string, f: Flag) => `--${name}${f.type === 'string' ? ` ${f.value ?? '<value>'}` : ''}`;

/** One line per command: its required options; `edge-clip <command> --help` shows the rest. */
export function commandList(): string {
  const width = Math.max(...COMMAND_SPECS.map((s) => s.name.length));
  return COMMAND_SPECS.map((s) => {
    const synopsis = Object.entries(s.flags)
      .filter(([, f]) => f.synopsis)
      .map(([n, f]) => flagText(n, f));
    return `  ${s.name.padEnd(width)}  ${[...synopsis, ...(s.positionals ? [s.positionals] : []), '[options]'].join(' ')}`;
  }).join('\n');
}

/** `edge-clip <command> --help`. */
export function commandHelp(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([n, f]) => [flagText(n, f) + (f.multiple ? ' ...' : ''), f.description]);
  rows.push(['-h, --help', 'this help']);
  const width = Math.max(...rows.map(([a]) => a.length));
  return [
    `usage: edge-clip ${spec.name} [options]${spec.positionals ? ` ${spec.positionals}` : ''}`,
    '',
    spec.summary,
    '',
    'options:',
    ...rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`),
    '',
    `example: ${spec.example}`,
  ].join('\n');
}
