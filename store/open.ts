/** Opens the store a process is configured for: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
import { sqliteFile } from '../config/index.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export async function openStore(config: { DATA_DIR: string; DATABASE_URL?: string | undefined }): Promise<Store> {
  if (config.DATABASE_URL) return openPostgresStore(config.DATABASE_URL);
  return openSqliteStore(sqliteFile(config));
}
