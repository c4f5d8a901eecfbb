/**
 * A decoder compiled to wasm (libjpeg-turbo, libwebp). The runtime adapter hands in the compiled Module (workerd
 * cannot compile wasm from bytes; it imports the .wasm file as a module); an instance that failed is replaced.
 */
import { EdgeClipError } from '../../contracts/errors.ts';

export class WasmCodec {
  private module: WebAssembly.Module | undefined;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly instantiate: (module: WebAssembly.Module) => Promise<void>,
  ) {}

  init(module: WebAssembly.Module): Promise<void> {
    this.module = module;
    this.ready ??= this.instantiate(module);
    return this.ready;
  }

  /** Runs `decode` on the instance; a failure (a trap, or exit()) leaves it in an undefined state: never reuse it. */
  async run<T>(decode: () => Promise<T>): Promise<T> {
    if (!this.ready || !this.module)
      throw new EdgeClipError('INTERNAL', `${this.name} decoder not initialised: call initImageDecoders() first`);
    await this.ready;
    try {
      return await decode();
    } catch (e) {
      this.ready = this.instantiate(this.module);
      throw e;
    }
  }
}
