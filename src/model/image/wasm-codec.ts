/**
 * A decoder compiled to wasm (libjpeg-turbo, libwebp, libavif). The runtime adapter hands in the compiled Module
 * (workerd cannot compile wasm from bytes; it imports the .wasm file as a module). The instance is made on the first
 * image of its format, because each starts with 16 MiB of memory of an isolate's 128 MB; one that failed is replaced.
 */
import { EdgeClipError, isEdgeClipError } from '../../contracts/errors.ts';

export class WasmCodec {
  private module: WebAssembly.Module | undefined;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly instantiate: (module: WebAssembly.Module) => Promise<void>,
  ) {}

  init(module: WebAssembly.Module): void {
    this.module = module;
  }

  /**
   * Runs `decode` on the instance. Any failure (a trap, or exit()) leaves the instance in an undefined state: it is
   * dropped. A trap is the decoder's failure, not the image's (out of memory, say): 500; any other failure is the
   * decoder refusing the data: 422 "corrupt <format>".
   */
  async run<T>(decode: () => Promise<T>): Promise<T> {
    const module = this.module;
    if (!module)
      throw new EdgeClipError('INTERNAL', `${this.name} decoder not initialised: call initImageDecoders() first`);
    this.ready ??= this.instantiate(module);
    try {
      await this.ready;
    } catch (e) {
      this.ready = undefined;
      throw new EdgeClipError('INTERNAL', `the ${this.name} decoder could not start: ${(e as Error).message}`, {
        cause: e,
      });
    }
    try {
      return await decode();
    } catch (e) {
      this.ready = undefined;
      if (e instanceof WebAssembly.RuntimeError)
        throw new EdgeClipError('INTERNAL', `the ${this.name} decoder failed: ${e.message}`, { cause: e });
      if (isEdgeClipError(e)) throw e;
      throw new EdgeClipError('UNPROCESSABLE_IMAGE', `corrupt ${this.name}: ${(e as Error).message}`, { cause: e });
    }
  }
}
