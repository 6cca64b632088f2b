import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { readJsonFile, writeFileAtomic } from './files';
import { checkTrustPolicy, PolicyError, trustsLambda } from './iam-policy';
import type { AuthenticatedRequest, LocalService } from './service';
import { queryError, queryResponse, type XmlValue } from './xml';

const NAMESPACE = 'https://iam.amazonaws.com/doc/2010-05-08/';
/** IAM's default quota of managed policies attached to one role. */
const POLICIES_PER_ROLE = 10;

interface Tag {
  Key: string;
  Value: string;
}

interface StoredRole {
  Path: string;
  RoleName: string;
  RoleId: string;
  Arn: string;
  /** ISO 8601 without milliseconds, as IAM writes it. */
  CreateDate: string;
  /** As given (IAM answers it URL-encoded). */
  AssumeRolePolicyDocument: string;
  Description?: string;
  MaxSessionDuration: number;
  Tags: Tag[];
  AttachedPolicyArns: string[];
}

/** A request IAM refuses: answered as `<ErrorResponse>` with this code and status. */
class IamError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const EMULATED = [
  'CreateRole',
  'GetRole',
  'ListRoles',
  'DeleteRole',
  'UpdateRole',
  'UpdateAssumeRolePolicy',
  'AttachRolePolicy',
  'DetachRolePolicy',
  'ListAttachedRolePolicies',
] as const;
type Action = (typeof EMULATED)[number];

/**
 * IAM roles over the query protocol (form-encoded POST with `Action=...`, XML answers). IAM is
 * global: one set of roles per account whatever region a request is signed for. Roles live in
 * memory, and in `<dataDir>/<accountId>/roles.json` when there is a data directory. Managed
 * policies are only attached by ARN:
 * any AWS managed policy ARN (`arn:aws:iam::aws:policy/...`) is accepted without checking that AWS
 * has such a policy; customer managed policies cannot be created, so their ARNs are not found.
 */
export class LocalIam implements LocalService {
  /** Per account, by lower-case name: IAM role names are unique regardless of case. */
  private readonly accounts = new Map<string, Map<string, StoredRole>>();
  /** When each role was created (`accountId/lower-case name`), while `propagationMs` says it is still new. */
  private readonly created = new Map<string, number>();

  /**
   * `propagationMs` (default 0: off) emulates IAM's eventual consistency: Lambda cannot assume a
   * role that young, and GetRole does not find it for the first quarter of that (IAM's own reads
   * catch up sooner than other services do).
   */
  constructor(
    private readonly dataDir: string | undefined,
    private readonly logger: Logger,
    private readonly propagationMs = 0,
  ) {
    if (!dataDir || !fs.existsSync(dataDir)) return;
    for (const accountId of fs.readdirSync(dataDir).filter((d) => /^\d{12}$/.test(d))) {
      for (const role of readJsonFile<StoredRole[]>(path.join(dataDir, accountId, 'roles.json')) ?? []) this.roles(accountId).set(role.RoleName.toLowerCase(), role);
    }
  }

  /**
   * Whether Lambda may assume the role with this ARN for a function of `accountId`: a role of
   * that same account that exists and whose trust policy names Lambda.
   */
  lambdaCanAssume(accountId: string, roleArn: string): boolean {
    const m = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([\w+=,.@-]+)$/.exec(roleArn);
    const role = m && m[1] === accountId ? this.accounts.get(accountId)?.get(m[2].toLowerCase()) : undefined;
    return !!role && role.Arn === roleArn && trustsLambda(role.AssumeRolePolicyDocument) && !this.newerThan(accountId, role.RoleName, this.propagationMs);
  }

  /** Whether the role was created less than `ms` ago (never, with propagation off). */
  private newerThan(accountId: string, name: string, ms: number): boolean {
    const key = `${accountId}/${name.toLowerCase()}`;
    const at = this.created.get(key);
    if (at === undefined) return false;
    const age = performance.now() - at;
    if (age >= this.propagationMs) this.created.delete(key); // no longer new for anyone
    return age < ms;
  }

  /** The action a request calls, and its parameters. */
  operationOf(req: IncomingMessage, body: Buffer): { name: string; input: Record<string, unknown> } | undefined {
    const params = queryParams(req, body);
    const action = params.get('Action');
    return action ? { name: action, input: Object.fromEntries(params) } : undefined;
  }

