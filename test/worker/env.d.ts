declare namespace Cloudflare {
  interface Env {
    MODELS: R2Bucket;
    PROMPTS: KVNamespace;
    MODEL_ID: string;
    FIXTURES: Fetcher;
  }
}
