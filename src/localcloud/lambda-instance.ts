import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { boxCommand, type BoxSupport, type Cage } from './lambda-box';
import { checkMessage, MAX_PAYLOAD_BYTES, ProtocolError, readLines, type ChildMessage, type RapidError } from './lambda-ipc';
import type { SandboxUser } from './lambda-sandbox';

/** What one invocation produced, in the shape Invoke answers with. */
export interface InvocationOutcome {
  /** JSON text: the handler's result, or the error payload. */
  payload: string;
  functionError?: 'Unhandled';
  /** START ... END / REPORT lines and everything the function wrote, as CloudWatch would have it. */
  log: string;
}

type Ending = { type: 'exit' | 'timeout' } | { type: 'refused'; reason: string };

export interface InstanceOptions {
  /** The Node.js binary to run (one the instance's user can run). */
  node: string;
  bootstrap: string;
  cwd: string;
  env: Record<string, string>;
  memorySize: number;
  timeoutSeconds: number;
  functionArn: string;
  /**
   * Run as this user and group instead of the engine's. Node (libuv) then also drops every
   * supplementary group (setgroups to none), so nothing of root's groups is left.
   */
  user?: SandboxUser;
  /** Run in the box (lambda-box.ts), as `user`, in `cage`'s cgroups. */
  box?: { support: BoxSupport; cage: Cage };
}

/** What is kept of a chatty invocation's output (LogType Tail shows the last 4 KB). */
const LOG_KEEP_CHARS = 256 * 1024;
/** AWS gives a function's init phase 10 s of its own, outside the function's timeout. */
const INIT_TIMEOUT_MS = 10_000;

/**
 * Variables Node reads as it starts, before the bootstrap could set them: the only ones of the
 * function's environment that pass through the box's launchers (which run as root, and would
 * honour LD_PRELOAD, GCONV_PATH and the like). The rest reach the bootstrap in its init message.
 */
const STARTUP_VARIABLES = /^NODE_/;

/**
 * One warm instance of a function: a child process running lambda-child's bootstrap, which keeps
 * the handler loaded between invocations. It runs one invocation at a time. Its V8 heap is capped
 * from MemorySize as the AWS Node.js runtime caps it (old space 90%, semi space 5%). What the
 * child sends is checked (lambda-ipc.ts): anything unexpected ends the instance.
 */
export class LambdaInstance {
  private readonly child: ChildProcess;
  private readonly channel: Socket;
  /** Resolves when the handler is loaded (undefined) or failed to load (its error). */
  private readonly init: Promise<RapidError | undefined>;
  private initDone!: (e: RapidError | undefined) => void;
  private initMs = 0;
  private initializing = true;
  private cold = true;
  private log = '';
  private stderrTail = '';
  /** The process's resident memory at its last answer (for REPORT's Max Memory Used). */
  private rss = 0;
  private current: { requestId: string; finish: (m: ChildMessage | Ending) => void } | undefined;
  private gone = false;
  /** Killed, or the runtime reported an error that ends it (an uncaught exception): it exits next. */
  private ending = false;
  /** Why the instance was ended for what it sent, if it was. */
  private refusal: string | undefined;
  /** Resolves when the process has exited (or never started). */
  readonly exited: Promise<void>;
  private resolveExited!: () => void;

