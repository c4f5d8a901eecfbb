/** Reference features computed in Node by `edge-clip embed` (normalized), handed to the workerd tests. */
export interface Reference {
  texts: string[];
  /** The conformance fixture's expected (unnormalized) text features of `texts`. */
  conformanceText: number[][];
  images: string[];
  fp32: { text: number[][]; image: number[][] };
  int8: { text: number[][]; image: number[][] };
}

declare module 'vitest' {
  export interface ProvidedContext {
    reference: Reference;
  }
}
