/** The wasm image decoders in workerd: their .wasm files arrive as precompiled modules (no compiling from bytes). */
import avif from '@jsquash/avif/codec/dec/avif_dec.wasm';
import jpeg from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
import webp from '@jsquash/webp/codec/dec/webp_dec.wasm';
import type { DecoderModules } from '../../model/ports.ts';

export const workerdDecoderModules: DecoderModules = { jpeg, webp, avif };
