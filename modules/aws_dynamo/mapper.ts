import type { DynamoDBClient, TableDescription } from '@aws-sdk/client-dynamodb';
import type { CloudContext, CloudEntity, NotYetRule, Row } from '../../src/commit/types';
import type { AwsAccountExports } from '../aws_account';
import { awsClient, lazyRequire, type AwsCallContext } from '../aws_account/clients';

const Dynamo = lazyRequire<typeof import('@aws-sdk/client-dynamodb')>('@aws-sdk/client-dynamodb');

/** A dynamo_table row as the mapper sees it. */
export interface DynamoRow extends Row {
  table_name: string;
  table_class: 'STANDARD' | 'STANDARD_INFREQUENT_ACCESS';
  throughput: 'PAY_PER_REQUEST' | { ReadCapacityUnits: number; WriteCapacityUnits: number };
  primary_key: Record<string, 'S' | 'N' | 'B'>;
  table_id: string | null;
  created_at: Date | null;
  region: string;
}

/** From this many tables of one region in a plan, one ListTables replaces a DescribeTable per missing table. */
const LIST_THRESHOLD = 20;

const account = (ctx: CloudContext) => ctx.dependencies.aws_account as unknown as AwsAccountExports;

/**
 * DynamoDB's "not yet" errors (as Terraform's AWS provider retries them), up to 10 minutes (the
 * waiters' bound here):
 * - a table still CREATING or UPDATING refuses UpdateTable and DeleteTable with
 *   ResourceInUseException "Attempt to change a resource which is still in use" (the same name
 *   also means "deletion protection is on", which no wait lifts);
 * - LimitExceededException about tables changing simultaneously (an account-wide limit on table
 *   operations in flight); the same name for a quota ("a limit of 2500 tables") is an answer.
 */
const TABLE_BUSY = { error: 'ResourceInUseException', message: /still in use/, forMs: 600_000, why: 'the table is still being created or updated' } as const;
const TOO_MANY_AT_ONCE = {
  error: 'LimitExceededException',
  message: /can be created, updated, or deleted simultaneously|indexed tables that can be created simultaneously/,
  forMs: 600_000,
  why: 'DynamoDB limits how many tables change at once: waiting for others to finish',
} as const;
export const notYet: NotYetRule[] = [
  { operation: 'UpdateTable', ...TABLE_BUSY },
  { operation: 'DeleteTable', ...TABLE_BUSY },
  { operation: 'CreateTable', ...TOO_MANY_AT_ONCE },
  { operation: 'UpdateTable', ...TOO_MANY_AT_ONCE },
  { operation: 'DeleteTable', ...TOO_MANY_AT_ONCE },
];

/** The DynamoDB client of a region (kept across commits: see aws_account/clients.ts). */
export const dynamo = (ctx: AwsCallContext, region: string): Promise<DynamoDBClient> => awsClient(ctx, 'dynamodb', region, (c) => new Dynamo.DynamoDBClient(c), notYet);

// Real DynamoDB takes seconds to create a table; the local cloud none. Check at once, then often.
const waiter = (client: DynamoDBClient, ctx: CloudContext) => ({ client, minDelay: 1, maxDelay: 5, maxWaitTime: 600, abortSignal: ctx.signal as never });

export function toRow(t: TableDescription, region: string): DynamoRow {
  const types = new Map((t.AttributeDefinitions ?? []).map((a) => [a.AttributeName!, a.AttributeType as 'S' | 'N' | 'B']));
  const key = (kind: string) => (t.KeySchema ?? []).find((k) => k.KeyType === kind)?.AttributeName;
  const primary_key: DynamoRow['primary_key'] = {};
  for (const name of [key('HASH'), key('RANGE')]) if (name) primary_key[name] = types.get(name) ?? 'S';
  const onDemand = t.BillingModeSummary?.BillingMode === 'PAY_PER_REQUEST';
  return {
    table_name: t.TableName!,
    table_class: (t.TableClassSummary?.TableClass as DynamoRow['table_class']) ?? 'STANDARD',
    throughput: onDemand
      ? 'PAY_PER_REQUEST'
      : { ReadCapacityUnits: Number(t.ProvisionedThroughput?.ReadCapacityUnits ?? 0), WriteCapacityUnits: Number(t.ProvisionedThroughput?.WriteCapacityUnits ?? 0) },
    primary_key,
    table_id: t.TableId ?? null,
    created_at: t.CreationDateTime ?? null,
    region,
  };
}

const sameKey = (a: DynamoRow['primary_key'], b: DynamoRow['primary_key']) => JSON.stringify(Object.entries(a ?? {})) === JSON.stringify(Object.entries(b ?? {}));
const sameThroughput = (a: DynamoRow['throughput'], b: DynamoRow['throughput']) =>
  typeof a === 'string' || typeof b === 'string' ? a === b : a.ReadCapacityUnits === b.ReadCapacityUnits && a.WriteCapacityUnits === b.WriteCapacityUnits;

function capacity(row: DynamoRow) {
  return row.throughput === 'PAY_PER_REQUEST'
    ? { BillingMode: 'PAY_PER_REQUEST' as const }
    : { BillingMode: 'PROVISIONED' as const, ProvisionedThroughput: { ReadCapacityUnits: row.throughput.ReadCapacityUnits, WriteCapacityUnits: row.throughput.WriteCapacityUnits } };
}

