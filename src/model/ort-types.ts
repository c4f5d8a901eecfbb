/** The slice of the onnxruntime API edge-clip uses; onnxruntime-node and onnxruntime-web both provide it. */
import type { InferenceSession, Tensor } from 'onnxruntime-common';

export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}
export type { InferenceSession, Tensor };
