import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger';
import type { LocalAccount } from './accounts';
import type { LocalIam } from './iam';
import { checkZip, codeSha256, MAX_CODE_REQUEST_BYTES } from './lambda-code';
import { LambdaRuntime, type RuntimeOptions } from './lambda-runtime';
import { FunctionStore, type FunctionConfig, type FunctionHome, type StoredFunction } from './lambda-store';
import * as check from './lambda-validate';
import { invalidParameter, LambdaError, notFound, validation } from './lambda-validate';
import type { AuthenticatedRequest, LocalService } from './service';
import { presignUrl } from './sigv4';

/** Invoke's payload quotas: 6 MB synchronous (request and response), 1 MB asynchronous. */
const SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;
const ASYNC_PAYLOAD_BYTES = 1024 * 1024;
/** LogType Tail answers the last 4 KB of the invocation's log. */
const LOG_TAIL_BYTES = 4096;

interface Answer {
  status: number;
  body?: object | Buffer;
  headers?: Record<string, string>;
}

const FUNCTIONS = /^\/2015-03-31\/functions\/?$/;
const FUNCTION = /^\/2015-03-31\/functions\/([^/]+)(?:\/(configuration|code|invocations))?\/?$/;
const TAGS = /^\/2017-03-31\/tags\/(.+)$/;
/**
 * Where GetFunction's Code.Location points: the zip, while it is the function's current code. The
 * link is presigned with the account's key (valid 10 minutes, as AWS's are), so it is an ordinary
 * signed request of that account.
 */
const CODE_LINK = /^\/_localcloud\/lambda-code\/([a-zA-Z0-9-_]+)\/([0-9a-f]{64})\.zip$/;

/** The operation a request's method and path name (REST-JSON), and the function, ARN or code link named in the path. */
function lambdaOperation(method: string, pathname: string): { name: string; ref?: string } | undefined {
  let m: RegExpExecArray | null;
  if (FUNCTIONS.test(pathname)) return method === 'POST' ? { name: 'CreateFunction' } : method === 'GET' ? { name: 'ListFunctions' } : undefined;
  if ((m = FUNCTION.exec(pathname))) {
    const name = FUNCTION_OPERATIONS[`${method} ${m[2] ?? ''}`];
    return name ? { name, ref: decodeURIComponent(m[1]) } : undefined;
  }
  if ((m = TAGS.exec(pathname))) {
    const name = ({ GET: 'ListTags', POST: 'TagResource', DELETE: 'UntagResource' } as Record<string, string>)[method];
    return name ? { name, ref: decodeURIComponent(m[1]) } : undefined;
  }
  if ((m = CODE_LINK.exec(pathname)) && method === 'GET') return { name: 'CodeLink', ref: `${m[1]}/${m[2]}` };
  return undefined;
}
const FUNCTION_OPERATIONS: Record<string, string> = {
  'GET ': 'GetFunction',
  'GET configuration': 'GetFunctionConfiguration',
  'DELETE ': 'DeleteFunction',
  'PUT configuration': 'UpdateFunctionConfiguration',
  'PUT code': 'UpdateFunctionCode',
  'POST invocations': 'Invoke',
};

/**
 * The Lambda API (REST-JSON, the paths of @aws-sdk/client-lambda): CreateFunction, GetFunction,
 * GetFunctionConfiguration, ListFunctions, UpdateFunctionConfiguration, UpdateFunctionCode,
 * DeleteFunction, Invoke, TagResource, UntagResource, ListTags. Functions belong to the account
 * that signed the request and to its region, and only $LATEST exists (no versions or aliases).
 * Functions read as Active with their last update Successful; the answers of CreateFunction and
 * the updates say Pending / InProgress, as AWS's do, so code that skips the SDK waiters is not
 * hidden here.
 */
export class LocalLambda implements LocalService {
  readonly maxBodyBytes = MAX_CODE_REQUEST_BYTES;
  private readonly store: FunctionStore;
  private readonly runtime: LambdaRuntime;
  private endpoint = '';

