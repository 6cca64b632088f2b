import { lazyRequire } from '../aws_account/clients';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { RpcArgument, RpcContext, RpcMethod } from '../../src/modules/define';
import { RPC_SQLSTATE, RpcError } from '../../src/rpc/errors';
import { fromItem, isObject, Item, Json, kindOf, toItem } from './items';
import { dynamo } from './mapper';

const Dynamo = lazyRequire<typeof import('@aws-sdk/client-dynamodb')>('@aws-sdk/client-dynamodb');

/**
 * The DynamoDB data plane from SQL: items of a table put, read, deleted, queried and scanned as
 * jsonb, in the table's region (default_aws_region() unless given). docs/aws-modules.md.
 */

/** A query or scan stops with an error past this much JSON: the result is one jsonb value, stored twice (call and history). */
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

const REGION: RpcArgument = { name: 'region', type: 'text', defaultSql: 'default_aws_region()', description: "the table's region (default: default_aws_region(); NULL means the same)" };
const TABLE: RpcArgument = { name: 'table_name', type: 'text' };
const KEY_HINT = `give the table's key attributes as a JSON object: '{"id": "42"}', or '{"id": "42", "ts": 1700000000}' with a range key`;

interface Target {
  fn: string;
  table: string;
  region: string;
  client: DynamoDBClient;
}

/** The table's region (the argument, or the default) checked against aws_regions, and a client for it. */
async function target(ctx: RpcContext, fn: string, args: Record<string, unknown>): Promise<Target> {
  const [r] = await ctx.query<{ region: string | null; known: boolean }>(
    `select coalesce($1::text, public.default_aws_region()) as region,
            exists (select 1 from public.aws_regions where region = coalesce($1::text, public.default_aws_region())) as known`,
    [args.region],
  );
  if (!r?.region) {
    throw new RpcError(`${fn}: no region given and no default region`, { sqlstate: RPC_SQLSTATE.badArguments, hint: `pass region => 'us-east-1', or set a default: SELECT default_aws_region('us-east-1')` });
  }
  if (!r.known) throw new RpcError(`${fn}: unknown region '${r.region}'`, { sqlstate: RPC_SQLSTATE.badArguments, hint: 'SELECT region FROM aws_regions lists them' });
  return { fn, table: args.table_name as string, region: r.region, client: await dynamo(ctx, r.region) };
}

/** Sends one request; a DynamoDB error becomes an RpcError saying which table and what to do. */
async function send<T>(ctx: RpcContext, t: Target, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    throw await explain(ctx, t, err);
  }
}

// AWS SDK v3 service errors carry the service's error code as their name and a $metadata.
async function explain(ctx: RpcContext, t: Target, err: unknown): Promise<unknown> {
  const e = err as { name?: string; message?: string };
  if (!err || typeof err !== 'object' || !('$metadata' in err) || ctx.signal.aborted) return err;
  const detail = `cloud error code: ${e.name}`;
  const known = await ctx.query<{ region: string; committed: boolean; primary_key: unknown }>(
    'select region, table_id is not null as committed, primary_key from public.dynamo_table where table_name = $1 order by region',
    [t.table],
  );
  const here = known.find((k) => k.region === t.region);
  if (e.name === 'ResourceNotFoundException') {
    let hint: string;
    if (here && !here.committed) hint = `its dynamo_table row is not committed yet: SELECT * FROM iasql_commit()`;
    else if (here) hint = `dynamo_table has it, the cloud does not (deleted outside iasql?): SELECT * FROM iasql_preview_sync() shows the drift`;
    else if (known.length) hint = `it is in ${known.map((k) => k.region).join(', ')}: pass region => '${known[0].region}'`;
    else hint = `SELECT table_name, region FROM dynamo_table lists the tables; to create it: SELECT * FROM iasql_begin(), INSERT INTO dynamo_table (table_name, primary_key) VALUES ('${t.table}', '{"id": "S"}'), then SELECT * FROM iasql_commit()`;
    return new RpcError(`${t.fn}: DynamoDB table '${t.table}' does not exist in ${t.region}`, { detail, hint });
  }
  if (e.name === 'ValidationException') {
    const hint = validationHint(t, e.message ?? '', here?.primary_key);
    return new RpcError(`${t.fn} on '${t.table}' in ${t.region}: ${e.message}`, { detail, hint });
  }
  return new RpcError(`${t.fn} on '${t.table}' in ${t.region} failed: ${e.message}`, { detail });
}

