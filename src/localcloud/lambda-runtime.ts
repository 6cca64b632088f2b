import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { processExists } from './files';
import { BoxCgroups, detectBox, killUser, sweepAbandoned, type BoxSupport, type LimitsKind } from './lambda-box';
import { extractZip } from './lambda-code';
import { LambdaInstance, type InvocationOutcome } from './lambda-instance';
import {
  accountDirs,
  accountOf,
  accountUser,
  invokeIsolation,
  invokeRefused,
  mayRunAsOtherUsers,
  lockCodeTree,
  notRunnableByOthers,
  removeTree,
  type InvokeIsolation,
  type InvokeSetting,
  type SandboxUser,
} from './lambda-sandbox';
import type { FunctionConfig } from './lambda-store';
import { LambdaError } from './lambda-validate';

/** Instances one function may have at once; further invocations wait for one to be free. */
const MAX_INSTANCES_PER_FUNCTION = 10;
/** A warm instance nobody invoked for this long is ended (AWS keeps them for minutes too). */
const IDLE_MS = 15 * 60 * 1000;

export interface RuntimeOptions {
  /**
   * IASQL_LOCAL_CLOUD_INVOKE, default `trusted`: when the engine cannot switch users, run handlers
   * as its own user (`trusted`) or refuse Invoke (`refused`). Ignored when it can: handlers then
   * always run sandboxed, as one unprivileged user per account.
   */
  invoke?: InvokeSetting;
  /**
   * Test seam, default: whether this process is root. `false` lets a test running as root take
   * the paths of an engine that is not (trusted or refused); nothing else should set it.
   */
  canSwitchUsers?: boolean;
  /**
   * Test seam, default: what the host has (detectBox). `rlimit` makes a root engine on a host
   * with writable cgroups take the path of one without; nothing else should set it.
   */
  limits?: LimitsKind;
  /** Test seam, default process.execPath: the Node.js handlers run on (made runnable for them: runnableNode). */
  node?: string;
}

interface Pool {
  /** The configuration the instances run; a different RevisionId retires them. */
  revisionId: string;
  idle: LambdaInstance[];
  all: Set<LambdaInstance>;
  /** Instances whose code is being unpacked. */
  starting: number;
  waiting: Array<() => void>;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Runs invocations in warm child processes, one pool of instances per function (by FunctionArn:
 * account, region and name). An instance stays loaded between invocations and is replaced when
 * the function's code or configuration changes (its RevisionId), as AWS replaces execution
 * environments. Each child starts from a clean environment: the function's variables and the ones
 * Lambda sets, nothing from the engine.
 *
 * Every tenant is assumed hostile. When the engine is root, each child runs as its account's own
 * unprivileged user (lambda-sandbox.ts) with no supplementary groups: it reads its own code and
 * writes its own TMPDIR, and cannot read the engine's files, environment or processes, nor
 * another account's. When the engine is not root it cannot switch users: `invoke` then decides
 * between running handlers as the engine's user and refusing.
 */
export class LambdaRuntime {
  /** By FunctionArn. */
  private readonly pools = new Map<string, Pool>();
  /** Every running instance, also retired ones still finishing an invocation: stop() ends them all. */
  private readonly instances = new Set<LambdaInstance>();
  /** Unpacked code per function and CodeSha256, shared by that function's instances. */
  private readonly code = new Map<string, Promise<string>>();
  private bootstrapFile: string | undefined;
  private nodeFile: string | undefined;
  private readonly nodeOption: string;
  private stopped = false;

  private workDirPath: string | undefined;
  readonly isolation: InvokeIsolation;
  /** In force when `sandboxed`: how the box is built and limited here. */
  readonly box: BoxSupport | undefined;
  private readonly cgroups: BoxCgroups | undefined;
  /** Root, but the box cannot be built here: why. */
  private readonly boxUnavailable: string | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly endpoint: () => string,
    options: RuntimeOptions = {},
  ) {
    this.nodeOption = options.node ?? process.execPath;
    const canSwitchUsers = options.canSwitchUsers ?? mayRunAsOtherUsers();
    const support = canSwitchUsers ? detectBox() : undefined;
    this.isolation = invokeIsolation(options.invoke, canSwitchUsers, canSwitchUsers && !support?.unavailable);
    this.boxUnavailable = support?.unavailable;
    if (this.isolation === 'sandboxed') {
      this.box = { ...support!, limits: options.limits ?? support!.limits };
      this.cgroups = new BoxCgroups(this.box.limits);
    }
    if (this.sandboxed) this.sweep();
  }

  /** Handlers run as their accounts' users (in the box or, where the operator trusts them, not). */
  private get sandboxed(): boolean {
    return this.isolation === 'sandboxed' || this.isolation === 'unboxed';
  }