  constructor(
    dataDir: string | undefined,
    private readonly iam: LocalIam,
    private readonly logger: Logger,
    runtime: RuntimeOptions = {},
  ) {
    this.store = new FunctionStore(dataDir);
    this.runtime = new LambdaRuntime(logger, () => this.endpoint, runtime);
  }

  listening(endpoint: string): void {
    this.endpoint = endpoint;
  }

  bodyTooLarge(req: IncomingMessage, res: ServerResponse): void {
    const invoke = /\/invocations\/?(\?|$)/.test(req.url ?? '');
    const operation = invoke ? 'InvokeFunction' : req.method === 'PUT' ? 'UpdateFunctionCode' : 'CreateFunction';
    const limit = invoke ? SYNC_PAYLOAD_BYTES : MAX_CODE_REQUEST_BYTES;
    send(res, randomUUID(), { status: 413, ...errorBody(invoke ? 'RequestTooLargeException' : 'RequestEntityTooLargeException', `Request must be smaller than ${limit} bytes for the ${operation} operation`) });
  }

  handle(req: IncomingMessage, body: Buffer, res: ServerResponse, { account, region }: AuthenticatedRequest): void {
    const requestId = randomUUID();
    this.route(req, body, account, { accountId: account.accountId, region }, requestId).then(
      (answer) => send(res, requestId, answer),
      (err: Error) => {
        if (!(err instanceof LambdaError)) this.logger.error({ err: err.message, url: req.url }, 'local Lambda failed');
        const e = err instanceof LambdaError ? err : new LambdaError('ServiceException', 500, `the local cloud's Lambda failed: ${err.message}`);
        send(res, requestId, { status: e.status, ...errorBody(e.type, e.message) });
      },
    );
  }

  /** The API operation a request calls, and its input (the JSON body, with the function or resource named in the path). */
  operationOf(req: IncomingMessage, body: Buffer): { name: string; input: Record<string, unknown> } | undefined {
    const op = lambdaOperation(req.method ?? 'GET', new URL(req.url ?? '/', 'http://local').pathname);
    if (!op) return undefined;
    let input: Record<string, unknown> = {};
    try {
      input = json(body);
    } catch {
      // an unreadable body is the operation's own error
    }
    if (op.name === 'TagResource' || op.name === 'UntagResource' || op.name === 'ListTags') input = { ...input, Resource: op.ref };
    else if (op.ref !== undefined) input = { ...input, FunctionName: op.ref };
    return { name: op.name, input };
  }

  private async route(req: IncomingMessage, body: Buffer, account: LocalAccount, home: FunctionHome, requestId: string): Promise<Answer> {
    const url = new URL(req.url ?? '/', 'http://local');
    const method = req.method ?? 'GET';
    const op = lambdaOperation(method, url.pathname);
    if (op?.name === 'CreateFunction') return this.createFunction(home, json(body));
    if (op?.name === 'ListFunctions') return this.listFunctions(home, url.searchParams);
    if (op?.name === 'CodeLink') {
      const [name, hex] = op.ref!.split('/');
      const fn = this.store.get(home, name);
      if (!fn || Buffer.from(fn.config.CodeSha256, 'base64').toString('hex') !== hex) throw notFound('This code link is no longer valid');
      return { status: 200, body: this.store.zip(home, name), headers: { 'content-type': 'application/zip' } };
    }
    if (op?.name === 'ListTags' || op?.name === 'TagResource' || op?.name === 'UntagResource') {
      const fn = this.tagged(op.ref!, home);
      if (op.name === 'ListTags') return { status: 200, body: { Tags: fn.tags } };
      if (op.name === 'TagResource') {
        const tags = json(body).Tags;
        if (tags === undefined) throw validation(null, 'tags', 'not be null');
        fn.tags = check.checkTags(tags, fn.tags);
      } else {
        const keys = url.searchParams.getAll('tagKeys');
        if (keys.length === 0) throw validation(null, 'tagKeys', 'not be null');
        fn.tags = Object.fromEntries(Object.entries(fn.tags).filter(([k]) => !keys.includes(k)));
      }
      this.store.put(home, fn);
      return { status: 204 };
    }
    if (op) {
      const ref = check.parseFunctionRef(op.ref!, home);
      const qualifier = ref.qualifier ?? url.searchParams.get('Qualifier') ?? undefined;
      switch (op.name) {
        case 'GetFunction':
          return { status: 200, body: this.getFunction(account, home, this.find(home, ref.name, qualifier)) };
        case 'GetFunctionConfiguration':
          return { status: 200, body: configuration(this.find(home, ref.name, qualifier), 'read') };
        case 'DeleteFunction':
          return this.deleteFunction(home, ref.name, qualifier);
        case 'UpdateFunctionConfiguration':
          return this.updateConfiguration(home, this.find(home, ref.name), json(body));
        case 'UpdateFunctionCode':
          return this.updateCode(home, this.find(home, ref.name), json(body));
        case 'Invoke':
          return this.invoke(req, body, home, this.find(home, ref.name, qualifier), requestId);
      }
    }
    throw new LambdaError(
      'UnknownOperationException',
      400,
      `the iasql local cloud's Lambda does not emulate ${method} ${url.pathname}; it emulates CreateFunction, GetFunction, ` +
        'GetFunctionConfiguration, ListFunctions, UpdateFunctionConfiguration, UpdateFunctionCode, DeleteFunction, Invoke, TagResource, UntagResource, ListTags',
    );
  }

