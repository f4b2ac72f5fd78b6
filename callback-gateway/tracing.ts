/**
 * The gateway's spans (no-ops unless a tracer provider is registered, telemetry/tracing.ts): one per
 * callback POST, and one per signal the dispatcher sends, whose parent is the POST span of the first
 * callback it carries and which links the POST spans of the others. The Temporal client's interceptor
 * puts the dispatch span's context in the signal's header, so the saga's handling of the signal joins
 * the callback's trace. POST spans are remembered in memory by inbox id: a callback dispatched by
 * another gateway, or after a restart, starts a trace of its own.
 */
import { context, type Link, type SpanContext, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Request, Response } from 'express';

const tracer = trace.getTracer('euicc-orchestrator');
/** Most POST spans remembered; the oldest are forgotten first. */
const REMEMBERED = 10_000;
const posted = new Map<number, SpanContext>();

/**
 * A callback path as traces may show it: the segment after `/callbacks/` may be the secret path token, so it
 * is replaced whatever it is (`/callbacks/<token>/CarrierService/0000123456-00001`); no query string.
 */
export function maskedCallbackPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.replace(/^(\/callbacks\/)[^/]+/, '$1<token>');
}

/** Starts the span of a callback POST; it ends with the answer, named by `res.locals` (service, inbox id, outcome). */
export function traceCallbackPost(req: Request, res: Response): void {
  const span = tracer.startSpan(`POST ${req.baseUrl}`, {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': req.method, 'url.path': maskedCallbackPath(req.originalUrl) },
  });
  if (!span.isRecording()) return;
  res.on('finish', () => {
    const { service, inboxId, outcome } = res.locals as { service?: string; inboxId?: number; outcome?: string };
    span.setAttribute('http.response.status_code', res.statusCode);
    if (service !== undefined) span.setAttribute('thingspace.service', service);
    span.setAttribute('euicc.callback.outcome', outcome ?? 'refused');
    if (inboxId !== undefined) {
      span.setAttribute('euicc.inbox.id', inboxId);
      if (outcome === 'accepted') {
        posted.set(inboxId, span.spanContext());
        if (posted.size > REMEMBERED) posted.delete(posted.keys().next().value as number);
      }
    }
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}

/** Runs `send` (one signal) in a span under the first callback's POST span, linked to the others'. */
export async function traceDispatch<T>(
  attributes: { workflowId: string; runId: string },
  inboxIds: readonly number[],
  send: () => Promise<T>,
): Promise<T> {
  const contexts = inboxIds.flatMap((id) => {
    const found = posted.get(id);
    return found ? [found] : [];
  });
  const [first] = contexts;
  const parent = first ? trace.setSpanContext(context.active(), first) : context.active();
  const links: Link[] = contexts.slice(1).map((ctx) => ({ context: ctx }));
  return tracer.startActiveSpan(
    'dispatch callbacks',
    {
      kind: SpanKind.PRODUCER,
      links,
      attributes: {
        'temporal.workflow_id': attributes.workflowId,
        'temporal.run_id': attributes.runId,
        'euicc.callbacks': inboxIds.length,
      },
    },
    parent,
    async (span) => {
      try {
        return await send();
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        for (const id of inboxIds) posted.delete(id);
        span.end();
      }
    },
  );
}
