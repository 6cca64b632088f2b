import type { FunctionHome } from './lambda-store';

/**
 * Input checks of the Lambda API, with the error types and messages AWS answers, so that code
 * tested against the local cloud does not pass with input AWS would refuse.
 */

/** A request Lambda refuses: sent with `x-amzn-ErrorType: type` and this HTTP status. */
export class LambdaError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (message: string) => new LambdaError('ResourceNotFoundException', 404, message);
export const invalidParameter = (message: string) => new LambdaError('InvalidParameterValueException', 400, message);
/** The service-side model checks: `1 validation error detected: Value 'x' at 'member' failed to satisfy constraint: ...`. */
export const validation = (value: unknown, member: string, constraint: string) =>
  new LambdaError(
    'ValidationException',
    400,
    `1 validation error detected: Value '${typeof value === 'string' ? value : JSON.stringify(value)}' at '${member}' failed to satisfy constraint: Member must ${constraint}`,
  );

/**
 * The runtimes Lambda accepts for new and updated functions, and those it blocks with the runtime
 * it recommends instead: the same lists as aws_lambda's `lambda_runtimes()`
 * (modules/aws_lambda/0.2.0/after_install.sql; test/aws_lambda.test.ts checks they agree).
 */
export const SUPPORTED_RUNTIMES = [
  'nodejs26.x', 'nodejs24.x', 'nodejs22.x', 'nodejs20.x', 'python3.15', 'python3.14', 'python3.13', 'python3.12', 'python3.11',
  'python3.10', 'python3.9', 'java25', 'java21', 'java17', 'java17.al2023', 'java11', 'java11.al2023', 'java8.al2', 'java8.al2023',
  'dotnet10', 'dotnet8', 'ruby4.0', 'ruby3.4', 'ruby3.3', 'ruby3.2', 'provided.al2023', 'provided.al2',
];
export const BLOCKED_RUNTIMES: Record<string, string> = {
  'nodejs18.x': 'nodejs22.x', 'nodejs16.x': 'nodejs22.x', 'nodejs14.x': 'nodejs22.x', 'nodejs12.x': 'nodejs22.x', 'nodejs10.x': 'nodejs22.x',
  'nodejs8.10': 'nodejs22.x', 'nodejs6.10': 'nodejs22.x', 'nodejs4.3': 'nodejs22.x', 'nodejs4.3-edge': 'nodejs22.x', nodejs: 'nodejs22.x',
  'python3.8': 'python3.13', 'python3.7': 'python3.13', 'python3.6': 'python3.13', 'python2.7': 'python3.13',
  java8: 'java21',
  dotnet6: 'dotnet8', 'dotnetcore3.1': 'dotnet8', 'dotnetcore2.1': 'dotnet8', 'dotnetcore2.0': 'dotnet8', 'dotnetcore1.0': 'dotnet8',
  'ruby2.7': 'ruby3.4', 'ruby2.5': 'ruby3.4',
  'go1.x': 'provided.al2023', provided: 'provided.al2023',
};
/** What Invoke runs (with the engine's own Node.js): the Node.js runtimes that keep callback handlers. */
export const INVOKABLE_RUNTIMES = ['nodejs18.x', 'nodejs20.x', 'nodejs22.x', 'nodejs24.x'];

export function checkRuntime(runtime: unknown): string {
  if (typeof runtime === 'string' && SUPPORTED_RUNTIMES.includes(runtime)) return runtime;
  if (typeof runtime === 'string' && Object.hasOwn(BLOCKED_RUNTIMES, runtime)) {
    throw invalidParameter(
      `The runtime parameter of ${runtime} is no longer supported for creating or updating AWS Lambda functions. ` +
        `We recommend you use the new runtime (${BLOCKED_RUNTIMES[runtime]}) while creating or updating functions.`,
    );
  }
  throw invalidParameter(`Value ${String(runtime)} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [${SUPPORTED_RUNTIMES.join(', ')}] or be a valid ARN`);
}

