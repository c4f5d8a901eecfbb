/** Reference features computed in Node by `edge-clip embed` (normalized), handed to the workerd tests. */
export interface Reference {
  texts: string[];
  /** The conformance fixture's expected (unnormalized) text features of `texts`. */
  conformanceText: number[][];
  /** Its expected (unnormalized) image features of its images.f32. */
  conformanceImage: number[][];
  /** Its raw logit scale (the similarity scale is its exp) and logits_per_image [images][texts]. */
  logitScale: number;
  logitsPerImage: number[][];
  images: string[];
  fp32: { text: number[][]; image: number[][] };
  int8: { text: number[][]; image: number[][] };
  /** Zero-shot: the label set, its classifier blob built by `edge-clip prompts build` (base64), and the scores
   * computed from `edge-clip embed` image features (int8, onnxruntime-web) for each test image, all labels ranked. */
  zeroShot: {
    set: { name: string; labels: string[]; templates: string[] };
    blobBase64: string;
    expected: { label: string; index: number; score: number }[][];
  };
  /** What the CLI answered for the same inputs and build (test/worker/cli-parity.test.ts compares the routes). */
  cli: {
    /** `prompts build --precision fp32 --dtype float32` of `zeroShot.set`: its classifier rows. */
    promptsBuildFp32: number[][];
    /** `eval` with the int8 blob over an ImageFolder of `images` (image i in class folder i). */
    eval: { top1: number; top5: number; images: number };
    /** `label --model --labelset animals --top-k <all>` of each of `images`, in order. */
    label: { label: string; index: number; score: number }[][];
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    reference: Reference;
    /** The origin as the worker sees it (through a proxy with /__control/up|down). */
    origin: { url: string; token: string };
    /** A loopback server of image URLs, good and hostile (image-server.ts). */
    imageServer: string;
  }
}
