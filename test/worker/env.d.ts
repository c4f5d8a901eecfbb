/** Test-only bindings, merged into the Worker's generated Env (src/worker/worker-configuration.d.ts). */
declare namespace Cloudflare {
  interface Env {
    FIXTURES: Fetcher;
    TEST_RATE_LIMITER: RateLimit;
  }
}