/** The FunctionName pattern of the API model (quoted in its errors) and a parser with the same grammar. */
const FUNCTION_REF_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';
const FUNCTION_REF =
  /^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:(?<region>[a-z]{2}(?:(?:-gov)|(?:-iso(?:b?)))?-[a-z]+-\d{1}):)?(?:(?<account>\d{12}):)?(?:function:)?(?<name>[a-zA-Z0-9-_]+)(?::(?<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$/;

export interface FunctionRef {
  name: string;
  qualifier?: string;
}

/**
 * A function name as the API takes it: `my-function`, `123456789012:function:my-function` or the
 * full ARN, each optionally with `:qualifier`. The region and account in an ARN must be the
 * request's (a function in another region is not reachable, as in AWS; one of another account is
 * not found, whether or not it exists).
 */
export function parseFunctionRef(raw: string, { accountId, region }: FunctionHome, member = 'functionName'): FunctionRef {
  if (raw.length > 140) throw validation(raw, member, 'have length less than or equal to 140');
  const groups = FUNCTION_REF.exec(raw)?.groups;
  if (!groups) throw validation(raw, member, `satisfy regular expression pattern: ${FUNCTION_REF_PATTERN}`);
  const { region: arnRegion, account, name, qualifier } = groups;
  if (arnRegion && arnRegion !== region) throw notFound(`Functions from '${arnRegion}' are not reachable in this region ('${region}')`);
  if (account && account !== accountId) throw notFound(`Function not found: ${raw}`);
  if (name.length > 64) throw validation(name, member, 'have length less than or equal to 64');
  return { name, qualifier };
}

export function checkRoleArn(role: unknown): string {
  if (typeof role !== 'string' || !/^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/.test(role)) {
    throw validation(role ?? null, 'role', 'satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+');
  }
  return role;
}

export function checkHandler(handler: unknown): string {
  if (typeof handler !== 'string' || handler.length === 0) {
    throw invalidParameter('The Handler parameter is required for a function whose PackageType is Zip.');
  }
  if (handler.length > 128) throw validation(handler, 'handler', 'have length less than or equal to 128');
  if (!/^[^\s]+$/.test(handler)) throw validation(handler, 'handler', 'satisfy regular expression pattern: [^\\s]+');
  return handler;
}

export function checkTimeout(timeout: unknown): number {
  if (!Number.isInteger(timeout)) throw validation(timeout, 'timeout', 'be an integer');
  if ((timeout as number) < 1) throw validation(timeout, 'timeout', 'have value greater than or equal to 1');
  if ((timeout as number) > 900) throw validation(timeout, 'timeout', 'have value less than or equal to 900');
  return timeout as number;
}

export function checkMemorySize(memory: unknown): number {
  if (!Number.isInteger(memory)) throw validation(memory, 'memorySize', 'be an integer');
  if ((memory as number) < 128) throw validation(memory, 'memorySize', 'have value greater than or equal to 128');
  if ((memory as number) > 32768) throw validation(memory, 'memorySize', 'have value less than or equal to 32768');
  if ((memory as number) > 10240) throw invalidParameter(`'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to 10240`);
  return memory as number;
}

export function checkDescription(description: unknown): string {
  if (typeof description !== 'string') throw validation(description, 'description', 'be a string');
  if (description.length > 256) throw validation(description, 'description', 'have length less than or equal to 256');
  return description;
}

export function checkArchitectures(architectures: unknown): string[] {
  const list = Array.isArray(architectures) ? architectures : [architectures];
  if (list.length !== 1) throw validation(`[${list.join(', ')}]`, 'architectures', 'have length less than or equal to 1');
  if (list[0] !== 'x86_64' && list[0] !== 'arm64') {
    throw validation(`[${list.join(', ')}]`, 'architectures', 'satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]');
  }
  return list as string[];
}

/** Variables Lambda sets itself; a function may not set them (aws_lambda's `lambda_reserved_environment_keys()` is the same list). */
export const RESERVED_VARIABLES = [
  '_HANDLER', '_X_AMZN_TRACE_ID', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_ACCESS_KEY', 'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR',
];

/** `Environment.Variables`: names, reserved names, and the 4 KB total that Lambda allows. */
export function checkVariables(environment: unknown): Record<string, string> {
  const variables = (environment as { Variables?: unknown } | undefined)?.Variables ?? {};
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) throw validation(variables, 'environment.variables', 'be a map');
  const entries = Object.entries(variables as Record<string, unknown>);
  const badName = entries.find(([k]) => !/^[a-zA-Z]([a-zA-Z0-9_])+$/.test(k));
  if (badName) {
    throw new LambdaError(
      'ValidationException',
      400,
      `1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]`,
    );
  }
  const reserved = entries.map(([k]) => k).filter((k) => RESERVED_VARIABLES.includes(k));
  if (reserved.length) {
    throw invalidParameter(
      'Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys ' +
        `that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
    );
  }
  const nonString = entries.find(([, v]) => typeof v !== 'string');
  if (nonString) throw validation(nonString[1], `environment.variables.${nonString[0]}`, 'be a string');
  const measured = JSON.stringify(variables);
  if (Buffer.byteLength(measured) > 4096) {
    throw invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured}`,
    );
  }
  return variables as Record<string, string>;
}

/** Tags on a function: at most 50, keys 1-128 characters, values up to 256, no `aws:` keys. */
export function checkTags(tags: unknown, existing: Record<string, string> = {}): Record<string, string> {
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) throw validation(tags, 'tags', 'be a map');
  for (const [k, v] of Object.entries(tags as Record<string, unknown>)) {
    if (k.length < 1 || k.length > 128) throw validation(k, 'tags', 'have a key length between 1 and 128');
    if (typeof v !== 'string' || v.length > 256) throw validation(v, `tags.${k}`, 'be a string of length less than or equal to 256');
    if (k.toLowerCase().startsWith('aws:')) throw invalidParameter(`Tag keys starting with 'aws:' are reserved for AWS use: ${k}`);
  }
  const merged = { ...existing, ...(tags as Record<string, string>) };
  if (Object.keys(merged).length > 50) throw invalidParameter('Number of tags exceeds resource tag limit.');
  return merged;
}

