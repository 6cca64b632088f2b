/**
 * Trust policies (a role's AssumeRolePolicyDocument): the checks IAM makes when it stores one, and
 * whether one lets Lambda assume the role. Policies are not evaluated for anything else: no request
 * to the local cloud is ever denied by a policy.
 */

interface Statement {
  Effect?: unknown;
  Action?: unknown;
  NotAction?: unknown;
  Principal?: unknown;
  NotPrincipal?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
}

/**
 * The actions a trust policy may name (with `*` and `?` wildcards, case-insensitive); IAM refuses
 * any other. aws_iam's `iam_assume_role_actions()` is the same list (checked by test/aws_iam.test.ts).
 */
export const ASSUME_ROLE_ACTIONS = ['sts:AssumeRole', 'sts:AssumeRoleWithSAML', 'sts:AssumeRoleWithWebIdentity', 'sts:TagSession', 'sts:SetSourceIdentity', 'sts:SetContext'];

/** `*`, or `sts:` and a name that, read as a wildcard pattern, matches an assume-role action. */
function isAssumeRoleAction(action: unknown): boolean {
  if (action === '*') return true;
  if (typeof action !== 'string' || !/^sts:[a-z*?]+$/i.test(action)) return false;
  const pattern = new RegExp(`^${action.replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return ASSUME_ROLE_ACTIONS.some((a) => pattern.test(a));
}

/** IAM's default quota on a trust policy's size, counted without whitespace. */
export const TRUST_POLICY_MAX_CHARS = 2048;

export class PolicyError extends Error {
  constructor(
    readonly code: 'MalformedPolicyDocument' | 'LimitExceeded',
    message: string,
  ) {
    super(message);
  }
}

/** Throws a PolicyError with IAM's code and message when IAM would refuse `text` as a trust policy. */
export function checkTrustPolicy(text: string): void {
  const statements = parseStatements(text);
  if (JSON.stringify(JSON.parse(text)).replace(/\s/g, '').length > TRUST_POLICY_MAX_CHARS) {
    throw new PolicyError('LimitExceeded', `Cannot exceed quota for ACLSizePerRole: ${TRUST_POLICY_MAX_CHARS}`);
  }
  for (const s of statements) {
    if (s.Effect !== 'Allow' && s.Effect !== 'Deny') throw new PolicyError('MalformedPolicyDocument', 'Syntax errors in policy.');
    if (s.Resource !== undefined || s.NotResource !== undefined) {
      throw new PolicyError('MalformedPolicyDocument', `Has prohibited field ${s.Resource !== undefined ? 'Resource' : 'NotResource'}`);
    }
    if (s.Principal === undefined && s.NotPrincipal === undefined) throw new PolicyError('MalformedPolicyDocument', 'Missing required field Principal');
    if (s.Action === undefined && s.NotAction === undefined) throw new PolicyError('MalformedPolicyDocument', 'Missing required field Action');
    for (const action of list(s.Action ?? s.NotAction)) {
      if (!isAssumeRoleAction(action)) {
        throw new PolicyError('MalformedPolicyDocument', 'AssumeRole policy may only specify STS AssumeRole actions.');
      }
    }
  }
}

/**
 * Whether the Lambda service may assume a role with this trust policy: an Allow statement for
 * sts:AssumeRole (or a wildcard) whose principal is the service lambda.amazonaws.com (or `*`).
 * Deny statements and conditions are not weighed.
 */
export function trustsLambda(text: string): boolean {
  let statements: Statement[];
  try {
    statements = parseStatements(text);
  } catch {
    return false;
  }
  return statements.some((s) => {
    if (s.Effect !== 'Allow') return false;
    const actionOk = list(s.Action).some((a) => typeof a === 'string' && /^(sts:AssumeRole|sts:\*|\*)$/i.test(a));
    const p = s.Principal;
    const principalOk =
      p === '*' ||
      (typeof p === 'object' && p !== null && list((p as Record<string, unknown>).Service).includes('lambda.amazonaws.com')) ||
      (typeof p === 'object' && p !== null && (p as Record<string, unknown>).AWS === '*');
    return actionOk && principalOk;
  });
}

function parseStatements(text: string): Statement[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new PolicyError('MalformedPolicyDocument', 'This policy contains invalid Json');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new PolicyError('MalformedPolicyDocument', 'This policy contains invalid Json');
  const { Version, Statement } = doc as { Version?: unknown; Statement?: unknown };
  if (Version !== undefined && Version !== '2012-10-17' && Version !== '2008-10-17') {
    throw new PolicyError('MalformedPolicyDocument', 'The policy must contain a valid version string');
  }
  if (Statement === undefined) throw new PolicyError('MalformedPolicyDocument', 'Missing required field Statement');
  const statements = list(Statement);
  if (statements.length === 0 || statements.some((s) => typeof s !== 'object' || s === null || Array.isArray(s))) {
    throw new PolicyError('MalformedPolicyDocument', 'Syntax errors in policy.');
  }
  return statements as Statement[];
}

const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