  handle(req: IncomingMessage, body: Buffer, res: ServerResponse, { account }: AuthenticatedRequest): void {
    const requestId = randomUUID();
    const params = queryParams(req, body);
    const action = params.get('Action') ?? '';
    let status = 200;
    let xml: string;
    try {
      if (!(EMULATED as readonly string[]).includes(action)) {
        throw new IamError(
          'InvalidAction',
          400,
          action
            ? `Could not find operation ${action} for version 2010-05-08 in the iasql local cloud; it emulates: ${EMULATED.join(', ')}`
            : 'Missing Action',
        );
      }
      xml = queryResponse(NAMESPACE, action, this.run(account.accountId, action as Action, params), requestId);
    } catch (err) {
      if (!(err instanceof IamError)) this.logger.error({ err: (err as Error).message, action }, 'local IAM failed');
      const e = err instanceof IamError ? err : new IamError('ServiceFailure', 500, `the local cloud's IAM failed: ${(err as Error).message}`);
      status = e.status;
      xml = queryError(NAMESPACE, e.code, e.message, requestId, e.status >= 500 ? 'Receiver' : 'Sender');
    }
    res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml), 'x-amzn-requestid': requestId });
    res.end(xml);
  }

  private run(accountId: string, action: Action, p: URLSearchParams): Record<string, XmlValue> | undefined {
    const roles = this.roles(accountId);
    const find = (name: string) => {
      const role = roles.get(name.toLowerCase());
      if (!role) throw new IamError('NoSuchEntity', 404, `The role with name ${name} cannot be found.`);
      return role;
    };
    const save = () => this.save(accountId);
    switch (action) {
      case 'CreateRole': {
        const RoleName = roleName(p);
        const Path = optional(p, 'Path', 'path', /^(\/|\/[\u0021-\u007E]+\/)$/, 512) ?? '/';
        const AssumeRolePolicyDocument = trustPolicy(p, 'AssumeRolePolicyDocument');
        const Description = description(p);
        const MaxSessionDuration = maxSessionDuration(p) ?? 3600;
        const Tags = tags(p);
        if (roles.has(RoleName.toLowerCase())) throw new IamError('EntityAlreadyExists', 409, `Role with name ${RoleName} already exists.`);
        const role: StoredRole = {
          Path,
          RoleName,
          RoleId: `AROA${base32(17)}`,
          Arn: `arn:aws:iam::${accountId}:role${Path}${RoleName}`,
          CreateDate: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          AssumeRolePolicyDocument,
          Description,
          MaxSessionDuration,
          Tags,
          AttachedPolicyArns: [],
        };
        roles.set(RoleName.toLowerCase(), role);
        if (this.propagationMs > 0) this.created.set(`${accountId}/${RoleName.toLowerCase()}`, performance.now());
        save();
        this.logger.debug({ role: role.Arn }, 'local IAM role created');
        return { Role: roleXml(role) };
      }
      case 'GetRole': {
        const role = find(roleName(p));
        if (this.newerThan(accountId, role.RoleName, this.propagationMs / 4)) throw new IamError('NoSuchEntity', 404, `The role with name ${roleName(p)} cannot be found.`);
        return { Role: roleXml(role) };
      }
      case 'ListRoles': {
        const prefix = optional(p, 'PathPrefix', 'pathPrefix', /^\/[\u0021-\u007F]*$/, 512) ?? '/';
        const listed = [...roles.values()].filter((r) => r.Path.startsWith(prefix)).sort((a, b) => a.RoleName.localeCompare(b.RoleName));
        // ListRoles leaves out Tags, PermissionsBoundary and RoleLastUsed, as AWS does.
        return page(p, listed, (r) => r.RoleName, 'Roles', (r) => ({ ...roleXml(r), Tags: undefined }));
      }
      case 'DeleteRole': {
        const role = find(roleName(p));
        if (role.AttachedPolicyArns.length > 0) throw new IamError('DeleteConflict', 409, 'Cannot delete entity, must detach all policies first.');
        roles.delete(role.RoleName.toLowerCase());
        this.created.delete(`${accountId}/${role.RoleName.toLowerCase()}`);
        save();
        return undefined;
      }
      case 'UpdateRole': {
        const role = find(roleName(p));
        const Description = description(p);
        const MaxSessionDuration = maxSessionDuration(p);
        if (Description !== undefined) role.Description = Description;
        if (MaxSessionDuration !== undefined) role.MaxSessionDuration = MaxSessionDuration;
        save();
        return {};
      }
      case 'UpdateAssumeRolePolicy': {
        const role = find(roleName(p));
        role.AssumeRolePolicyDocument = trustPolicy(p, 'PolicyDocument');
        save();
        return undefined;
      }
      case 'AttachRolePolicy': {
        const role = find(roleName(p));
        const arn = policyArn(p);
        if (!arn.startsWith('arn:aws:iam::aws:policy/')) throw new IamError('NoSuchEntity', 404, `Policy ${arn} does not exist or is not attachable.`);
        if (!role.AttachedPolicyArns.includes(arn)) {
          if (role.AttachedPolicyArns.length >= POLICIES_PER_ROLE) {
            throw new IamError('LimitExceeded', 409, `Cannot exceed quota for PoliciesPerRole: ${POLICIES_PER_ROLE}`);
          }
          role.AttachedPolicyArns.push(arn);
          save();
        }
        return undefined;
      }
      case 'DetachRolePolicy': {
        const role = find(roleName(p));
        const arn = policyArn(p);
        if (!role.AttachedPolicyArns.includes(arn)) throw new IamError('NoSuchEntity', 404, `Policy ${arn} was not found.`);
        role.AttachedPolicyArns = role.AttachedPolicyArns.filter((a) => a !== arn);
        save();
        return undefined;
      }
      case 'ListAttachedRolePolicies': {
        const role = find(roleName(p));
        const prefix = optional(p, 'PathPrefix', 'pathPrefix', /^\/[\u0021-\u007F]*$/, 512) ?? '/';
        const attached = role.AttachedPolicyArns.filter((arn) => arn.slice('arn:aws:iam::aws:policy'.length).startsWith(prefix));
        return page(p, attached, (arn) => arn, 'AttachedPolicies', (arn) => ({ PolicyName: arn.slice(arn.lastIndexOf('/') + 1), PolicyArn: arn }));
      }
    }
  }

  private roles(accountId: string): Map<string, StoredRole> {
    let roles = this.accounts.get(accountId);
    if (!roles) this.accounts.set(accountId, (roles = new Map()));
    return roles;
  }

  private save(accountId: string): void {
    if (!this.dataDir) return;
    writeFileAtomic(path.join(this.dataDir, accountId, 'roles.json'), JSON.stringify([...this.roles(accountId).values()], null, 1));
  }

  async removeAccount(accountId: string): Promise<void> {
    this.accounts.delete(accountId);
    for (const key of this.created.keys()) if (key.startsWith(`${accountId}/`)) this.created.delete(key);
    if (this.dataDir) fs.rmSync(path.join(this.dataDir, accountId), { recursive: true, force: true });
  }

  async stop(): Promise<void> {}
}

