import { defineModule } from '../../src/modules/define';
import { DynamoTable } from './0.1.0/entities';
import { dataMethods } from './data';
import { dynamoTable } from './mapper';

/**
 * DynamoDB tables as rows: create, update (billing mode, throughput, table class), replace when
 * the key schema changes, delete, import from every enabled region, and moves between regions.
 * Their items from SQL: dynamo_put, dynamo_get, dynamo_delete, dynamo_query, dynamo_scan (data.ts).
 * The worked example of docs/module-authoring.md ("Cloud resources").
 */
export default defineModule({
  name: 'aws_dynamo',
  description: 'DynamoDB tables, and their items from SQL',
  dir: __dirname,
  versions: [
    {
      version: '0.1.0',
      dependencies: ['aws_account'],
      entities: [DynamoTable],
      sql: { afterInstall: '0.1.0/after_install.sql', beforeUninstall: '0.1.0/before_uninstall.sql' },
      cloud: [dynamoTable],
      rpc: dataMethods,
    },
  ],
});
