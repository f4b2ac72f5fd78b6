/**
 * The bench's bare HTTP side, one express app: `POST /bare` answers 200 (the ingestion baseline); `POST
 * /submit` answers 200 and then, like the simulator, posts one callback per step to `/signal/:workflowId`
 * after a delay; `/signal/:workflowId` signals that workflow with the callback's post time (no store, no
 * correlation: the bare endpoint→signal path). `POST /pace {perSecond}` paces those callbacks as the
 * simulator's `/__sim/callbacks/pace` does (0 holds them, null stops pacing).
 */
import { Client, Connection } from '@temporalio/client';
import express from 'express';
import { Agent, request } from 'node:http';
import { RateGate } from '../simulator/platform/rate-gate.js';

const port = Number(process.env.BASELINE_PORT ?? 3300);
const delayMs = Number(process.env.BASELINE_CALLBACK_DELAY_MS ?? 50);
const self = `http://127.0.0.1:${port}`;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
const client = new Client({ connection });

/** POSTs a JSON body to this app; resolves once answered (errors are the bench's to see as missing signals). */
function post(path: string, body: unknown): Promise<void> {
  return new Promise((resolve) => {
    const req = request(`${self}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } });
    req.on('response', (res) => res.resume().on('end', () => resolve()));
    req.on('error', () => resolve());
    req.end(JSON.stringify(body));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A step callback to send: its post time is taken when it leaves. */
const sendStep = (workflowId: string): void =>
  void post(`/signal/${encodeURIComponent(workflowId)}`, { postedAt: Date.now() });
let gate: RateGate<string> | undefined;

const app = express();
app.use(express.json({ limit: '1mb' }));
app.post('/bare', (_req, res) => void res.sendStatus(200));
app.post('/submit', (req, res) => {
  const { workflowId, callbacks } = req.body as { workflowId: string; callbacks: number };
  res.sendStatus(200);
  void (async () => {
    for (let i = 0; i < callbacks; i++) {
      if (i === 0 || callbacks <= 3) await sleep(delayMs);
      if (gate) gate.push(workflowId);
      else sendStep(workflowId);
    }
  })();
});
app.post('/signal/:workflowId', async (req, res) => {
  try {
    await client.workflow.getHandle(String(req.params.workflowId)).signal('step', req.body);
    res.sendStatus(200);
  } catch {
    res.sendStatus(503);
  }
});
app.post('/pace', (req, res) => {
  const { perSecond } = req.body as { perSecond?: unknown };
  if (perSecond !== null && !(Number.isInteger(perSecond) && (perSecond as number) >= 0)) {
    res.status(400).json({ error: 'perSecond must be a whole number ≥ 0, or null' });
    return;
  }
  if (perSecond === null) {
    gate?.stop().forEach(sendStep);
    gate = undefined;
  } else if (gate) gate.setRate(perSecond as number);
  else gate = new RateGate(perSecond as number, sendStep);
  res.sendStatus(200);
});
app.get('/pace', (_req, res) => void res.json({ queued: gate?.size ?? 0 }));
app.get('/healthz', (_req, res) => void res.sendStatus(200));
const server = app.listen(port, '127.0.0.1');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void connection.close();
  });
}
