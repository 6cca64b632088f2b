import type { FunctionConfiguration, LambdaClient, Runtime } from '@aws-sdk/client-lambda';
import { PartlyApplied, type CloudContext, type CloudEntity, type NotYetRule, type Row } from '../../src/commit/types';
import { deepEqual } from '../../src/commit/rows';
import type { AwsAccountExports } from '../aws_account';
import { awsClient, lazyRequire, type AwsCallContext } from '../aws_account/clients';
import { Iam, iam } from '../aws_iam/mapper';

const Lambda = lazyRequire<typeof import('@aws-sdk/client-lambda')>('@aws-sdk/client-lambda');

export interface LambdaRow extends Row {
  name: string;
  arn: string | null;
  version: string;
  description: string | null;
  zip_b64: string | null;
  handler: string | null;
  runtime: string | null;
  package_type: 'Zip' | 'Image';
  architecture: 'x86_64' | 'arm64';
  memory_size: number;
  timeout: number;
  environment: Record<string, string> | null;
  tags: Record<string, string> | null;
  region: string;
  role_name: string;
}

const account = (ctx: Pick<CloudContext, 'dependencies'>) => ctx.dependencies.aws_account as unknown as AwsAccountExports;

/**
 * Lambda's "not yet" errors (waited out as Terraform's AWS provider does):
 * - a role IAM has just made reaches Lambda about ten seconds later; until then CreateFunction
 *   and UpdateFunctionConfiguration naming it fail with InvalidParameterValueException (2 minutes);
 * - a function still being created or updated refuses the next change with ResourceConflictException
 *   "The operation cannot be performed at this time." (the mapper waits for its own changes; this
 *   covers someone else's, 5 minutes).
 */
const ROLE_NOT_IN_LAMBDA_YET = {
  error: 'InvalidParameterValueException',
  message: /cannot be assumed by Lambda/,
  forMs: 120_000,
  why: 'IAM is eventually consistent: Lambda cannot assume a role this new yet (AWS takes about ten seconds)',
} as const;
const UPDATE_IN_PROGRESS = {
  error: 'ResourceConflictException',
  message: /^The operation cannot be performed at this time\./,
  forMs: 300_000,
  why: 'the function is still being created or updated',
} as const;
export const notYet: NotYetRule[] = [
  { operation: 'CreateFunction', ...ROLE_NOT_IN_LAMBDA_YET },
  { operation: 'UpdateFunctionConfiguration', ...ROLE_NOT_IN_LAMBDA_YET },
  { operation: 'UpdateFunctionCode', ...UPDATE_IN_PROGRESS },
  { operation: 'UpdateFunctionConfiguration', ...UPDATE_IN_PROGRESS },
];

/** The Lambda client of a region (kept across commits and calls: see aws_account/clients.ts). */
export const lambda = (ctx: AwsCallContext, region: string): Promise<LambdaClient> => awsClient(ctx, 'lambda', region, (c) => new Lambda.LambdaClient(c), notYet);

const notFound = (err: unknown) => (err as Error).name === 'ResourceNotFoundException';
const waiter = (client: LambdaClient, ctx: CloudContext) => ({ client, minDelay: 1, maxDelay: 5, maxWaitTime: 900, abortSignal: ctx.signal as never });
const orNull = (o: Record<string, string> | undefined | null) => (o && Object.keys(o).length ? o : null);
/** The role's name from its ARN (arn:aws:iam::123456789012:role/path/name). */
const roleName = (arn: string | undefined) => (arn ?? '').split(':role/')[1]?.split('/').pop() ?? '';

function toRow(c: FunctionConfiguration, tags: Record<string, string> | undefined, region: string): LambdaRow {
  return {
    name: c.FunctionName!,
    arn: c.FunctionArn ?? null,
    version: '$LATEST',
    description: c.Description || null,
    zip_b64: null, // the cloud keeps the code; rows carry it only to change it
    handler: c.Handler ?? null,
    runtime: c.Runtime ?? null,
    package_type: (c.PackageType as LambdaRow['package_type']) ?? 'Zip',
    architecture: (c.Architectures?.[0] as LambdaRow['architecture']) ?? 'x86_64',
    memory_size: c.MemorySize ?? 128,
    timeout: c.Timeout ?? 3,
    environment: orNull(c.Environment?.Variables),
    tags: orNull(tags),
    region,
    role_name: roleName(c.Role),
  };
}