/** What to change in a request DynamoDB refused, from what it said; the table's key from dynamo_table when known. */
function validationHint(t: Target, message: string, primaryKey: unknown): string | undefined {
  const key = primaryKey ? JSON.stringify(primaryKey) : undefined;
  switch (t.fn) {
    case 'dynamo_put':
      return key ? `the item needs the key attributes of '${t.table}', ${key}, with these types` : "the item needs the table's key attributes, with their types";
    case 'dynamo_get':
    case 'dynamo_delete':
      return key ? `the key of '${t.table}' is ${key}: name exactly these attributes, with these types` : KEY_HINT;
    case 'dynamo_query':
      return queryHint(message, key);
  }
  return undefined;
}

function queryHint(message: string, key: string | undefined): string {
  if (/reserved keyword/i.test(message)) return `reserved words (name, status, date...) need a #placeholder: '#n = :n', expression_names => '{"#n": "name"}'`;
  if (/index/i.test(message)) return 'index_name must name a secondary index of the table, or be NULL for the table itself';
  if (/attribute value|ExpressionAttributeValues/i.test(message)) return `each :placeholder needs an entry in expression_values, and each entry a :placeholder: '{":id": "42"}'`;
  return `key_condition compares the hash key with = and may bound the range key${key ? ` (the key is ${key})` : ''}: 'id = :id AND ts > :t'; filter on other attributes in SQL`;
}

/** Every item of a query or scan, page after page (LastEvaluatedKey) until the last. */
async function allPages(ctx: RpcContext, t: Target, page: (start: Item | undefined) => Promise<{ Items?: Item[]; LastEvaluatedKey?: Item }>): Promise<Array<{ item: Json }>> {
  const rows: Array<{ item: Json }> = [];
  let bytes = 0;
  let start: Item | undefined;
  do {
    const out = await send(ctx, t, () => page(start));
    for (const raw of out.Items ?? []) {
      const item = fromItem(raw);
      bytes += JSON.stringify(item).length;
      rows.push({ item });
    }
    if (bytes > MAX_RESULT_BYTES) {
      throw new RpcError(`${t.fn} on '${t.table}' in ${t.region}: more than ${MAX_RESULT_BYTES >> 20} MB of items (${rows.length} read so far)`, {
        sqlstate: '54000',
        hint: 'read less at once: dynamo_query reads the items of one key (or a key range)',
      });
    }
    start = out.LastEvaluatedKey;
    if (start) ctx.progress(`${rows.length} items read`);
  } while (start);
  return rows;
}

function toKey(v: unknown): Item {
  const key = toItem('key', v, KEY_HINT);
  const n = Object.keys(key).length;
  if (n < 1 || n > 2) throw new RpcError(`key must name 1 or 2 attributes (the hash key, and the range key if the table has one), not ${n}`, { sqlstate: RPC_SQLSTATE.badArguments, hint: KEY_HINT });
  return key;
}

function expressionValues(v: unknown): Item | undefined {
  const values = toItem('expression_values', v ?? {}, `'{":id": "42"}': one entry per :placeholder of the expression`);
  const wrong = Object.keys(values).find((k) => !k.startsWith(':'));
  if (wrong) throw new RpcError(`expression_values: '${wrong}' is not a :placeholder`, { sqlstate: RPC_SQLSTATE.badArguments, hint: `name each value as the expression does: '{":id": "42"}'` });
  return Object.keys(values).length ? values : undefined;
}

function expressionNames(v: unknown): Record<string, string> | undefined {
  if (v === null || v === undefined) return undefined;
  const hint = `'{"#n": "name"}': one attribute name per #placeholder of the expression`;
  if (!isObject(v)) throw new RpcError(`expression_names must be a JSON object, not ${kindOf(v)}`, { sqlstate: RPC_SQLSTATE.badArguments, hint });
  for (const [k, name] of Object.entries(v)) {
    if (!k.startsWith('#') || typeof name !== 'string') {
      throw new RpcError(`expression_names: each entry maps a #placeholder to an attribute name; '${k}' → ${JSON.stringify(name)} does not`, { sqlstate: RPC_SQLSTATE.badArguments, hint });
    }
  }
  return Object.keys(v).length ? (v as Record<string, string>) : undefined;
}

