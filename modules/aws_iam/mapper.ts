import type { IAMClient, Role } from '@aws-sdk/client-iam';
import type { CloudContext, CloudEntity, NotYetRule, Row } from '../../src/commit/types';
import { deepEqual } from '../../src/commit/rows';
import type { AwsAccountExports } from '../aws_account';
import { awsClient, justCreated, lazyRequire, type AwsCallContext } from '../aws_account/clients';

export const Iam = lazyRequire<typeof import('@aws-sdk/client-iam')>('@aws-sdk/client-iam');

export interface IamRoleRow extends Row {
  role_name: string;
  arn: string | null;
  assume_role_policy_document: Record<string, unknown>;
  description: string | null;
  attached_policies_arns: string[] | null;
}

const account = (ctx: Pick<CloudContext, 'dependencies'>) => ctx.dependencies.aws_account as unknown as AwsAccountExports;

/**
 * IAM is eventually consistent: a role just made may not be found for a few seconds. Only calls
 * about a role this mapper has just created wait for it (justCreated); any other read of a
 * missing role is an answer at once. Two minutes, as Terraform's AWS provider waits for IAM.
 */
const ROLE_JUST_MADE = { error: 'NoSuchEntityException', justCreated: true, forMs: 120_000, why: 'IAM is eventually consistent: a role just created may not be found for a few seconds' } as const;
export const notYet: NotYetRule[] = [
  { operation: 'GetRole', ...ROLE_JUST_MADE },
  { operation: 'ListAttachedRolePolicies', ...ROLE_JUST_MADE },
  // Only the role missing: a policy that does not exist is an answer.
  { operation: 'AttachRolePolicy', ...ROLE_JUST_MADE, message: /^The role with name / },
];

/** IAM is global; its API lives in us-east-1. */
export const iam = (ctx: AwsCallContext): Promise<IAMClient> => awsClient(ctx, 'iam', 'us-east-1', (c) => new Iam.IAMClient(c), notYet);

const notFound = (err: unknown) => (err as Error).name === 'NoSuchEntityException' || (err as Error).name === 'NoSuchEntity';
const sorted = (a: string[] | null | undefined) => [...(a ?? [])].sort();
const policyDoc = (raw: string | undefined) => (raw ? JSON.parse(decodeURIComponent(raw)) : {});

async function attached(client: IAMClient, role: string): Promise<string[]> {
  const arns: string[] = [];
  for await (const page of Iam.paginateListAttachedRolePolicies({ client }, { RoleName: role })) for (const p of page.AttachedPolicies ?? []) arns.push(p.PolicyArn!);
  return arns.sort();
}

async function toRow(client: IAMClient, r: Role): Promise<IamRoleRow> {
  return {
    role_name: r.RoleName!,
    arn: r.Arn ?? null,
    assume_role_policy_document: policyDoc(r.AssumeRolePolicyDocument),
    description: r.Description || null,
    attached_policies_arns: await attached(client, r.RoleName!),
  };
}

/** The role, or undefined; `client` (default: a new one) is `justCreated(...)` when the mapper just made it. */
async function read(ctx: CloudContext, name: string, client?: IAMClient): Promise<IamRoleRow | undefined> {
  client ??= await iam(ctx);
  try {
    const { Role: r } = await client.send(new Iam.GetRoleCommand({ RoleName: name }), { abortSignal: ctx.signal as never });
    return r ? toRow(client, r) : undefined;
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
}

async function syncPolicies(ctx: CloudContext, client: IAMClient, role: string, want: string[], have: string[]) {
  for (const arn of want.filter((a) => !have.includes(a))) await client.send(new Iam.AttachRolePolicyCommand({ RoleName: role, PolicyArn: arn }), { abortSignal: ctx.signal as never });
  for (const arn of have.filter((a) => !want.includes(a))) await client.send(new Iam.DetachRolePolicyCommand({ RoleName: role, PolicyArn: arn }), { abortSignal: ctx.signal as never });
}

export const iamRole: CloudEntity<IamRoleRow> = {
  table: 'iam_role',
  id: ['role_name'],
  service: 'iam',
  cloudColumns: ['arn'],

  read: (ctx, id) => read(ctx, id.role_name),

  async readAll(ctx) {
    if (!(await account(ctx).configured())) return null;
    const client = await iam(ctx);
    const roles: Role[] = [];
    // Service-linked roles belong to AWS services, not to anyone's infrastructure code.
    for await (const page of Iam.paginateListRoles({ client }, {})) roles.push(...(page.Roles ?? []).filter((r) => !(r.Path ?? '/').startsWith('/aws-service-role/')));
    return Promise.all(roles.map((r) => toRow(client, r)));
  },

  async create(ctx, row) {
    const client = await iam(ctx);
    await client.send(
      new Iam.CreateRoleCommand({ RoleName: row.role_name, AssumeRolePolicyDocument: JSON.stringify(row.assume_role_policy_document), Description: row.description ?? undefined }),
      { abortSignal: ctx.signal as never },
    );
    // The role exists now, whatever the next calls say for a moment (see notYet).
    const made = justCreated(client);
    await syncPolicies(ctx, made, row.role_name, sorted(row.attached_policies_arns), []);
    return (await read(ctx, row.role_name, made))!;
  },

  async update(ctx, row, cloud) {
    const client = await iam(ctx);
    if (!deepEqual(row.assume_role_policy_document, cloud.assume_role_policy_document)) {
      await client.send(new Iam.UpdateAssumeRolePolicyCommand({ RoleName: row.role_name, PolicyDocument: JSON.stringify(row.assume_role_policy_document) }), { abortSignal: ctx.signal as never });
    }
    if ((row.description ?? null) !== (cloud.description ?? null)) {
      await client.send(new Iam.UpdateRoleCommand({ RoleName: row.role_name, Description: row.description ?? '' }), { abortSignal: ctx.signal as never });
    }
    await syncPolicies(ctx, client, row.role_name, sorted(row.attached_policies_arns), sorted(cloud.attached_policies_arns));
    return (await read(ctx, row.role_name))!;
  },

  async delete(ctx, row) {
    const client = await iam(ctx);
    try {
      // AWS refuses to delete a role with policies attached: detach them first.
      await syncPolicies(ctx, client, row.role_name, [], await attached(client, row.role_name));
      await client.send(new Iam.DeleteRoleCommand({ RoleName: row.role_name }), { abortSignal: ctx.signal as never });
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  },

  equals: (row, cloud) =>
    row.role_name === cloud.role_name &&
    deepEqual(row.assume_role_policy_document, cloud.assume_role_policy_document) &&
    (row.description ?? null) === (cloud.description ?? null) &&
    deepEqual(sorted(row.attached_policies_arns), sorted(cloud.attached_policies_arns)),
};