  /**
   * Unpacked code, the instances' TMPDIRs and the bootstrap, made on the first instance start and
   * removed on stop. Its name carries this process's id: directories left by an engine that was
   * killed (stop never ran) are removed by the next one. Sandboxed, handlers may pass through it
   * (0711: enter, not list) to their own code and TMPDIR, each locked to its account.
   */
  private get workDir(): string {
    if (!this.workDirPath) {
      removeAbandonedWorkDirs(this.sandboxed);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${WORK_DIR_PREFIX}${process.pid}-`));
      if (this.sandboxed) fs.chmodSync(dir, 0o711);
      this.workDirPath = dir;
    }
    return this.workDirPath;
  }

  /** The Node.js the instances run: the engine's own, or (sandboxed) a copy its users can run. */
  private get node(): string {
    return (this.nodeFile ??= this.sandboxed ? runnableNode(this.nodeOption, this.workDir, this.logger) : this.nodeOption);
  }

  /** Copied (or, from the TypeScript sources, compiled) into the work directory on the first instance start. */
  private get bootstrap(): string {
    return (this.bootstrapFile ??= bootstrapScript(this.workDir));
  }

  /**
   * Runs one invocation. Refusal (IASQL_LOCAL_CLOUD_INVOKE=refused) is thrown at once, not as a
   * rejected promise, so that Invoke answers it also to an `Event` invocation instead of a 202.
   */
  invoke(region: string, config: FunctionConfig, zip: () => Buffer, requestId: string, event: string, clientContext?: string): Promise<InvocationOutcome> {
    if (this.isolation === 'refused') throw this.refusal(config.FunctionArn);
    return this.run(region, config, zip, requestId, event, clientContext);
  }

  /** Why Invoke is refused here (IASQL_LOCAL_CLOUD_INVOKE=refused), as the caller reads it. */
  refusal(functionArn: string): LambdaError {
    return invokeRefused(functionArn, this.boxUnavailable);
  }

  private async run(region: string, config: FunctionConfig, zip: () => Buffer, requestId: string, event: string, clientContext?: string): Promise<InvocationOutcome> {
    const instance = await this.acquire(region, config, zip);
    try {
      return await instance.invoke(requestId, event, clientContext);
    } finally {
      this.release(config.FunctionArn, instance);
    }
  }

  /**
   * The function changed or was deleted: idle instances end now, busy ones after their
   * invocation. With `accountId`, that account's function only; without, the function of that
   * name and region in every account.
   */
  retire(region: string, name: string, accountId?: string): void {
    for (const [arn, pool] of this.pools) {
      const [, , , poolRegion, poolAccount, , poolName] = arn.split(':');
      if (poolRegion !== region || poolName !== name || (accountId !== undefined && poolAccount !== accountId)) continue;
      this.pools.delete(arn);
      clearTimeout(pool.idleTimer);
      for (const instance of pool.idle.splice(0)) void instance.kill();
      for (const wake of pool.waiting.splice(0)) wake();
    }
  }

  private async acquire(region: string, config: FunctionConfig, zip: () => Buffer): Promise<LambdaInstance> {
    for (;;) {
      if (this.stopped) throw new Error('the local cloud is stopping');
      const key = config.FunctionArn;
      let pool = this.pools.get(key);
      if (pool && pool.revisionId !== config.RevisionId) {
        this.retire(region, config.FunctionName, accountOf(config.FunctionArn));
        pool = undefined;
      }
      if (!pool) this.pools.set(key, (pool = { revisionId: config.RevisionId, idle: [], all: new Set(), starting: 0, waiting: [] }));
      clearTimeout(pool.idleTimer);
      for (let instance = pool.idle.pop(); instance; instance = pool.idle.pop()) {
        if (instance.alive) return instance;
      }
      if (pool.all.size + pool.starting < MAX_INSTANCES_PER_FUNCTION) return this.start(pool, region, config, zip);
      // All instances busy: wait for one to come free (or die, or the function to change), then look again.
      await new Promise<void>((wake) => pool.waiting.push(wake));
    }
  }

  private async start(pool: Pool, region: string, config: FunctionConfig, zip: () => Buffer): Promise<LambdaInstance> {
    pool.starting++;
    let cwd: string;
    try {
      cwd = await this.unpacked(region, config, zip);
    } catch (err) {
      pool.waiting.shift()?.();
      throw err;
    } finally {
      pool.starting--;
    }
    if (this.stopped) throw new Error('the local cloud is stopping');
    const user = this.userOf(config);
    // The instance's TMPDIR (and HOME): 0700, its user's own.
    const tmp = fs.mkdtempSync(path.join(this.workDir, 'tmp-'));
    if (user) fs.chownSync(tmp, user.uid, user.gid);
    let instance: LambdaInstance;
    let cage: ReturnType<BoxCgroups['cage']> | undefined;
    try {
      cage = this.cgroups?.cage(accountOf(config.FunctionArn), config.MemorySize);
      instance = new LambdaInstance({
        node: this.node,
        bootstrap: this.bootstrap,
        cwd,
        env: this.environment(region, config, cwd, tmp),
        memorySize: config.MemorySize,
        timeoutSeconds: config.Timeout,
        functionArn: config.FunctionArn,
        user,
        box: this.box && cage ? { support: this.box, cage } : undefined,
      });
    } catch (err) {
      void cage?.remove();
      // spawn refused the user outright (EINVAL: e.g. a container whose user namespace maps few ids).
      fs.rmSync(tmp, { recursive: true, force: true });
      pool.waiting.shift()?.();
      const as = user ? ` as uid ${user.uid}` : '';
      this.logger.error({ function: config.FunctionArn, err: (err as Error).message }, 'local Lambda instance could not start');
      throw new LambdaError('ServiceException', 500, `the local cloud could not start a Lambda instance${as}: ${(err as Error).message}`);
    }
    pool.all.add(instance);
    this.instances.add(instance);
    instance.exited.then(() => {
      this.instances.delete(instance);
      pool.all.delete(instance);
      pool.idle = pool.idle.filter((i) => i !== instance);
      removeWorkFiles(tmp, this.sandboxed).catch((err: Error) => this.logger.debug({ tmp, err: err.message }, 'local Lambda TMPDIR not removed'));
      cage?.remove().catch((err: Error) => this.logger.debug({ err: err.message }, 'local Lambda cgroup not removed'));
      pool.waiting.shift()?.();
    });
    this.logger.debug({ function: config.FunctionArn, pid: instance.pid }, 'local Lambda instance started');
    return instance;
  }

  private release(key: string, instance: LambdaInstance): void {
    const pool = this.pools.get(key);
    // Retired (the function changed) or its runtime ended (timeout, crash): this instance is done.
    if (!pool || !pool.all.has(instance) || !instance.alive) {
      void instance.kill();
      return;
    }
    pool.idle.push(instance);
    pool.waiting.shift()?.();
    clearTimeout(pool.idleTimer);
    pool.idleTimer = setTimeout(() => {
      for (const i of pool.idle.splice(0)) void i.kill();
    }, IDLE_MS).unref();
  }

  /** The user the function's handlers run as: its account's, or (not sandboxed) the engine's own. */
  private userOf(config: FunctionConfig): SandboxUser | undefined {
    return this.sandboxed ? accountUser(accountOf(config.FunctionArn)) : undefined;
  }

  /** `code/<account>/<region>/<name>/<sha>`: sandboxed, `code/<account>` admits that account only. */
  private unpacked(region: string, config: FunctionConfig, zip: () => Buffer): Promise<string> {
    const hex = Buffer.from(config.CodeSha256, 'base64').toString('hex');
    const key = `${config.FunctionArn}/${hex}`;
    let dir = this.code.get(key);
    if (!dir) {
      const parts = [accountOf(config.FunctionArn), region, config.FunctionName];
      const user = this.userOf(config);
      const code = path.join(this.workDir, 'code');
      fs.mkdirSync(code, { recursive: true, mode: this.sandboxed ? 0o711 : 0o700 });
      const parent = user ? accountDirs(code, parts, user) : path.join(code, ...parts);
      const target = path.join(parent, hex);
      dir = extractZip(zip(), target).then(() => {
        if (user) lockCodeTree(target, user);
        return target;
      });
      this.code.set(key, dir);
      dir.catch(() => this.code.delete(key));
    }
    return dir;
  }

  private environment(region: string, config: FunctionConfig, taskRoot: string, tmp: string): Record<string, string> {
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    return {
      PATH: `${path.dirname(this.node)}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      TMPDIR: tmp,
      // Sandbox users have no passwd entry, so os.homedir() (the AWS SDK's ~/.aws) needs one.
      HOME: tmp,
      // An AWS SDK inside the function talks to this local cloud, with a made-up key. Only
      // outside the box: in it there is no network to reach the local cloud over.
      ...(this.box ? {} : { AWS_ENDPOINT_URL: this.endpoint() }),
      ...config.Environment?.Variables,
      _HANDLER: config.Handler,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_EXECUTION_ENV: `AWS_Lambda_${config.Runtime}`,
      AWS_LAMBDA_FUNCTION_NAME: config.FunctionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(config.MemorySize),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_GROUP_NAME: config.LoggingConfig.LogGroup,
      AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
      AWS_ACCESS_KEY_ID: 'ASIALOCALCLOUDLAMBDA',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SESSION_TOKEN: 'local',
      LAMBDA_TASK_ROOT: taskRoot,
      LAMBDA_RUNTIME_DIR: path.dirname(this.bootstrap),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const pool of this.pools.values()) {
      clearTimeout(pool.idleTimer);
      for (const wake of pool.waiting.splice(0)) wake(); // they see `stopped` and give up
    }
    this.pools.clear();
    await Promise.all([...this.instances].map((i) => i.kill()));
    await this.cgroups?.removeAll();
    if (this.workDirPath) await removeWorkFiles(this.workDirPath, this.sandboxed);
  }

