/** Reference features computed in Node by `edge-clip embed` (normalized), handed to the workerd tests. */
export interface Reference {
  texts: string[];
  /** The conformance fixture's expected (unnormalized) text features of `texts`. */
  conformanceText: number[][];
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
}

declare module 'vitest' {
  export interface ProvidedContext {
    reference: Reference;
    /** The origin as the worker sees it (through a proxy with /__control/up|down). */
    origin: { url: string; token: string };
  }
}
