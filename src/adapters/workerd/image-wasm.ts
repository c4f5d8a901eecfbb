/** The wasm image decoders in workerd: their .wasm files arrive as precompiled modules (no compiling from bytes). */
import avifWasm from '@jsquash/avif/codec/dec/avif_dec.wasm';
import mozjpegWasm from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
import webpWasm from '@jsquash/webp/codec/dec/webp_dec.wasm';
import { initImageDecoders } from '../../model/image/decode-image.ts';

export const initImageDecodersForWorkerd = (): void =>
  initImageDecoders({ jpeg: mozjpegWasm, webp: webpWasm, avif: avifWasm });
