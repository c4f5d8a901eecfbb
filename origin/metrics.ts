/**
 * The origin's Prometheus metrics, under Triton's names where Triton has one, written the way Prometheus wants them
 * (promtool lints Triton's own: counters end in `_total`, durations are seconds, not `_us`): `nv_inference_count` is
 * `nv_inference_count_total`, `nv_inference_request_duration_us` is `nv_inference_request_duration_seconds_total`.
 * Plus the batch-size histogram Triton lacks.
 */
import { Counter, Histogram, Registry } from 'prom-client';

const LABELS = ['model', 'version'] as const;

export class OriginMetrics {
  readonly registry = new Registry();
  private readonly counter = (name: string, help: string) =>
    new Counter({ name, help, labelNames: LABELS, registers: [this.registry] });
  readonly success = this.counter('nv_inference_request_success_total', 'Successful inference requests');
  readonly failure = this.counter('nv_inference_request_failure_total', 'Failed inference requests');
  readonly inferences = this.counter('nv_inference_count_total', 'Inferences performed (rows, not requests)');
  readonly executions = this.counter('nv_inference_exec_count_total', 'Model executions (batches) performed');
  readonly requestSeconds = this.counter(
    'nv_inference_request_duration_seconds_total',
    'Cumulative inference request duration (queue and compute included)',
  );
  readonly queueSeconds = this.counter('nv_inference_queue_duration_seconds_total', 'Cumulative queuing duration');
  readonly computeSeconds = this.counter(
    'nv_inference_compute_infer_duration_seconds_total',
    'Cumulative compute inference duration',
  );
  readonly batchSize = new Histogram({
    name: 'edgeclip_batch_size',
    help: 'Rows per model execution (the dynamic batcher)',
    labelNames: LABELS,
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });

  /** What the batcher reports of a model: one batch's rows and compute time, each request's queue time. */
  observer(model: string, version: string): BatchObserver {
    const labels = { model, version };
    // Every series from the start, at 0 as Triton reports them: an alert on failures needs the series to exist.
    const counters = [this.success, this.failure, this.inferences, this.executions];
    for (const c of [...counters, this.requestSeconds, this.queueSeconds, this.computeSeconds]) c.inc(labels, 0);
    return {
      executed: (rows, computeMs) => {
        this.executions.inc(labels);
        this.inferences.inc(labels, rows);
        this.computeSeconds.inc(labels, computeMs / 1000);
        this.batchSize.observe(labels, rows);
      },
      queued: (ms) => this.queueSeconds.inc(labels, ms / 1000),
    };
  }

  /** One infer request's end: its outcome and its whole duration. */
  request(model: string, version: string, ok: boolean, ms: number): void {
    const labels = { model, version };
    (ok ? this.success : this.failure).inc(labels);
    this.requestSeconds.inc(labels, ms / 1000);
  }
}

export interface BatchObserver {
  executed(rows: number, computeMs: number): void;
  queued(ms: number): void;
}
