/** ONNX enum values used by the writer (onnx.proto). */
import type { DType } from '../../src/contracts/tensors.ts';

export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  float16: 10,
};

export const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export const IR_VERSION = 8;
export const OPSET = 17;