/** The query protocol's parameters: the form body, and the query string for what the body lacks. */
function queryParams(req: IncomingMessage, body: Buffer): URLSearchParams {
  const params = new URLSearchParams(body.toString('utf8'));
  for (const [k, v] of new URL(req.url ?? '/', 'http://local').searchParams) if (!params.has(k)) params.set(k, v);
  return params;
}

function roleXml(r: StoredRole): Record<string, XmlValue> {
  return {
    Path: r.Path,
    RoleName: r.RoleName,
    RoleId: r.RoleId,
    Arn: r.Arn,
    CreateDate: r.CreateDate,
    // IAM returns policy documents URL-encoded (RFC 3986).
    AssumeRolePolicyDocument: encodeURIComponent(r.AssumeRolePolicyDocument),
    Description: r.Description || undefined,
    MaxSessionDuration: r.MaxSessionDuration,
    Tags: r.Tags.length ? r.Tags.map((t) => ({ Key: t.Key, Value: t.Value })) : undefined,
  };
}

/** One page of `items` after `Marker`, as IAM pages: IsTruncated, and Marker when there is more. */
function page<T>(p: URLSearchParams, items: T[], key: (item: T) => string, listName: string, toXml: (item: T) => XmlValue): Record<string, XmlValue> {
  const maxItems = integer(p, 'MaxItems', 'maxItems', 1, 1000) ?? 100;
  const marker = p.get('Marker');
  let start = 0;
  if (marker) {
    const after = Buffer.from(marker, 'base64url').toString('utf8');
    start = items.findIndex((item) => key(item).localeCompare(after) > 0);
    if (start < 0) start = items.length;
  }
  const slice = items.slice(start, start + maxItems);
  const truncated = start + maxItems < items.length;
  return {
    [listName]: slice.map(toXml),
    IsTruncated: truncated,
    Marker: truncated ? Buffer.from(key(slice[slice.length - 1]), 'utf8').toString('base64url') : undefined,
  };
}