async function read(ctx: CloudContext, name: string, region: string): Promise<LambdaRow | undefined> {
  const client = await lambda(ctx, region);
  try {
    const out = await client.send(new Lambda.GetFunctionCommand({ FunctionName: name }), { abortSignal: ctx.signal as never });
    return toRow(out.Configuration!, out.Tags, region);
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
}

async function roleArn(ctx: CloudContext, name: string): Promise<string> {
  const { Role } = await (await iam(ctx)).send(new Iam.GetRoleCommand({ RoleName: name }), { abortSignal: ctx.signal as never });
  return Role!.Arn!;
}

const configOf = (row: LambdaRow) => ({
  Description: row.description ?? '',
  Handler: row.handler ?? undefined,
  Runtime: (row.runtime ?? undefined) as Runtime | undefined,
  MemorySize: row.memory_size,
  Timeout: row.timeout,
  Environment: { Variables: row.environment ?? {} },
});

const sameConfig = (a: LambdaRow, b: LambdaRow) =>
  (a.description ?? null) === (b.description ?? null) &&
  a.handler === b.handler &&
  a.runtime === b.runtime &&
  a.memory_size === b.memory_size &&
  a.timeout === b.timeout &&
  a.role_name === b.role_name &&
  deepEqual(orNull(a.environment), orNull(b.environment));

export const lambdaFunction: CloudEntity<LambdaRow> = {
  table: 'lambda_function',
  id: ['name', 'region'],
  service: 'lambda',
  regionColumn: 'region',
  // zip_b64 too: after a commit the row's copy of the code goes (set back to NULL).
  cloudColumns: ['arn', 'zip_b64'],

  read: (ctx, id) => read(ctx, id.name, id.region),

  async readAll(ctx) {
    if (!(await account(ctx).configured())) return null;
    const regions = await account(ctx).enabledRegions();
    const perRegion = await Promise.all(
      regions.map(async (region) => {
        const client = await lambda(ctx, region);
        const rows: LambdaRow[] = [];
        for await (const page of Lambda.paginateListFunctions({ client }, {})) {
          for (const f of page.Functions ?? []) {
            const { Tags } = await client.send(new Lambda.ListTagsCommand({ Resource: f.FunctionArn! }), { abortSignal: ctx.signal as never });
            rows.push(toRow(f, Tags, region));
          }
        }
        return rows;
      }),
    );
    return perRegion.flat();
  },

  async create(ctx, row) {
    if (!row.zip_b64 && row.package_type === 'Zip') {
      throw Object.assign(new Error(`lambda_function '${row.name}' has no code: set zip_b64 (e.g. lambda_zip('{"index.js": "..."}'))`), { name: 'MissingCode' });
    }
    const client = await lambda(ctx, row.region);
    await client.send(
      new Lambda.CreateFunctionCommand({
        FunctionName: row.name,
        Role: await roleArn(ctx, row.role_name),
        Code: { ZipFile: Buffer.from(row.zip_b64 ?? '', 'base64') },
        PackageType: row.package_type,
        Architectures: [row.architecture],
        Tags: row.tags ?? undefined,
        ...configOf(row),
      }),
      { abortSignal: ctx.signal as never },
    );
    await Lambda.waitUntilFunctionActiveV2(waiter(client, ctx), { FunctionName: row.name });
    return (await read(ctx, row.name, row.region))!;
  },

  async update(ctx, row, cloud) {
    const client = await lambda(ctx, row.region);
    // Configuration and tags first: the cloud shows them, so a failure later is undone by setting
    // them back. The code goes last: the cloud does not give old code back, so nothing can undo it.
    if (!sameConfig(row, cloud)) {
      await client.send(new Lambda.UpdateFunctionConfigurationCommand({ FunctionName: row.name, Role: await roleArn(ctx, row.role_name), ...configOf(row) }), {
        abortSignal: ctx.signal as never,
      });
      await Lambda.waitUntilFunctionUpdatedV2(waiter(client, ctx), { FunctionName: row.name });
    }
    const want = row.tags ?? {};
    const have = cloud.tags ?? {};
    if (!deepEqual(orNull(want), orNull(have))) {
      const arn = cloud.arn!;
      const gone = Object.keys(have).filter((k) => !(k in want));
      if (gone.length) await client.send(new Lambda.UntagResourceCommand({ Resource: arn, TagKeys: gone }), { abortSignal: ctx.signal as never });
      if (Object.keys(want).length) await client.send(new Lambda.TagResourceCommand({ Resource: arn, Tags: want }), { abortSignal: ctx.signal as never });
    }
    const newCode = lambdaFunction.irreversible!(row, cloud);
    if (newCode) {
      // New code (or architecture, which goes with the code).
      await client.send(
        new Lambda.UpdateFunctionCodeCommand({ FunctionName: row.name, ...(row.zip_b64 ? { ZipFile: Buffer.from(row.zip_b64, 'base64') } : {}), Architectures: [row.architecture] }),
        { abortSignal: ctx.signal as never },
      );
      try {
        await Lambda.waitUntilFunctionUpdatedV2(waiter(client, ctx), { FunctionName: row.name });
        return (await read(ctx, row.name, row.region))!;
      } catch (err) {
        throw new PartlyApplied(err, newCode);
      }
    }
    return (await read(ctx, row.name, row.region))!;
  },

  irreversible: (row, cloud) => (row.zip_b64 || row.architecture !== cloud.architecture ? `the new code of lambda_function ${row.name} in ${row.region}` : undefined),

  // A container image function cannot become a zip one in place, nor the other way round.
  needsReplace: (row, cloud) => row.package_type !== cloud.package_type,

  async delete(ctx, row) {
    const client = await lambda(ctx, row.region);
    try {
      await client.send(new Lambda.DeleteFunctionCommand({ FunctionName: row.name }), { abortSignal: ctx.signal as never });
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  },

  equals: (row, cloud) =>
    !row.zip_b64 &&
    row.name === cloud.name &&
    row.region === cloud.region &&
    row.package_type === cloud.package_type &&
    row.architecture === cloud.architecture &&
    sameConfig(row, cloud) &&
    deepEqual(orNull(row.tags), orNull(cloud.tags)),
};
