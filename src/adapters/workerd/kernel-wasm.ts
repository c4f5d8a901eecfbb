/** Our int8 linear kernels in workerd: both builds arrive precompiled (workerd's V8 has relaxed SIMD). */

import type { KernelModules } from '../../kernels/int8-linear.ts';
import plain from '../../kernels/int8-linear.wasm';
import relaxed from '../../kernels/int8-linear-relaxed.wasm';

export const workerdKernelModules: KernelModules = { plain, relaxed };
