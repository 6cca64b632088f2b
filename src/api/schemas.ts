import { z } from 'zod';
import { DATABASE_NAME, NAME_RULE } from '../databases/names';
import { RPC_TYPES } from '../modules/define';
import type { RolloutStrategy } from '../metadata/entities/rollout';
import { STRATEGIES } from '../rollouts/rollouts';

/*
 * The JSON the API answers with, as zod schemas. Handlers are typed against them (route.ts) and
 * the OpenAPI document is generated from them (openapi.ts); `components` below are the ones the
 * document names and refers to.
 */

const dateTime = z.iso.datetime();
const nullableDateTime = dateTime.nullable();

export const ErrorBody = z.object({
  error: z.object({
    code: z.string().meta({ example: 'bad_request' }),
    message: z.string().describe('What was wrong and what to do'),
  }),
});

/**
 * The pattern and length are documentation: the database manager checks names (names.ts), and
 * its messages and 404s are part of the API. In a body, a missing name is reported by zod.
 */
export const DatabaseName = z
  .string({ error: `name is required: ${NAME_RULE}` })
  .meta({ pattern: DATABASE_NAME.source, maxLength: 63, description: NAME_RULE, example: 'shop' });

export const Health = z.object({ status: z.enum(['ok', 'unavailable']), postgres: z.enum(['ok', 'unreachable']) });

export const Version = z.object({
  version: z.string().meta({ example: '0.1.0' }),
  postgres: z.string().meta({ example: '17.10' }),
  node: z.string().meta({ example: 'v24.21.0' }),
});

export const Database = z.object({
  name: z.string(),
  user: z.string().describe("The tenant's login role (the database itself belongs to an engine role of that database)"),
  status: z.enum(['creating', 'ready', 'dropping']),
  engineVersion: z.string(),
  createdAt: dateTime,
});

export const CreatedDatabase = z.object({
  name: z.string(),
  user: z.string(),
  password: z.string().describe('Shown once: it is not stored and cannot be read again'),
  connectionString: z.string().meta({ example: 'postgres://iasql_0a1b2c3d4e5f:...@127.0.0.1:5433/shop' }),
  localCloud: z
    .object({
      accountId: z.string().meta({ example: '482913377120' }),
      accessKeyId: z.string().meta({ example: 'AKIA7Q2M4X9LB3ZK0PWD' }),
      secretAccessKey: z.string().describe('Shown once here; the engine keeps it for the database'),
    })
    .optional()
    .describe("The database's own local-cloud account, for the AWS SDK or CLI; only when the engine runs the local cloud"),
});

export const NewPassword = z.object({
  name: z.string(),
  user: z.string(),
  password: z.string().describe('Shown once: it is not stored and cannot be read again'),
  connectionString: z.string().meta({ example: 'postgres://iasql_0a1b2c3d4e5f:...@127.0.0.1:5433/shop' }),
});

const RpcType = z.enum(RPC_TYPES);

export const Module = z.object({
  name: z.string(),
  description: z.string(),
  bootstrap: z.boolean().describe('Installed in every database; cannot be uninstalled'),
  latest: z.string(),
  versions: z.array(
    z.object({
      version: z.string(),
      dependencies: z.array(z.string()),
      tables: z.array(z.string()),
      rpc: z.array(
        z.object({
          name: z.string(),
          description: z.string(),
          example: z.string().nullable(),
          args: z.array(
            z.object({
              name: z.string(),
              type: RpcType,
              description: z.string().nullable(),
              optional: z.boolean().describe('Left out, the argument takes its default (`default`, or what `defaultSql` gives)'),
              default: z
                .union([z.string(), z.number(), z.boolean(), z.null()])
                .describe('The value an optional argument takes when left out (null when it is `defaultSql`, or NULL)'),
              defaultSql: z
                .string()
                .nullable()
                .meta({ example: 'default_aws_region()' })
                .describe('A call Postgres evaluates when the argument is left out; null when the default is a value'),
              variadic: z.boolean().describe('The last argument may take any number of values: f(\'a\', \'b\')'),
            }),
          ),
          returns: z.union([
            z.object({ scalar: RpcType }),
            z.object({ table: z.array(z.object({ name: z.string(), type: RpcType })) }),
          ]),
        }),
      ),
    }),
  ),
});

const ModuleVersion = z.object({ module: z.string(), version: z.string() });
const TableRecords = z.object({ module: z.string(), table: z.string(), records: z.number().int() });

export const InstalledModules = z.object({ modules: z.array(z.object({ name: z.string(), version: z.string() })) });

export const InstallReport = z.object({
  installed: z.array(ModuleVersion),
  alreadyInstalled: z.array(ModuleVersion),
  tables: z.array(TableRecords).describe('Record counts of the tables of the modules installed'),
});

export const UninstallReport = z.object({
  uninstalled: z.array(ModuleVersion),
  tables: z.array(TableRecords).describe('Record counts of the dropped tables'),
});

export const UpgradeReport = z.object({
  upgraded: z.array(z.object({ module: z.string(), from: z.string(), to: z.string() })),
  installed: z.array(ModuleVersion).describe('New dependencies of a latest version'),
});

export const Strategy = z.enum(STRATEGIES as [RolloutStrategy, ...RolloutStrategy[]], {
  error: `strategy must be one of ${STRATEGIES.map((s) => `"${s}"`).join(', ')}`,
});

export const Rollout = z.object({
  id: z.uuid(),
  strategy: Strategy,
  status: z.enum(['running', 'succeeded', 'failed', 'interrupted']),
  createdAt: dateTime,
  finishedAt: nullableDateTime,
  databases: z.array(
    z.object({
      name: z.string(),
      status: z.enum(['pending', 'upgrading', 'upgraded', 'failed', 'skipped', 'interrupted']),
      changes: z.array(z.string()).meta({ example: ['fixture_notes 0.2.0 -> 0.3.0'] }),
      error: z.string().nullable(),
      startedAt: nullableDateTime,
      finishedAt: nullableDateTime,
    }),
  ),
});

/** Schemas the document names under components/schemas; every other one is written inline. */
export const components = {
  Error: ErrorBody,
  DatabaseName,
  Health,
  Version,
  Database,
  CreatedDatabase,
  Module,
  Rollout,
} satisfies Record<string, z.ZodType>;
