import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ManagedDatabase } from './entities/managed-database';
import { Rollout } from './entities/rollout';
import { RpcCall } from './entities/rpc-call';
import { migrations } from '../../migrations';

export const metadataEntities = [ManagedDatabase, Rollout, RpcCall];

/** The TypeORM DataSource of the metadata database. Migrations are run, never synchronize. */
export function metadataDataSource(settings: {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}): DataSource {
  return new DataSource({
    type: 'postgres',
    host: settings.host,
    port: settings.port,
    username: settings.user,
    password: settings.password,
    database: settings.database,
    entities: metadataEntities,
    migrations,
    migrationsTableName: 'typeorm_migration',
    migrationsTransactionMode: 'all',
    synchronize: false,
    logging: false,
    extra: { max: 5, application_name: 'iasql-metadata' },
  });
}