  private find(home: FunctionHome, name: string, qualifier?: string): StoredFunction {
    const arn = functionArn(home, name);
    const fn = this.store.get(home, name);
    if (qualifier !== undefined && qualifier !== '$LATEST') throw notFound(`Function not found: ${arn}:${qualifier}`);
    if (!fn) throw notFound(`Function not found: ${arn}`);
    return fn;
  }

  private tagged(arn: string, home: FunctionHome): StoredFunction {
    const m = /^arn:aws:lambda:([a-z0-9-]+):(\d{12}):function:([a-zA-Z0-9-_]+)$/.exec(arn);
    if (!m) throw validation(arn, 'resource', 'satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:function:[a-zA-Z0-9-_]+');
    const fn = m[1] === home.region && m[2] === home.accountId ? this.store.get(home, m[3]) : undefined;
    if (!fn) throw notFound(`Function not found: ${arn}`);
    return fn;
  }

  private createFunction(home: FunctionHome, body: Record<string, unknown>): Answer {
    if (body.FunctionName === undefined) throw validation(null, 'functionName', 'not be null');
    check.refuseNotEmulated(body);
    const code = (body.Code ?? {}) as Record<string, unknown>;
    if (code.S3Bucket !== undefined || code.S3Key !== undefined) throw invalidParameter('Code from S3 is not emulated by the iasql local cloud (it has no S3); send the zip as Code.ZipFile');
    const zip = checkZip(code.ZipFile);
    const architectures = body.Architectures === undefined ? ['x86_64'] : check.checkArchitectures(body.Architectures);
    const variables = check.checkVariables(body.Environment);
    const role = this.assumableRole(home, body.Role);
    if (body.Runtime === undefined) throw invalidParameter('The Runtime parameter is required for a function whose PackageType is Zip.');
    const runtime = check.checkRuntime(body.Runtime);
    const handler = check.checkHandler(body.Handler);
    const { name, qualifier } = check.parseFunctionRef(String(body.FunctionName), home);
    if (qualifier) throw validation(body.FunctionName, 'functionName', 'not have a qualifier when creating a function');
    const timeout = body.Timeout === undefined ? 3 : check.checkTimeout(body.Timeout);
    const memory = body.MemorySize === undefined ? 128 : check.checkMemorySize(body.MemorySize);
    const description = body.Description === undefined ? '' : check.checkDescription(body.Description);
    const tags = body.Tags === undefined ? {} : check.checkTags(body.Tags);
    if (this.store.get(home, name)) throw new LambdaError('ResourceConflictException', 409, `Function already exist: ${name}`);
    const config: FunctionConfig = {
      FunctionName: name,
      FunctionArn: functionArn(home, name),
      Runtime: runtime,
      Role: role,
      Handler: handler,
      CodeSize: zip.length,
      Description: description,
      Timeout: timeout,
      MemorySize: memory,
      LastModified: lastModified(),
      CodeSha256: codeSha256(zip),
      Version: '$LATEST',
      Environment: Object.keys(variables).length ? { Variables: variables } : undefined,
      TracingConfig: { Mode: check.tracingMode(body.TracingConfig) ?? 'PassThrough' },
      RevisionId: randomUUID(),
      PackageType: 'Zip',
      Architectures: architectures,
      EphemeralStorage: { Size: check.ephemeralStorage(body.EphemeralStorage) ?? 512 },
      SnapStart: { ApplyOn: 'None', OptimizationStatus: 'Off' },
      LoggingConfig: { LogFormat: 'Text', LogGroup: check.logGroup(body.LoggingConfig) ?? `/aws/lambda/${name}` },
    };
    const fn = { config, tags };
    this.store.put(home, fn, zip);
    this.logger.debug({ function: config.FunctionArn }, 'local Lambda function created');
    return { status: 201, body: configuration(fn, 'create') };
  }

