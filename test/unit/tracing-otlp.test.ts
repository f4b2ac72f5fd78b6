/** telemetry/tracing.ts: nothing without an endpoint; with one, spans are POSTed to <endpoint>/v1/traces. */
import { trace } from '@opentelemetry/api';
import { createServer, type IncomingMessage } from 'node:http';
import { startTracing } from '../../telemetry/tracing.js';
import { listen } from '../fixtures/http.js';

test('without an OTLP endpoint or span processor, tracing installs nothing', () => {
  expect(startTracing({ serviceName: 'euicc-test' })).toBeUndefined();
  expect(trace.getTracer('t').startSpan('x').isRecording()).toBe(false);
});

test('with OTEL_EXPORTER_OTLP_ENDPOINT, spans are exported over OTLP/HTTP to its /v1/traces', async () => {
  const received: { path: string; body: string }[] = [];
  const collector = await listen({
    listen: (port, host) =>
      createServer((req: IncomingMessage, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      }).listen(port, host),
  });
  try {
    const tracing = startTracing({ serviceName: 'euicc-test', otlpEndpoint: `${collector.url}/` });
    expect(tracing).toBeDefined();
    trace.getTracer('t').startSpan('exported span').end();
    await tracing?.shutdown();
    expect(received.map((r) => r.path)).toEqual(['/v1/traces']);
    expect(received[0]?.body).toContain('exported span');
    expect(received[0]?.body).toContain('euicc-test');
  } finally {
    await collector.close();
  }
});
