// Entry of the dispatch thread when the gateway runs from its TypeScript sources (npm start, the tests): Node 20
// does not apply `--import tsx` to a worker's entry module, so tsx is registered in the thread first.
import { register } from 'tsx/esm/api';

register();
await import('./dispatch-worker.ts');
