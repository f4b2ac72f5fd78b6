export type * from './types.js';
export { openSqliteStore } from './sqlite.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
export { openStore } from './open.js';
export { withGroupCommit, type GroupCommitOptions } from './group-commit.js';
