/** open_clip_config.json → the architecture the graph builders need, read from the config and never from the name. */
import type { PreprocessConfig } from '../../src/contracts/manifest.ts';
import { badCheckpoint } from './checkpoint.ts';

export interface OpenClipConfigFile {
  model_cfg: Record<string, unknown>;
  preprocess_cfg?: Record<string, unknown>;
}

export interface VisionArch {
  imageSize: number;
  depths: number[];
  dims: number[];
}
export interface TextArch {
  contextLength: number;
  vocabSize: number;
  width: number;
  heads: number;
  layers: number;
}
export interface ModelArch {
  embedDim: number;
  vision: VisionArch;
  text: TextArch;
}

/** timm ConvNeXt variants (depths, dims); `timm_model_kwargs` may override both. */
const CONVNEXT_VARIANTS: Record<string, { depths: number[]; dims: number[] }> = {
  convnext_tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768] },
  convnext_small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768] },
  convnext_base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024] },
  convnext_large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536] },
  convnext_xlarge: { depths: [3, 3, 27, 3], dims: [256, 512, 1024, 2048] },
  convnext_xxlarge: { depths: [3, 4, 30, 3], dims: [384, 768, 1536, 3072] },
};

const OPENAI_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** Built-in configs for `synth --config NAME` (OpenCLIP's model_configs, with the pretrained preprocess_cfg). */
export const BUILTIN_CONFIGS: Record<string, OpenClipConfigFile> = {
  convnext_large_d_320: {
    model_cfg: {
      embed_dim: 768,
      vision_cfg: {
        timm_model_name: 'convnext_large',
        timm_model_pretrained: false,
        timm_pool: '',
        timm_proj: 'mlp',
        timm_drop: 0.0,
        timm_drop_path: 0.1,
        image_size: 320,
      },
      text_cfg: { context_length: 77, vocab_size: 49408, width: 768, heads: 12, layers: 16 },
    },
    preprocess_cfg: { mean: OPENAI_MEAN, std: OPENAI_STD, interpolation: 'bicubic', resize_mode: 'shortest' },
  },
};

const num = (v: unknown, what: string, file: string): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw badCheckpoint(file, `${what} must be a positive integer`);
  return v;
};

export function parseArch(cfg: OpenClipConfigFile, file: string): ModelArch {
  const m = cfg.model_cfg;
  if (typeof m !== 'object' || m === null) throw badCheckpoint(file, 'model_cfg missing');
  const v = m.vision_cfg as Record<string, unknown> | undefined;
  const t = m.text_cfg as Record<string, unknown> | undefined;
  if (!v || !t) throw badCheckpoint(file, 'model_cfg needs vision_cfg and text_cfg');
  const variant = CONVNEXT_VARIANTS[String(v.timm_model_name)];
  if (!variant)
    throw badCheckpoint(file, `vision_cfg.timm_model_name ${String(v.timm_model_name)} is not a supported ConvNeXt`);
  if ((v.timm_proj ?? 'linear') !== 'mlp' || (v.timm_pool ?? 'avg') !== '') {
    throw badCheckpoint(file, 'only timm_proj "mlp" with timm_pool "" (the convnext_*_d heads) is supported');
  }
  const kwargs = (v.timm_model_kwargs ?? {}) as { depths?: number[]; dims?: number[] };
  const depths = kwargs.depths ?? variant.depths;
  const dims = kwargs.dims ?? variant.dims;
  if (depths.length !== 4 || dims.length !== 4) throw badCheckpoint(file, 'ConvNeXt needs 4 depths and 4 dims');
  const imageSize = Array.isArray(v.image_size) ? v.image_size[0] : v.image_size;
  const arch: ModelArch = {
    embedDim: num(m.embed_dim, 'embed_dim', file),
    vision: { imageSize: num(imageSize, 'vision_cfg.image_size', file), depths, dims },
    text: {
      contextLength: num(t.context_length ?? 77, 'text_cfg.context_length', file),
      vocabSize: num(t.vocab_size ?? 49408, 'text_cfg.vocab_size', file),
      width: num(t.width, 'text_cfg.width', file),
      heads: num(t.heads, 'text_cfg.heads', file),
      layers: num(t.layers, 'text_cfg.layers', file),
    },
  };
  if (arch.text.width % arch.text.heads !== 0) throw badCheckpoint(file, 'text width is not divisible by heads');
  if (arch.vision.imageSize % 32 !== 0) throw badCheckpoint(file, 'image_size must be a multiple of 32');
  if (m.quick_gelu) throw badCheckpoint(file, 'quick_gelu models are not supported');
  return arch;
}

