/** deploy/grafana/euicc-orchestrator.json: valid JSON whose every expression names metrics the code registers. */
import { readFileSync } from 'node:fs';
import { GATEWAY_METRIC_NAMES } from '../../callback-gateway/metrics.js';
import { RUNTIME_METRIC_NAMES, WORKER_METRIC_NAMES } from '../../workers/metrics.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
}

const FILE = new URL('../../deploy/grafana/euicc-orchestrator.json', import.meta.url);
const dashboard = JSON.parse(readFileSync(FILE, 'utf8')) as { title: string; uid: string; panels: Panel[] };
const graphs = dashboard.panels.filter((p) => p.type !== 'row');
const OWN = new Set<string>([...GATEWAY_METRIC_NAMES, ...WORKER_METRIC_NAMES]);
const KNOWN = new Set<string>([...OWN, ...RUNTIME_METRIC_NAMES]);

/** Metric names an expression reads, histogram series suffixes removed. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(?:euicc|temporal)_[a-z0-9_]+/g)].map(([name]) =>
    name.replace(/_(bucket|sum|count)$/, ''),
  );
}

describe('Grafana dashboard', () => {
  it('is a dashboard with a title, a uid, unique panel ids, and a query in every graph', () => {
    expect(dashboard.title).toBe('euicc-orchestrator');
    expect(dashboard.uid).toMatch(/^[a-z0-9-]+$/);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(graphs.length).toBeGreaterThan(0);
    for (const panel of graphs) {
      expect(panel.title).not.toBe('');
      expect(panel.gridPos.w).toBeGreaterThan(0);
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(metricsIn(target.expr).length).toBeGreaterThan(0);
    }
  });

  it('reads only metrics the worker, the gateway or the Temporal runtime register', () => {
    const unknown = graphs.flatMap((p) =>
      (p.targets ?? []).flatMap((t) => metricsIn(t.expr).filter((name) => !KNOWN.has(name))),
    );
    expect(unknown).toEqual([]);
  });

  it("shows every metric of the project's own", () => {
    const shown = new Set(graphs.flatMap((p) => (p.targets ?? []).flatMap((t) => metricsIn(t.expr))));
    expect([...OWN].filter((name) => !shown.has(name))).toEqual([]);
  });
});