// --- parameters, checked as IAM checks them (its ValidationError messages) ---

function validation(value: string | null, member: string, constraint: string): IamError {
  const shown = value === null ? 'null' : `'${value}'`;
  return new IamError('ValidationError', 400, `1 validation error detected: Value ${shown} at '${member}' failed to satisfy constraint: Member must ${constraint}`);
}

function optional(p: URLSearchParams, name: string, member: string, pattern: RegExp, max: number): string | undefined {
  const v = p.get(name);
  if (v === null) return undefined;
  if (v.length < 1) throw validation(v, member, 'have length greater than or equal to 1');
  if (v.length > max) throw validation(v, member, `have length less than or equal to ${max}`);
  if (!pattern.test(v)) throw validation(v, member, `satisfy regular expression pattern: ${pattern.source.slice(1, -1)}`);
  return v;
}

function required(p: URLSearchParams, name: string, member: string, pattern: RegExp, max: number): string {
  const v = optional(p, name, member, pattern, max);
  if (v === undefined) throw validation(null, member, 'not be null');
  return v;
}

const roleName = (p: URLSearchParams) => required(p, 'RoleName', 'roleName', /^[\w+=,.@-]+$/, 64);

function policyArn(p: URLSearchParams): string {
  const arn = required(p, 'PolicyArn', 'policyArn', /^.*$/, 2048);
  if (arn.length < 20 || !/^arn:aws:iam::(aws|\d{12}):policy\/([\u0021-\u007E]+\/)?[\w+=,.@-]+$/.test(arn)) {
    throw new IamError('InvalidInput', 400, `ARN ${arn} is not valid.`);
  }
  return arn;
}

function trustPolicy(p: URLSearchParams, name: string): string {
  const doc = required(p, name, name === 'PolicyDocument' ? 'policyDocument' : 'assumeRolePolicyDocument', /^[\u0009\u000A\u000D\u0020-\u00FF]+$/, 131072);
  try {
    checkTrustPolicy(doc);
  } catch (err) {
    if (err instanceof PolicyError) throw new IamError(err.code, err.code === 'LimitExceeded' ? 409 : 400, err.message);
    throw err;
  }
  return doc;
}

function description(p: URLSearchParams): string | undefined {
  const v = p.get('Description');
  if (v === null) return undefined;
  if (v.length > 1000) throw validation(v, 'description', 'have length less than or equal to 1000');
  if (!/^[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*$/.test(v)) {
    throw validation(v, 'description', 'satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*');
  }
  return v;
}

const maxSessionDuration = (p: URLSearchParams) => integer(p, 'MaxSessionDuration', 'maxSessionDuration', 3600, 43200);

function integer(p: URLSearchParams, name: string, member: string, min: number, max: number): number | undefined {
  const v = p.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw validation(v, member, 'be a number');
  if (n < min) throw validation(v, member, `have value greater than or equal to ${min}`);
  if (n > max) throw validation(v, member, `have value less than or equal to ${max}`);
  return n;
}

function tags(p: URLSearchParams): Tag[] {
  const result: Tag[] = [];
  for (let i = 1; p.has(`Tags.member.${i}.Key`); i++) {
    const Key = p.get(`Tags.member.${i}.Key`)!;
    const Value = p.get(`Tags.member.${i}.Value`) ?? '';
    if (Key.length < 1 || Key.length > 128 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u.test(Key)) {
      throw validation(Key, `tags.${i}.member.key`, 'satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+ and have length between 1 and 128');
    }
    if (Value.length > 256 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(Value)) {
      throw validation(Value, `tags.${i}.member.value`, 'satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]* and have length less than or equal to 256');
    }
    if (result.some((t) => t.Key.toLowerCase() === Key.toLowerCase())) throw new IamError('InvalidInput', 400, 'Duplicate tag keys found. Please note that Tag keys are case insensitive.');
    result.push({ Key, Value });
  }
  if (result.length > 50) throw new IamError('LimitExceeded', 409, 'Cannot exceed quota for TagsPerRole: 50');
  return result;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const base32 = (n: number) => [...randomBytes(n)].map((b) => BASE32[b % 32]).join('');
