/** Our int8 linear kernels in workerd: both builds arrive precompiled (workerd's V8 has relaxed SIMD). */

import type { KernelModules } from '../../kernels/kernels.ts';
import plain from '../../kernels/kernels.wasm';
import relaxed from '../../kernels/kernels-relaxed.wasm';

export const workerdKernelModules: KernelModules = { plain, relaxed };