  private listFunctions(home: FunctionHome, q: URLSearchParams): Answer {
    const version = q.get('FunctionVersion');
    if (version !== null && version !== 'ALL') throw validation(version, 'functionVersion', 'satisfy enum value set: [ALL]');
    const maxItems = q.has('MaxItems') ? Number(q.get('MaxItems')) : 50;
    if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 10000) throw validation(q.get('MaxItems'), 'maxItems', 'have value between 1 and 10000');
    let functions = this.store.list(home);
    const marker = q.get('Marker');
    if (marker) {
      const after = Buffer.from(marker, 'base64url').toString('utf8');
      functions = functions.filter((f) => f.config.FunctionName.localeCompare(after) > 0);
    }
    const page = functions.slice(0, maxItems);
    return {
      status: 200,
      body: {
        Functions: page.map((f) => configuration(f, 'list')),
        NextMarker: functions.length > maxItems ? Buffer.from(page[page.length - 1].config.FunctionName).toString('base64url') : undefined,
      },
    };
  }

  private getFunction(account: LocalAccount, home: FunctionHome, fn: StoredFunction): object {
    const hex = Buffer.from(fn.config.CodeSha256, 'base64').toString('hex');
    const location = presignUrl({
      url: `${this.endpoint}/_localcloud/lambda-code/${fn.config.FunctionName}/${hex}.zip`,
      accessKeyId: account.accessKeyId,
      secretAccessKey: account.secretAccessKey,
      region: home.region,
      service: 'lambda',
      expiresSeconds: 600,
    });
    return {
      Configuration: configuration(fn, 'read'),
      Code: { RepositoryType: 'S3', Location: location },
      Tags: Object.keys(fn.tags).length ? fn.tags : undefined,
    };
  }

  private deleteFunction(home: FunctionHome, name: string, qualifier?: string): Answer {
    if (qualifier === '$LATEST') throw invalidParameter('$LATEST version cannot be deleted without deleting the function.');
    this.find(home, name, qualifier);
    this.store.delete(home, name);
    this.retire(home, name);
    return { status: 204 };
  }

  private updateConfiguration(home: FunctionHome, fn: StoredFunction, body: Record<string, unknown>): Answer {
    check.checkRevision(fn.config.RevisionId, body.RevisionId);
    check.refuseNotEmulated(body);
    const next: FunctionConfig = { ...fn.config };
    if (body.Role !== undefined) next.Role = this.assumableRole(home, body.Role);
    if (body.Runtime !== undefined) next.Runtime = check.checkRuntime(body.Runtime);
    if (body.Handler !== undefined) next.Handler = check.checkHandler(body.Handler);
    if (body.Timeout !== undefined) next.Timeout = check.checkTimeout(body.Timeout);
    if (body.MemorySize !== undefined) next.MemorySize = check.checkMemorySize(body.MemorySize);
    if (body.Description !== undefined) next.Description = check.checkDescription(body.Description);
    if (body.Environment !== undefined) {
      const variables = check.checkVariables(body.Environment);
      next.Environment = Object.keys(variables).length ? { Variables: variables } : undefined;
    }
    if (body.TracingConfig !== undefined) next.TracingConfig = { Mode: check.tracingMode(body.TracingConfig) ?? next.TracingConfig.Mode };
    if (body.EphemeralStorage !== undefined) next.EphemeralStorage = { Size: check.ephemeralStorage(body.EphemeralStorage) ?? 512 };
    if (body.LoggingConfig !== undefined) next.LoggingConfig = { LogFormat: 'Text', LogGroup: check.logGroup(body.LoggingConfig) ?? next.LoggingConfig.LogGroup };
    return this.updated(home, fn, next);
  }

  private updateCode(home: FunctionHome, fn: StoredFunction, body: Record<string, unknown>): Answer {
    check.checkRevision(fn.config.RevisionId, body.RevisionId);
    check.refuseNotEmulated(body);
    if (body.S3Bucket !== undefined || body.S3Key !== undefined) throw invalidParameter('Code from S3 is not emulated by the iasql local cloud (it has no S3); send the zip as ZipFile');
    if (body.ImageUri !== undefined) throw invalidParameter("Please don't provide ImageUri when updating a function with packageType Zip.");
    const zip = checkZip(body.ZipFile);
    const next: FunctionConfig = { ...fn.config, CodeSize: zip.length, CodeSha256: codeSha256(zip) };
    if (body.Architectures !== undefined) next.Architectures = check.checkArchitectures(body.Architectures);
    if (body.DryRun === true) return { status: 200, body: configuration({ ...fn, config: next }, 'read') };
    return this.updated(home, fn, next, zip);
  }

  private updated(home: FunctionHome, fn: StoredFunction, config: FunctionConfig, zip?: Buffer): Answer {
    const updated = { config: { ...config, LastModified: lastModified(), RevisionId: randomUUID() }, tags: fn.tags };
    this.store.put(home, updated, zip);
    // Warm instances run the old code or configuration: the next invocation starts a fresh one.
    this.retire(home, config.FunctionName);
    return { status: 200, body: configuration(updated, 'update') };
  }

  private async invoke(req: IncomingMessage, body: Buffer, home: FunctionHome, fn: StoredFunction, requestId: string): Promise<Answer> {
    const type = header(req, 'x-amz-invocation-type') ?? 'RequestResponse';
    if (!['RequestResponse', 'Event', 'DryRun'].includes(type)) throw validation(type, 'invocationType', 'satisfy enum value set: [Event, RequestResponse, DryRun]');
    const logType = header(req, 'x-amz-log-type') ?? 'None';
    if (logType !== 'None' && logType !== 'Tail') throw validation(logType, 'logType', 'satisfy enum value set: [None, Tail]');
    const limit = type === 'Event' ? ASYNC_PAYLOAD_BYTES : SYNC_PAYLOAD_BYTES;
    if (body.length > limit) throw new LambdaError('RequestTooLargeException', 413, `Request must be smaller than ${limit} bytes for the InvokeFunction operation`);
    const event = body.length ? body.toString('utf8') : '{}';
    try {
      JSON.parse(event);
    } catch (err) {
      throw new LambdaError('InvalidRequestContentException', 400, `Could not parse request body into json: ${(err as Error).message}`);
    }
    const { config } = fn;
    if (!check.INVOKABLE_RUNTIMES.includes(config.Runtime)) {
      throw new LambdaError(
        'InvalidRuntimeException',
        502,
        `The runtime ${config.Runtime} of function ${config.FunctionName} cannot be invoked in the iasql local cloud, which runs Node.js handlers only: ${check.INVOKABLE_RUNTIMES.join(', ')}`,
      );
    }
    // DryRun checks the caller may invoke: with Invoke refused (IASQL_LOCAL_CLOUD_INVOKE), it may not.
    if (type === 'DryRun') {
      if (this.runtime.isolation === 'refused') throw this.runtime.refusal(config.FunctionArn);
      return { status: 204 };
    }
    const run = this.runtime.invoke(home.region, config, () => this.store.zip(home, config.FunctionName), requestId, event, header(req, 'x-amz-client-context'));
    if (type === 'Event') {
      // Accepted at once, run in the background, once (AWS retries failed async invocations twice; the local cloud does not).
      run.then(
        (o) => this.logger.debug({ function: config.FunctionArn, requestId, error: o.functionError }, 'local Lambda event invocation done'),
        (err: Error) => this.logger.warn({ function: config.FunctionArn, requestId, err: err.message }, 'local Lambda event invocation failed'),
      );
      return { status: 202 };
    }
    const outcome = await run;
    let payload = Buffer.from(outcome.payload, 'utf8');
    let functionError = outcome.functionError;
    if (payload.length > SYNC_PAYLOAD_BYTES) {
      functionError = 'Unhandled';
      payload = Buffer.from(
        JSON.stringify({ errorMessage: `Response payload size exceeded maximum allowed payload size (${SYNC_PAYLOAD_BYTES} bytes).`, errorType: 'Function.ResponseSizeTooLarge' }),
      );
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' };
    if (functionError) headers['x-amz-function-error'] = functionError;
    if (logType === 'Tail') {
      const log = Buffer.from(outcome.log, 'utf8');
      headers['x-amz-log-result'] = log.subarray(Math.max(0, log.length - LOG_TAIL_BYTES)).toString('base64');
    }
    return { status: 200, body: payload, headers };
  }

  /** A role Lambda may use: a role ARN, of a role of the same account that exists and trusts lambda.amazonaws.com. */
  private assumableRole(home: FunctionHome, role: unknown): string {
    const arn = check.checkRoleArn(role);
    if (!this.iam.lambdaCanAssume(home.accountId, arn)) throw invalidParameter('The role defined for the function cannot be assumed by Lambda.');
    return arn;
  }

  /**
   * The function changed or is gone: its warm instances end. lambda-runtime.ts keys its pools by
   * FunctionArn and takes the account as a third argument in a change made beside this one; the
   * wider type lets this compile with the runtime before and after it.
   */
  private retire({ accountId, region }: FunctionHome, name: string): void {
    this.runtime.retire(region, name, accountId);
  }

  async removeAccount(accountId: string): Promise<void> {
    for (const { region, name } of this.store.removeAccount(accountId)) this.retire({ accountId, region }, name);
    await this.runtime.removeAccount(accountId);
  }

  async stop(): Promise<void> {
    await this.runtime.stop();
  }
}

