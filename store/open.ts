/** Opens the stores a process is configured for: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
import { operationsFile, sqliteFile } from '../config/index.js';
import { openPostgresOperationStore } from './operations-postgres.js';
import { openSqliteOperationStore } from './operations-sqlite.js';
import type { OperationStore } from './operations.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export async function openStore(config: { DATA_DIR: string; DATABASE_URL?: string | undefined }): Promise<Store> {
  if (config.DATABASE_URL) return openPostgresStore(config.DATABASE_URL);
  return openSqliteStore(sqliteFile(config));
}

/** The devices of bulk operations: in the same database as the inbox, or in a SQLite file of their own. */
export async function openOperationStore(config: {
  DATA_DIR: string;
  DATABASE_URL?: string | undefined;
}): Promise<OperationStore> {
  if (config.DATABASE_URL) return openPostgresOperationStore(config.DATABASE_URL);
  return openSqliteOperationStore(operationsFile(config));
}
