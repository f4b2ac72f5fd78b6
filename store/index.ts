export type * from './types.js';
export type * from './operations.js';
export { DEVICE_STATES } from './operations.js';
export { openSqliteStore } from './sqlite.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
export { openSqliteOperationStore } from './operations-sqlite.js';
export { openPostgresOperationStore, type PostgresOperationStoreOptions } from './operations-postgres.js';
export { OperationStoreError } from './operation-rows.js';
export { openStore, openOperationStore } from './open.js';