async function describe(ctx: CloudContext, table_name: string, region: string): Promise<DynamoRow | undefined> {
  const client = await dynamo(ctx, region);
  try {
    const { Table } = await client.send(new Dynamo.DescribeTableCommand({ TableName: table_name }), { abortSignal: ctx.signal as never });
    return Table ? toRow(Table, region) : undefined;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

/** Runs `fn` over `items`, at most `n` at once. */
async function pool<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

export const dynamoTable: CloudEntity<DynamoRow> = {
  table: 'dynamo_table',
  id: ['table_name', 'region'],
  service: 'dynamodb',
  regionColumn: 'region',
  cloudColumns: ['table_id', 'created_at'],

  read: (ctx, id) => describe(ctx, id.table_name, id.region),

  // Many tables of one region (a commit creating 200): one ListTables finds which exist, and only
  // those are described. Few: describe each (listing would cost more than it saves).
  async readMany(ctx, ids) {
    const byRegion = new Map<string, DynamoRow[]>();
    for (const id of ids) byRegion.set(id.region, [...(byRegion.get(id.region) ?? []), id]);
    const found = new Map<string, DynamoRow | undefined>();
    await Promise.all(
      [...byRegion].map(async ([region, list]) => {
        let candidates = list;
        if (list.length >= LIST_THRESHOLD) {
          const names = new Set<string>();
          for await (const page of Dynamo.paginateListTables({ client: await dynamo(ctx, region) }, {})) for (const n of page.TableNames ?? []) names.add(n);
          candidates = list.filter((id) => names.has(id.table_name));
        }
        const rows = await pool(candidates, 10, (id) => describe(ctx, id.table_name, region));
        candidates.forEach((id, i) => found.set(`${id.table_name}|${region}`, rows[i]));
      }),
    );
    return ids.map((id) => found.get(`${id.table_name}|${id.region}`));
  },

  async readAll(ctx) {
    if (!(await account(ctx).configured())) return null; // no credentials yet: nothing to import
    const regions = await account(ctx).enabledRegions();
    const perRegion = await Promise.all(
      regions.map(async (region) => {
        const client = await dynamo(ctx, region);
        const names: string[] = [];
        for await (const page of Dynamo.paginateListTables({ client }, {})) names.push(...(page.TableNames ?? []));
        const rows = await pool(names, 10, (name) => describe(ctx, name, region));
        return rows.filter((r): r is DynamoRow => r !== undefined);
      }),
    );
    return perRegion.flat();
  },

  async create(ctx, row) {
    const client = await dynamo(ctx, row.region);
    const names = Object.keys(row.primary_key);
    await client.send(
      new Dynamo.CreateTableCommand({
        TableName: row.table_name,
        TableClass: row.table_class,
        KeySchema: names.map((n, i) => ({ AttributeName: n, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
        AttributeDefinitions: names.map((n) => ({ AttributeName: n, AttributeType: row.primary_key[n] })),
        ...capacity(row),
      }),
      { abortSignal: ctx.signal as never },
    );
    // The waiter's last DescribeTable is the table as it is now: no need to ask again.
    const done = await Dynamo.waitUntilTableExists(waiter(client, ctx), { TableName: row.table_name });
    const table = (done.reason as { Table?: TableDescription } | undefined)?.Table;
    return table ? toRow(table, row.region) : (await describe(ctx, row.table_name, row.region))!;
  },

  async update(ctx, row, cloud) {
    const client = await dynamo(ctx, row.region);
    if (!sameThroughput(row.throughput, cloud.throughput)) {
      await client.send(new Dynamo.UpdateTableCommand({ TableName: row.table_name, ...capacity(row) }), { abortSignal: ctx.signal as never });
      await Dynamo.waitUntilTableExists(waiter(client, ctx), { TableName: row.table_name });
    }
    if (row.table_class !== cloud.table_class) {
      await client.send(new Dynamo.UpdateTableCommand({ TableName: row.table_name, TableClass: row.table_class }), { abortSignal: ctx.signal as never });
      await Dynamo.waitUntilTableExists(waiter(client, ctx), { TableName: row.table_name });
    }
    return (await describe(ctx, row.table_name, row.region))!;
  },

  // The key schema of a table cannot change: a new key means a new table.
  needsReplace: (row, cloud) => !sameKey(row.primary_key, cloud.primary_key),

  async delete(ctx, row) {
    const client = await dynamo(ctx, row.region);
    try {
      await client.send(new Dynamo.DeleteTableCommand({ TableName: row.table_name }), { abortSignal: ctx.signal as never });
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return;
      throw err;
    }
    await Dynamo.waitUntilTableNotExists(waiter(client, ctx), { TableName: row.table_name });
  },

  equals: (row, cloud) =>
    row.table_name === cloud.table_name &&
    row.region === cloud.region &&
    row.table_class === cloud.table_class &&
    sameThroughput(row.throughput, cloud.throughput) &&
    sameKey(row.primary_key, cloud.primary_key),
};