/** The configuration as an answer shows it: with the state fields of the moment (see the class comment). */
function configuration(fn: StoredFunction, moment: 'create' | 'update' | 'read' | 'list'): object {
  const states = {
    create: { State: 'Pending', StateReason: 'The function is being created.', StateReasonCode: 'Creating' },
    update: { State: 'Active', LastUpdateStatus: 'InProgress', LastUpdateStatusReason: 'The function is being created.', LastUpdateStatusReasonCode: 'Creating' },
    read: { State: 'Active', LastUpdateStatus: 'Successful' },
    // ListFunctions leaves the state fields out, as AWS does.
    list: {},
  };
  return { ...fn.config, ...states[moment] };
}

const functionArn = ({ accountId, region }: FunctionHome, name: string) => `arn:aws:lambda:${region}:${accountId}:function:${name}`;
/** `2024-05-01T12:34:56.789+0000`, as Lambda writes LastModified. */
const lastModified = () => new Date().toISOString().replace('Z', '+0000');
const header = (req: IncomingMessage, name: string) => (req.headers[name] as string | undefined) || undefined;

function json(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const parsed = JSON.parse(body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed;
  } catch {
    // answered below
  }
  throw new LambdaError('InvalidRequestContentException', 400, 'Could not parse request body into json');
}

function errorBody(type: string, message: string): Pick<Answer, 'body' | 'headers'> {
  return { body: { Type: 'User', message }, headers: { 'x-amzn-errortype': type } };
}

function send(res: ServerResponse, requestId: string, answer: Answer): void {
  const body = answer.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(answer.body) ? answer.body : Buffer.from(JSON.stringify(answer.body));
  res.writeHead(answer.status, {
    'content-type': 'application/json',
    ...answer.headers,
    'content-length': body.length,
    'x-amzn-requestid': requestId,
  });
  res.end(body);
}
