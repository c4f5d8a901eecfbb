/**
 * A decoder compiled to wasm (libjpeg-turbo, libwebp, libavif). The runtime adapter hands in the compiled Module
 * (workerd cannot compile wasm from bytes; it imports the .wasm file as a module). The instance is made on the first
 * image of its format, because each starts with 16 MiB of memory of an isolate's 128 MB; one that failed is replaced,
 * and so is one that a large image grew: wasm memory never shrinks, so an instance that once decoded a 12 MP photo
 * would otherwise hold ~100 MiB for the isolate's life.
 */
import { init as initAvif } from '@jsquash/avif/decode.js';
import { init as initJpeg } from '@jsquash/jpeg/decode.js';
import { init as initWebp } from '@jsquash/webp/decode.js';
import { EdgeClipError, isEdgeClipError } from '../../contracts/errors.ts';
import type { DecoderModules, ModuleSource } from '../ports.ts';
import { FairLock } from '../waiting.ts';

/** Decodes of more pixels than this grow an instance's memory well past its initial 16 MiB (measured: 4 to 10 bytes a pixel). */
export const FRESH_INSTANCE_AFTER_PIXELS = 1_000_000;

export class WasmCodec {
  private ready: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly module: ModuleSource | undefined,
    private readonly instantiate: (module: WebAssembly.Module) => Promise<void>,
  ) {}

  /**
   * Runs `decode` on the instance. Any failure (a trap, or exit()) leaves the instance in an undefined state: it is
   * dropped. A trap is the decoder's failure, not the image's (out of memory, say): 500; any other failure is the
   * decoder refusing the data: 422 "corrupt <format>".
   */
  async run<T>(decode: () => Promise<T>, pixels: number): Promise<T> {
    const module = this.module;
    if (!module)
      throw new EdgeClipError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${this.name} images cannot be decoded here (no ${this.name} decoder was given)`,
      );
    this.ready ??= this.start(module);
    try {
      await this.ready;
    } catch (e) {
      this.ready = undefined;
      throw new EdgeClipError('INTERNAL', `the ${this.name} decoder could not start: ${(e as Error).message}`, {
        cause: e,
      });
    }
    try {
      const result = await decode();
      if (pixels > FRESH_INSTANCE_AFTER_PIXELS) {
        // Replaced now, not on the next image: jsquash holds the grown instance until its init runs again.
        const fresh = this.start(module);
        fresh.catch(() => {
          if (this.ready === fresh) this.ready = undefined;
        });
        this.ready = fresh;
      }
      return result;
    } catch (e) {
      this.ready = undefined;
      if (e instanceof WebAssembly.RuntimeError)
        throw new EdgeClipError('INTERNAL', `the ${this.name} decoder failed: ${e.message}`, { cause: e });
      if (isEdgeClipError(e)) throw e;
      throw new EdgeClipError('UNPROCESSABLE_IMAGE', `corrupt ${this.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  private async start(module: ModuleSource): Promise<void> {
    return this.instantiate(typeof module === 'function' ? await module() : module);
  }
}

/**
 * A model's handles on the wasm decoders, made from the modules its adapter hands in (`ModelPorts.decoders`). jsquash
 * holds the instance itself, one per format in the process or isolate: models there share it, and any codec that sees
 * it fail makes a fresh one for all.
 */
export interface ImageDecoders {
  jpeg: WasmCodec;
  webp: WasmCodec;
  avif: WasmCodec;
  /**
   * Held for each image's decode and resize, so that an isolate holds one full-size image at a time: its memory peak
   * is one image's (the decode budget), however many requests bring images.
   */
  oneAtATime: FairLock;
}

/** jsquash's `init` takes the precompiled Module as its first argument (its typings only show the options). */
type Init = (module: WebAssembly.Module) => Promise<void>;

export function imageDecoders(modules: DecoderModules | undefined): ImageDecoders {
  return {
    jpeg: new WasmCodec('JPEG', modules?.jpeg, initJpeg as unknown as Init),
    webp: new WasmCodec('WebP', modules?.webp, initWebp as unknown as Init),
    avif: new WasmCodec('AVIF', modules?.avif, initAvif as unknown as Init),
    oneAtATime: new FairLock(),
  };
}
