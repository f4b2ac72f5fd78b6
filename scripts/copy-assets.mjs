// `npm run build:prod`: copies into dist/ the files tsc does not emit, which the compiled processes read.
import { cpSync } from 'node:fs';

for (const path of ['codec/failure-converter.cjs', 'simulator/fixtures']) {
  cpSync(path, `dist/${path}`, { recursive: true });
}
