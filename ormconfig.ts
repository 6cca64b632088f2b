// The one DataSource the TypeORM CLI uses (npm run migration:show | migration:run | migration:generate):
// the metadata database of the server in DATABASE_URL, or of the embedded Postgres under IASQL_HOME
// (which must be running: start the engine first).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from './src/config';
import { metadataDataSource } from './src/metadata/data-source';
import { urlSettings } from './src/postgres/connections';

function settings() {
  const config = loadConfig();
  if (config.databaseUrl) return urlSettings(config.databaseUrl, config.metadataDatabase);
  const password = fs.readFileSync(path.join(config.home, 'pg-password'), 'utf8').trim();
  return { host: '127.0.0.1', port: config.pgPort, user: 'postgres', password, database: config.metadataDatabase };
}

export default metadataDataSource(settings());