  /**
   * The account is gone: every instance of it ends now, busy or not, then every process left of
   * its user (sandboxed, no other account shares it), and its cgroups.
   */
  async removeAccount(accountId: string): Promise<void> {
    const ending: Array<Promise<void>> = [];
    for (const [arn, pool] of this.pools) {
      if (accountOf(arn) !== accountId) continue;
      this.pools.delete(arn);
      clearTimeout(pool.idleTimer);
      for (const instance of pool.all) ending.push(instance.kill());
      for (const wake of pool.waiting.splice(0)) wake();
    }
    await Promise.all(ending);
    if (this.sandboxed) {
      const killed = killUser(accountUser(accountId).uid);
      if (killed) this.logger.info({ accountId, killed }, "local Lambda: processes of a removed account's user killed");
    }
    await this.cgroups?.removeAccount(accountId);
  }

  /** What a killed engine left: its cgroups and the processes of sandbox users no engine holds. */
  private sweep(): void {
    sweepAbandoned().then(
      (left) => (left.cgroups || left.processes) && this.logger.info(left, 'local Lambda: cgroups and processes left by an earlier engine removed'),
      (err: Error) => this.logger.warn({ err: err.message }, 'local Lambda: what an earlier engine left could not all be removed'),
    );
  }
}

const WORK_DIR_PREFIX = 'iasql-lambda-';