export function parsePreprocess(cfg: OpenClipConfigFile, arch: ModelArch, file: string): PreprocessConfig {
  const p = cfg.preprocess_cfg ?? {};
  const mean = (p.mean as [number, number, number] | undefined) ?? OPENAI_MEAN;
  const std = (p.std as [number, number, number] | undefined) ?? OPENAI_STD;
  const interpolation = (p.interpolation as string | undefined) ?? 'bicubic';
  const resizeMode = (p.resize_mode as string | undefined) ?? 'shortest';
  if (interpolation !== 'bicubic' && interpolation !== 'bilinear') {
    throw badCheckpoint(file, `preprocess_cfg.interpolation ${interpolation} is not supported (bicubic, bilinear)`);
  }
  if (resizeMode !== 'shortest' && resizeMode !== 'squash') {
    throw badCheckpoint(file, `preprocess_cfg.resize_mode ${resizeMode} is not supported (shortest, squash)`);
  }
  return { size: arch.vision.imageSize, mean, std, interpolation, resizeMode };
}

/** Every tensor of the OpenCLIP state dict for this architecture, in state_dict order, with its shape. */
export function stateDictSpec(arch: ModelArch): [string, number[]][] {
  const { vision: v, text: t, embedDim: E } = arch;
  const W = t.width;
  const out: [string, number[]][] = [
    ['positional_embedding', [t.contextLength, W]],
    ['text_projection', [W, E]],
    ['logit_scale', []],
    ['visual.trunk.stem.0.weight', [v.dims[0], 3, 4, 4]],
    ['visual.trunk.stem.0.bias', [v.dims[0]]],
    ['visual.trunk.stem.1.weight', [v.dims[0]]],
    ['visual.trunk.stem.1.bias', [v.dims[0]]],
  ];
  for (let s = 0; s < 4; s++) {
    const C = v.dims[s];
    const st = `visual.trunk.stages.${s}`;
    if (s > 0) {
      const P = v.dims[s - 1];
      out.push([`${st}.downsample.0.weight`, [P]], [`${st}.downsample.0.bias`, [P]]);
      out.push([`${st}.downsample.1.weight`, [C, P, 2, 2]], [`${st}.downsample.1.bias`, [C]]);
    }
    for (let b = 0; b < v.depths[s]; b++) {
      const bl = `${st}.blocks.${b}`;
      out.push(
        [`${bl}.gamma`, [C]],
        [`${bl}.conv_dw.weight`, [C, 1, 7, 7]],
        [`${bl}.conv_dw.bias`, [C]],
        [`${bl}.norm.weight`, [C]],
        [`${bl}.norm.bias`, [C]],
        [`${bl}.mlp.fc1.weight`, [4 * C, C]],
        [`${bl}.mlp.fc1.bias`, [4 * C]],
        [`${bl}.mlp.fc2.weight`, [C, 4 * C]],
        [`${bl}.mlp.fc2.bias`, [C]],
      );
    }
  }
  const C3 = v.dims[3];
  out.push(
    ['visual.trunk.head.norm.weight', [C3]],
    ['visual.trunk.head.norm.bias', [C3]],
    ['visual.head.mlp.fc1.weight', [2 * E, C3]],
    ['visual.head.mlp.fc1.bias', [2 * E]],
    ['visual.head.mlp.fc2.weight', [E, 2 * E]],
  );
  for (let i = 0; i < t.layers; i++) {
    const r = `transformer.resblocks.${i}`;
    out.push(
      [`${r}.ln_1.weight`, [W]],
      [`${r}.ln_1.bias`, [W]],
      [`${r}.attn.in_proj_weight`, [3 * W, W]],
      [`${r}.attn.in_proj_bias`, [3 * W]],
      [`${r}.attn.out_proj.weight`, [W, W]],
      [`${r}.attn.out_proj.bias`, [W]],
      [`${r}.ln_2.weight`, [W]],
      [`${r}.ln_2.bias`, [W]],
      [`${r}.mlp.c_fc.weight`, [4 * W, W]],
      [`${r}.mlp.c_fc.bias`, [4 * W]],
      [`${r}.mlp.c_proj.weight`, [W, 4 * W]],
      [`${r}.mlp.c_proj.bias`, [W]],
    );
  }
  out.push(['token_embedding.weight', [t.vocabSize, W]], ['ln_final.weight', [W]], ['ln_final.bias', [W]]);
  return out;
}
