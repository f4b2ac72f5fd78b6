#!/usr/bin/env node
// `npx euicc`: the ops CLI is TypeScript, so register tsx's loader before importing it.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../client/cli.ts');
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
});