/** Sandboxed, the work directory holds what handlers wrote as their own users: see removeTree. */
async function removeWorkFiles(dir: string, sandboxed: boolean): Promise<void> {
  if (sandboxed) await removeTree(dir);
  else fs.rmSync(dir, { recursive: true, force: true });
}

function removeAbandonedWorkDirs(sandboxed: boolean): void {
  for (const entry of fs.readdirSync(os.tmpdir())) {
    const pid = Number(new RegExp(`^${WORK_DIR_PREFIX}(\\d+)-`).exec(entry)?.[1]);
    if (!pid || pid === process.pid || processExists(pid)) continue;
    removeWorkFiles(path.join(os.tmpdir(), entry), sandboxed).catch(() => {}); // another user's, say: not ours to remove
  }
}

/**
 * The bootstrap the children run, in `<work dir>/runtime/` (LAMBDA_RUNTIME_DIR), readable by
 * every sandbox user wherever the engine is installed (under /root, say): a copy of
 * lambda-child.js next to this file once compiled. Run from the TypeScript sources (ts-jest), this
 * file's folder has only lambda-child.ts: it is transpiled with the TypeScript compiler the
 * sources are run with.
 */
function bootstrapScript(workDir: string): string {
  const compiled = path.join(__dirname, 'lambda-child.js');
  let output: string;
  if (fs.existsSync(compiled)) {
    output = fs.readFileSync(compiled, 'utf8');
  } else {
    const ts = createRequire(__filename)('typescript') as typeof import('typescript');
    const source = fs.readFileSync(path.join(__dirname, 'lambda-child.ts'), 'utf8');
    output = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  }
  const dir = path.join(workDir, 'runtime');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'lambda-child.js');
  fs.writeFileSync(file, output);
  fs.chmodSync(file, 0o644); // whatever the engine's umask
  return file;
}

/**
 * A Node.js the sandbox users can run: `node` itself when they can reach it, otherwise a copy in
 * `<work dir>/node/` (root-owned, 0755 in a 0711 directory). Node installed under /root (mode
 * 0700: nvm, or the README's `npm install --prefix ~/.iasql-node node@24` done as root) is out of
 * their reach, and every Invoke used to fail saying so. A hard link when the binary's own mode lets
 * others run it and it is on the same file system (no copy of ~120 MB), a copy otherwise.
 */
export function runnableNode(node: string, workDir: string, logger: Logger): string {
  const problem = notRunnableByOthers(node);
  if (!problem) return node;
  const dir = path.join(workDir, 'node');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const target = path.join(dir, 'node');
  let how = 'linked';
  try {
    if ((fs.statSync(node).mode & 0o005) !== 0o005) throw new Error('not runnable by others: copy it');
    fs.linkSync(node, target);
  } catch {
    how = 'copied';
    fs.copyFileSync(node, target);
    fs.chmodSync(target, 0o755);
  }
  logger.info({ node, runs: target, why: problem }, `Lambda handlers run a Node.js the sandbox users can reach (${how} from the engine's)`);
  return target;
}
