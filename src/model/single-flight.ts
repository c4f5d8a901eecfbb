/** Concurrent callers of the same key share one in-flight promise; a failure is forgotten so the next call retries. */
export class SingleFlight<T> {
  private readonly pending = new Map<string, Promise<T>>();

  get(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.pending.get(key);
    if (!p) {
      p = load();
      this.pending.set(key, p);
      p.catch(() => this.pending.delete(key));
    }
    return p;
  }

  has(key: string): boolean {
    return this.pending.has(key);
  }

  /** Forgets every key; what was loading or loaded, for the caller to wait on or free. */
  clear(): Promise<T>[] {
    const all = [...this.pending.values()];
    this.pending.clear();
    return all;
  }
}
