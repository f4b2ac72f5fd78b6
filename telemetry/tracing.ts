/**
 * OpenTelemetry tracing, shared by the worker and the gateway: a tracer provider registered for the
 * process, exporting over OTLP/HTTP when an endpoint is configured (or to the span processor a test
 * gives), and the Temporal interceptors that carry the trace through client calls, workflows, activities
 * and signals. Without either, nothing is installed: tracing costs nothing and prints nothing.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { ClientInterceptors } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import { createRequire } from 'node:module';

/** OpenTelemetry's workflow interceptors (spans of the workflow, its signals, updates and activities). */
export const OTEL_WORKFLOW_INTERCEPTORS_PATH = createRequire(import.meta.url).resolve(
  '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors',
);

export interface Tracing {
  readonly resource: Resource;
  readonly spanProcessor: SpanProcessor;
  /** Flushes and stops the exporter. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** `service.name` of the spans (`euicc-worker`, `euicc-gateway`). */
  serviceName: string;
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); `/v1/traces` is appended. */
  otlpEndpoint?: string;
  /** Where spans go instead of OTLP (tests: a SimpleSpanProcessor on an InMemorySpanExporter). */
  spanProcessor?: SpanProcessor;
}

/** Registers a tracer provider for the process; undefined (and nothing registered) when neither is given. */
export function startTracing(options: TracingOptions): Tracing | undefined {
  const spanProcessor =
    options.spanProcessor ??
    (options.otlpEndpoint !== undefined
      ? new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces` }))
      : undefined);
  if (spanProcessor === undefined) return undefined;
  const resource = new Resource({ 'service.name': options.serviceName });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  return { resource, spanProcessor, shutdown: () => provider.shutdown() };
}

/** A Temporal client's interceptors that start a span per call and carry it in the call's headers. */
export function tracingClientInterceptors(): ClientInterceptors {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}

/** The worker's part (`WorkerTelemetry` in workers/worker.ts): workflow spans exported through a sink. */
export function tracingWorkerTelemetry(tracing: Tracing) {
  return {
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
    activityInterceptors: [
      (ctx: ConstructorParameters<typeof OpenTelemetryActivityInboundInterceptor>[0]) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
    workflowModules: [OTEL_WORKFLOW_INTERCEPTORS_PATH],
  };
}
