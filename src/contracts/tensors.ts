/** Graph input/output names and layouts shared by the build tool, the worker and the origin. */

/** float32 [N,3,S,S], normalized RGB planes (NCHW). */
export const IMAGE_INPUT = 'pixel_values';
/** float32 [N,E], image features before L2 normalization. */
export const IMAGE_OUTPUT = 'image_embeds';
/** int64 [N,L], CLIP BPE ids; L may be anything from 2 to the context length (the graph is causal). */
export const TEXT_INPUT = 'input_ids';
/** float32 [N,E], text features before L2 normalization. */
export const TEXT_OUTPUT = 'text_embeds';

export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8';

export interface TensorSpec {
  name: string;
  dtype: DType;
  /** Fixed sizes are numbers; symbolic ones ("batch", "sequence") are strings. */
  dims: (number | string)[];
}

/** CLIP BPE's start- and end-of-text ids (the vocabulary's last two) and its context length. */
export const CLIP_TOKENS = { sotId: 49406, eotId: 49407, contextLength: 77 } as const;
