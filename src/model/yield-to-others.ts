/**
 * Lets the isolate run other ready work (requests, health probes) before continuing: a macrotask, not a microtask,
 * so that I/O callbacks get their turn. Long jobs call it between their steps.
 */
export const yieldToOthers = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