/**
 * Settings the local cloud does not emulate. Refused with a clear message rather than stored and
 * ignored, so a test does not pass on behaviour the local cloud does not have. Empty values (an
 * empty VpcConfig, no Layers) are what clients send to mean "none" and are accepted.
 */
const NOT_EMULATED = [
  'Layers', 'VpcConfig', 'FileSystemConfigs', 'ImageConfig', 'DeadLetterConfig', 'KMSKeyArn', 'CodeSigningConfigArn',
  'TenancyConfig', 'CapacityProviderConfig', 'DurableConfig', 'PublishTo',
];

export function refuseNotEmulated(body: Record<string, unknown>): void {
  for (const key of NOT_EMULATED) {
    if (!isEmpty(body[key])) throw invalidParameter(`${key} is not emulated by the iasql local cloud (see docs/local-cloud.md)`);
  }
  if (body.Publish === true) throw invalidParameter('Publish (function versions) is not emulated by the iasql local cloud; only $LATEST exists');
  if (body.PackageType !== undefined && body.PackageType !== 'Zip') {
    throw invalidParameter(`PackageType ${String(body.PackageType)} is not emulated by the iasql local cloud; only Zip packages are`);
  }
  const snap = body.SnapStart as { ApplyOn?: string } | undefined;
  if (snap && snap.ApplyOn && snap.ApplyOn !== 'None') throw invalidParameter('SnapStart is not emulated by the iasql local cloud');
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v as object).every(isEmpty);
  return false;
}

/** UpdateFunction*: a RevisionId, when given, must be the current one. */
export function checkRevision(current: string, revisionId: unknown): void {
  if (revisionId !== undefined && revisionId !== current) {
    throw new LambdaError(
      'PreconditionFailedException',
      412,
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
    );
  }
}

export function tracingMode(tracing: unknown): string | undefined {
  const mode = (tracing as { Mode?: unknown } | undefined)?.Mode;
  if (mode === undefined) return undefined;
  if (mode !== 'Active' && mode !== 'PassThrough') throw validation(mode, 'tracingConfig.mode', 'satisfy enum value set: [Active, PassThrough]');
  return mode;
}

export function ephemeralStorage(storage: unknown): number | undefined {
  const size = (storage as { Size?: unknown } | undefined)?.Size;
  if (size === undefined) return undefined;
  if (!Number.isInteger(size) || (size as number) < 512 || (size as number) > 10240) {
    throw validation(size, 'ephemeralStorage.size', 'have value between 512 and 10240');
  }
  return size as number;
}

export function logGroup(logging: unknown): string | undefined {
  const { LogFormat, LogGroup } = (logging ?? {}) as { LogFormat?: unknown; LogGroup?: unknown };
  if (LogFormat !== undefined && LogFormat !== 'Text') throw invalidParameter(`LogFormat ${String(LogFormat)} is not emulated by the iasql local cloud; logs are Text`);
  return typeof LogGroup === 'string' ? LogGroup : undefined;
}
