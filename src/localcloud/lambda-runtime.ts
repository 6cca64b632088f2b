import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { extractZip } from './lambda-code';
import { LambdaInstance, type InvocationOutcome } from './lambda-instance';
import type { FunctionConfig } from './lambda-store';

/** Instances one function may have at once; further invocations wait for one to be free. */
const MAX_INSTANCES_PER_FUNCTION = 10;
/** A warm instance nobody invoked for this long is ended (AWS keeps them for minutes too). */
const IDLE_MS = 15 * 60 * 1000;

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
 * Runs invocations in warm child processes, one pool of instances per function. An instance
 * stays loaded between invocations and is replaced when the function's code or configuration
 * changes (its RevisionId), as AWS replaces execution environments. Each child starts from a clean
 * environment: the function's variables and the ones Lambda sets, nothing from the engine.
 */
export class LambdaRuntime {
  private readonly pools = new Map<string, Pool>();
  /** Every running instance, also retired ones still finishing an invocation: stop() ends them all. */
  private readonly instances = new Set<LambdaInstance>();
  /** Unpacked code per function and CodeSha256, shared by that function's instances. */
  private readonly code = new Map<string, Promise<string>>();
  private bootstrapFile: string | undefined;
  private stopped = false;

  private workDirPath: string | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly endpoint: () => string,
  ) {}

  /**
   * Unpacked code, the instances' TMPDIRs and the bootstrap, made on the first instance start and
   * removed on stop. Its name carries this process's id: directories left by an engine that was
   * killed (stop never ran) are removed by the next one.
   */
  private get workDir(): string {
    if (!this.workDirPath) {
      removeAbandonedWorkDirs();
      this.workDirPath = fs.mkdtempSync(path.join(os.tmpdir(), `${WORK_DIR_PREFIX}${process.pid}-`));
    }
    return this.workDirPath;
  }

  /** Found (or, from the TypeScript sources, compiled) on the first instance start. */
  private get bootstrap(): string {
    return (this.bootstrapFile ??= bootstrapScript(this.workDir));
  }

  async invoke(region: string, config: FunctionConfig, zip: () => Buffer, requestId: string, event: string, clientContext?: string): Promise<InvocationOutcome> {
    const instance = await this.acquire(region, config, zip);
    try {
      return await instance.invoke(requestId, event, clientContext);
    } finally {
      this.release(`${region}/${config.FunctionName}`, instance);
    }
  }

  /** The function changed or was deleted: idle instances end now, busy ones after their invocation. */
  retire(region: string, name: string): void {
    const key = `${region}/${name}`;
    const pool = this.pools.get(key);
    if (!pool) return;
    this.pools.delete(key);
    clearTimeout(pool.idleTimer);
    for (const instance of pool.idle.splice(0)) void instance.kill();
    for (const wake of pool.waiting.splice(0)) wake();
  }

  private async acquire(region: string, config: FunctionConfig, zip: () => Buffer): Promise<LambdaInstance> {
    for (;;) {
      if (this.stopped) throw new Error('the local cloud is stopping');
      const key = `${region}/${config.FunctionName}`;
      let pool = this.pools.get(key);
      if (pool && pool.revisionId !== config.RevisionId) {
        this.retire(region, config.FunctionName);
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
    const tmp = fs.mkdtempSync(path.join(this.workDir, 'tmp-'));
    const instance = new LambdaInstance({
      bootstrap: this.bootstrap,
      cwd,
      env: this.environment(region, config, cwd, tmp),
      memorySize: config.MemorySize,
      timeoutSeconds: config.Timeout,
      functionArn: config.FunctionArn,
    });
    pool.all.add(instance);
    this.instances.add(instance);
    instance.exited.then(() => {
      this.instances.delete(instance);
      pool.all.delete(instance);
      pool.idle = pool.idle.filter((i) => i !== instance);
      fs.rmSync(tmp, { recursive: true, force: true });
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

  private unpacked(region: string, config: FunctionConfig, zip: () => Buffer): Promise<string> {
    const hex = Buffer.from(config.CodeSha256, 'base64').toString('hex');
    const key = `${region}/${config.FunctionName}/${hex}`;
    let dir = this.code.get(key);
    if (!dir) {
      const target = path.join(this.workDir, 'code', region, config.FunctionName, hex);
      dir = extractZip(zip(), target).then(() => target);
      this.code.set(key, dir);
      dir.catch(() => this.code.delete(key));
    }
    return dir;
  }

  private environment(region: string, config: FunctionConfig, taskRoot: string, tmp: string): Record<string, string> {
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    return {
      PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      TMPDIR: tmp,
      // An AWS SDK inside the function talks to this local cloud, with a made-up key.
      AWS_ENDPOINT_URL: this.endpoint(),
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
    if (this.workDirPath) fs.rmSync(this.workDirPath, { recursive: true, force: true });
  }
}

const WORK_DIR_PREFIX = 'iasql-lambda-';

function removeAbandonedWorkDirs(): void {
  for (const entry of fs.readdirSync(os.tmpdir())) {
    const pid = Number(new RegExp(`^${WORK_DIR_PREFIX}(\\d+)-`).exec(entry)?.[1]);
    if (!pid || pid === process.pid || processExists(pid)) continue;
    fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The bootstrap the children run: lambda-child.js next to this file once compiled. Run from the
 * TypeScript sources (ts-jest), this file's folder has only lambda-child.ts: it is transpiled once
 * into the work directory with the TypeScript compiler the sources are run with.
 */
function bootstrapScript(workDir: string): string {
  const compiled = path.join(__dirname, 'lambda-child.js');
  if (fs.existsSync(compiled)) return compiled;
  const ts = createRequire(__filename)('typescript') as typeof import('typescript');
  const source = fs.readFileSync(path.join(__dirname, 'lambda-child.ts'), 'utf8');
  const output = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = path.join(workDir, 'lambda-child.js');
  fs.writeFileSync(file, output);
  return file;
}