/** The methods, as aws_dynamo@0.1.0 declares them. */
export const dataMethods: Record<string, RpcMethod> = {
  dynamo_put: {
    description: 'Writes an item (replacing any with the same key); returns the item as stored. NULL region: default_aws_region()',
    example: `SELECT dynamo_put('orders', '{"id": "42", "ts": 1700000000, "total": 99.5, "tags": ["new"]}');`,
    timeoutMs: 30_000,
    args: [TABLE, { name: 'item', type: 'jsonb' }, REGION],
    returns: { scalar: 'jsonb' },
    async handler(ctx, a) {
      const item = toItem('item', a.item, `'{"id": "42", "total": 99.5}': the key attributes and any others`);
      const t = await target(ctx, 'dynamo_put', a);
      await send(ctx, t, () => t.client.send(new Dynamo.PutItemCommand({ TableName: t.table, Item: item }), { abortSignal: ctx.signal as never }));
      return fromItem(item);
    },
  },
  dynamo_get: {
    description: 'The item with this key (a strongly consistent read), or NULL. NULL region: default_aws_region()',
    example: `SELECT dynamo_get('orders', '{"id": "42", "ts": 1700000000}')->>'total';`,
    timeoutMs: 30_000,
    args: [TABLE, { name: 'key', type: 'jsonb' }, REGION],
    returns: { scalar: 'jsonb' },
    async handler(ctx, a) {
      const key = toKey(a.key);
      const t = await target(ctx, 'dynamo_get', a);
      const out = await send(ctx, t, () => t.client.send(new Dynamo.GetItemCommand({ TableName: t.table, Key: key, ConsistentRead: true }), { abortSignal: ctx.signal as never }));
      return fromItem(out.Item);
    },
  },
  dynamo_delete: {
    description: 'Deletes the item with this key; returns it, or NULL if there was none. NULL region: default_aws_region()',
    example: `SELECT dynamo_delete('orders', '{"id": "42", "ts": 1700000000}');`,
    timeoutMs: 30_000,
    args: [TABLE, { name: 'key', type: 'jsonb' }, REGION],
    returns: { scalar: 'jsonb' },
    async handler(ctx, a) {
      const key = toKey(a.key);
      const t = await target(ctx, 'dynamo_delete', a);
      const out = await send(ctx, t, () => t.client.send(new Dynamo.DeleteItemCommand({ TableName: t.table, Key: key, ReturnValues: 'ALL_OLD' }), { abortSignal: ctx.signal as never }));
      return fromItem(out.Attributes);
    },
  },
  dynamo_query: {
    description:
      'The items matching a key condition, every page; on the table strongly consistent, or on an index (index_name). ' +
      'expression_values holds the :values, expression_names the #names (for reserved words). NULL region: default_aws_region()',
    example: `SELECT item->>'total' FROM dynamo_query('orders', 'id = :id AND ts > :t', '{":id": "42", ":t": 0}');`,
    timeoutMs: 120_000,
    args: [
      TABLE,
      { name: 'key_condition', type: 'text', description: "e.g. 'id = :id AND ts BETWEEN :a AND :b'" },
      { name: 'expression_values', type: 'jsonb', default: '{}', description: `'{":id": "42"}'` },
      { name: 'expression_names', type: 'jsonb', default: null, description: `'{"#s": "status"}', for reserved words` },
      { name: 'index_name', type: 'text', default: null, description: 'query a secondary index instead of the table' },
      REGION,
    ],
    returns: { table: [{ name: 'item', type: 'jsonb' }] },
    async handler(ctx, a) {
      const values = expressionValues(a.expression_values);
      const names = expressionNames(a.expression_names);
      const index = (a.index_name as string | null) ?? undefined;
      const t = await target(ctx, 'dynamo_query', a);
      return allPages(ctx, t, (start) =>
        t.client.send(
          new Dynamo.QueryCommand({
            TableName: t.table,
            IndexName: index,
            KeyConditionExpression: a.key_condition as string,
            ExpressionAttributeValues: values,
            ExpressionAttributeNames: names,
            // Global secondary indexes have no consistent reads; the table (and a local index) do.
            ConsistentRead: index === undefined,
            ExclusiveStartKey: start,
          }),
          { abortSignal: ctx.signal as never },
        ),
      );
    },
  },
  dynamo_scan: {
    description: 'Every item of the table, every page (a strongly consistent read). NULL region: default_aws_region()',
    example: `SELECT count(*), sum((item->>'total')::numeric) FROM dynamo_scan('orders');`,
    timeoutMs: 120_000,
    args: [TABLE, REGION],
    returns: { table: [{ name: 'item', type: 'jsonb' }] },
    async handler(ctx, a) {
      const t = await target(ctx, 'dynamo_scan', a);
      return allPages(ctx, t, (start) => t.client.send(new Dynamo.ScanCommand({ TableName: t.table, ConsistentRead: true, ExclusiveStartKey: start }), { abortSignal: ctx.signal as never }));
    },
  },
};
