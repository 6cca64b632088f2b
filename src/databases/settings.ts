import type { PoolClient } from 'pg';
import type { LocalCloudAccount } from './manager';

/**
 * What the operator decided, written into a managed database for module SQL to read
 * (iasql_internal.engine_setting, sql/user-database/000006.sql): which endpoints aws_account may
 * point at, and the database's own local-cloud account. Written at create and at every start.
 */
export interface DatabaseSettings {
  /** Origins (scheme://host[:port], a host may start with '*.') an endpoint override may name. */
  allowedEndpoints: string[];
  /** The database's local-cloud account and where the local cloud listens, when the engine runs one. */
  localCloud?: LocalCloudAccount & { endpoint: string };
}

export async function writeSettings(c: PoolClient, settings: DatabaseSettings): Promise<void> {
  const rows: Array<[string, unknown]> = [['allowed_endpoints', settings.allowedEndpoints]];
  if (settings.localCloud) {
    const { endpoint, accessKeyId, secretAccessKey } = settings.localCloud;
    rows.push(['local_cloud', { endpoint, accessKeyId, secretAccessKey }]);
  }
  await c.query('begin');
  try {
    await c.query(`delete from iasql_internal.engine_setting`);
    for (const [name, value] of rows) {
      await c.query('insert into iasql_internal.engine_setting (name, value) values ($1, $2)', [name, JSON.stringify(value)]);
    }
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    throw err;
  }
}

/** AWS's own endpoints, allowed by default beside the engine's local cloud. */
export const AWS_ENDPOINTS = ['https://*.amazonaws.com', 'https://*.amazonaws.com.cn', 'https://*.api.aws'];