  constructor(private readonly options: InstanceOptions) {
    const started = performance.now();
    const { memorySize, box, user } = options;
    const nodeArgs = [`--max-old-space-size=${memorySize - Math.floor(memorySize / 10)}`, `--max-semi-space-size=${Math.floor(memorySize / 20)}`, options.bootstrap];
    const command = box && user ? boxCommand(box.support, box.cage, user, memorySize, options.node, nodeArgs) : { file: options.node, args: nodeArgs };
    const startupEnv = Object.fromEntries(Object.entries(options.env).filter(([k]) => STARTUP_VARIABLES.test(k)));
    this.child = spawn(command.file, command.args, {
      cwd: options.cwd,
      env: box ? { ...startupEnv, PATH: '/usr/bin:/bin' } : startupEnv,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // In the box, setpriv switches users after the namespaces are made (which needs root).
      uid: box ? undefined : user?.uid,
      gid: box ? undefined : user?.gid,
    });
    this.channel = this.child.stdio[3] as Socket;
    // Output that bypasses the patched streams (native code, child processes of the function).
    this.child.stdout!.on('data', (d: Buffer) => this.append(d.toString('utf8')));
    this.child.stderr!.on('data', (d: Buffer) => {
      this.append(d.toString('utf8'));
      this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-2000);
    });
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
      this.child.once('exit', () => resolve());
    });
    this.init = new Promise((resolve) => (this.initDone = resolve));
    const initTimer = setTimeout(() => {
      this.initDone({ errorType: 'Sandbox.Timedout', errorMessage: `Init timed out after ${(INIT_TIMEOUT_MS / 1000).toFixed(2)} seconds` });
      this.kill();
    }, INIT_TIMEOUT_MS);
    readLines(
      this.channel,
      (value) => {
        try {
          this.receive(checkMessage(value, this.initializing ? 'init' : this.current ? 'invoke' : 'idle', this.current?.requestId), () => {
            clearTimeout(initTimer);
            this.initMs = performance.now() - started;
          });
        } catch (err) {
          this.refuse(err instanceof ProtocolError ? err.message : `a message the local cloud could not handle (${(err as Error).message})`);
        }
      },
      (err) => this.refuse(err.message),
    );
    // A closed channel (the child is gone) or one written to after it went: the exit says why.
    this.channel.on('error', () => undefined);
    this.child.stdin?.on('error', () => undefined);
    this.send({ type: 'init', env: options.env });
    this.child.once('exit', () => {
      this.gone = true;
      clearTimeout(initTimer);
      this.initDone(this.refusal ? this.refusedError() : { errorType: 'Runtime.ExitError', errorMessage: this.exitMessage() });
      this.current?.finish(this.refusal ? { type: 'refused', reason: this.refusal } : { type: 'exit' });
    });
    this.child.on('error', (err) => {
      // A child that never started (exec refused: EACCES, ENOENT) gets no 'exit': end it here.
      if (this.child.pid !== undefined || this.gone) return;
      this.gone = true;
      this.stderrTail = `could not start the runtime: ${err.message}`;
      this.append(`${this.stderrTail}\n`);
      clearTimeout(initTimer);
      this.initDone({ errorType: 'Runtime.ExitError', errorMessage: this.stderrTail });
      this.resolveExited();
    }); // otherwise reported through 'exit'
  }

  private receive(m: ChildMessage, initialized: () => void): void {
    if (m.type === 'log') return this.append(m.text);
    if (m.type === 'ready' || m.type === 'initError') {
      initialized();
      this.initializing = false;
      this.initDone(m.type === 'ready' ? undefined : m.error);
      return;
    }
    if (m.type === 'error' && m.fatal) this.ending = true;
    this.current!.finish(m);
  }

  /** The child sent what it must not: it ends now, and the caller is told why. */
  private refuse(reason: string): void {
    if (this.refusal) return;
    this.refusal = reason;
    void this.kill();
  }

  private refusedError(): RapidError {
    return { errorType: 'Runtime.ExitError', errorMessage: `the runtime sent the local cloud ${this.refusal}: the instance was ended` };
  }

  private send(message: object, onFailure?: () => void): void {
    try {
      this.channel.write(`${JSON.stringify(message)}\n`, (err) => err && onFailure?.());
    } catch {
      onFailure?.();
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether it can take another invocation. */
  get alive(): boolean {
    return !this.gone && !this.ending;
  }

  /** Runs one invocation. After an error that ends the runtime (timeout, crash, init failure) the instance is dead. */
  async invoke(requestId: string, event: string, clientContext?: string): Promise<InvocationOutcome> {
    const initError = await this.init;
    const { timeoutSeconds } = this.options;
    const initLog = this.log;
    this.log = '';
    if (initError) {
      this.kill();
      const status = `\tStatus: error\tError Type: ${initError.errorType}`;
      const initReport = `INIT_REPORT Init Duration: ${this.initMs.toFixed(2)} ms\tPhase: init${status}\n`;
      return { payload: JSON.stringify(initError), functionError: 'Unhandled', log: this.invocationLog(requestId, `${initLog}${initReport}`, 0, status) };
    }
    const started = performance.now();
    const outcome = await new Promise<ChildMessage | Ending>((resolve) => {
      const timer = setTimeout(() => resolve({ type: 'timeout' }), timeoutSeconds * 1000);
      this.current = {
        requestId,
        finish: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      if (this.gone) return this.current.finish(this.refusal ? { type: 'refused', reason: this.refusal } : { type: 'exit' });
      const message = { type: 'invoke', requestId, event, deadline: Date.now() + timeoutSeconds * 1000, functionArn: this.options.functionArn, clientContext };
      this.send(message, () => this.current?.finish({ type: 'exit' }));
    });
    this.current = undefined;
    let payload: string;
    let functionError: 'Unhandled' | undefined;
    let status = '';
    if (outcome.type === 'result' && Buffer.byteLength(outcome.payload, 'utf8') > MAX_PAYLOAD_BYTES) {
      // As Lambda answers it; the instance that sent it goes (it had the engine hold the bytes).
      void this.kill();
      payload = JSON.stringify({ errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_PAYLOAD_BYTES} bytes).`, errorType: 'Function.ResponseSizeTooLarge' });
      functionError = 'Unhandled';
      status = '\tStatus: error\tError Type: Function.ResponseSizeTooLarge';
    } else if (outcome.type === 'result') {
      payload = outcome.payload;
      this.rss = Math.max(this.rss, outcome.rss);
    } else if (outcome.type === 'error') {
      payload = JSON.stringify(outcome.error);
      functionError = 'Unhandled';
      this.rss = Math.max(this.rss, outcome.rss);
    } else if (outcome.type === 'timeout') {
      this.kill();
      const message = `Task timed out after ${timeoutSeconds.toFixed(2)} seconds`;
      this.log += `${new Date().toISOString()} ${requestId} ${message}\n`;
      payload = JSON.stringify({ errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${requestId} Error: ${message}` });
      functionError = 'Unhandled';
      status = '\tStatus: timeout';
    } else if (outcome.type === 'refused') {
      await this.exited;
      payload = JSON.stringify({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${requestId} Error: ${this.refusedError().errorMessage}` });
      functionError = 'Unhandled';
      status = '\tStatus: error\tError Type: Runtime.ExitError';
    } else {
      // The runtime exited during the invocation (process.exit, a crash, out of memory: V8's heap
      // limit, or the kernel's memory cgroup, which kills with SIGKILL).
      await this.exited;
      const oom = /heap out of memory/i.test(this.stderrTail) || this.options.box?.cage.oomKilled() === true;
      const errorType = oom ? 'Runtime.OutOfMemory' : 'Runtime.ExitError';
      payload = JSON.stringify({ errorType, errorMessage: `RequestId: ${requestId} Error: ${this.exitMessage()}` });
      functionError = 'Unhandled';
      status = `\tStatus: error\tError Type: ${errorType}`;
    }
    return { payload, functionError, log: this.invocationLog(requestId, initLog, performance.now() - started, status) };
  }

  /** START, what the function wrote, END and REPORT, as CloudWatch has an invocation. */
  private invocationLog(requestId: string, before: string, duration: number, status: string): string {
    const report =
      `REPORT RequestId: ${requestId}\tDuration: ${duration.toFixed(2)} ms\tBilled Duration: ${Math.max(1, Math.ceil(duration))} ms\t` +
      `Memory Size: ${this.options.memorySize} MB\tMax Memory Used: ${Math.ceil(this.rss / 1048576)} MB\t` +
      (this.cold ? `Init Duration: ${this.initMs.toFixed(2)} ms\t` : '') +
      `${status}\n`;
    this.cold = false;
    const log = `${before}START RequestId: ${requestId} Version: $LATEST\n${this.log}END RequestId: ${requestId}\n${report}`;
    this.log = '';
    return log;
  }

  private append(text: string): void {
    this.log += text;
    if (this.log.length > 2 * LOG_KEEP_CHARS) this.log = this.log.slice(-LOG_KEEP_CHARS);
  }

  /** As AWS words it (the Go names of signals: `signal: killed`, `signal: aborted`). */
  private exitMessage(): string {
    const signal = this.deathSignal();
    const names: Record<string, string> = { SIGKILL: 'killed', SIGABRT: 'aborted', SIGSEGV: 'segmentation fault', SIGTERM: 'terminated', SIGINT: 'interrupt' };
    if (signal) return `Runtime exited with error: signal: ${names[signal] ?? signal}`;
    return `Runtime exited with error: exit status ${this.child.exitCode ?? -1}`;
  }

  /**
   * The signal that ended the runtime. In the box the engine's child is unshare, which passes on
   * an exit status but not its child's signal (util-linux 2.38 exits 1 for a SIGKILL): the
   * cgroup's OOM counter and V8's own message say what happened to the runtime.
   */
  private deathSignal(): string | undefined {
    if (this.child.signalCode || !this.options.box) return this.child.signalCode ?? undefined;
    if (this.options.box.cage.oomKilled()) return 'SIGKILL';
    if (/heap out of memory/i.test(this.stderrTail)) return 'SIGABRT';
    return undefined;
  }

  /**
   * Ends the process at once (SIGKILL, as AWS ends a sandbox) and resolves when it is gone. In the
   * box, killing the launcher kills the namespace's init (its parent-death signal), and with it
   * the kernel kills everything in the namespace; what the cgroup holds is killed too, at once.
   */
  kill(): Promise<void> {
    this.ending = true;
    if (!this.gone && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(constants.signals.SIGKILL);
      for (const pid of this.options.box?.cage.pids() ?? []) {
        try {
          process.kill(pid, constants.signals.SIGKILL);
        } catch {
          // gone already
        }
      }
    }
    return this.exited;
  }
}
