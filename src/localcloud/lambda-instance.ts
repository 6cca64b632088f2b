import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { SandboxUser } from './lambda-sandbox';

/** What one invocation produced, in the shape Invoke answers with. */
export interface InvocationOutcome {
  /** JSON text: the handler's result, or the error payload. */
  payload: string;
  functionError?: 'Unhandled';
  /** START ... END / REPORT lines and everything the function wrote, as CloudWatch would have it. */
  log: string;
}

interface RapidError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

type ChildMessage =
  | { type: 'ready' }
  | { type: 'initError'; error: RapidError }
  | { type: 'log'; text: string }
  | { type: 'result'; requestId: string; payload: string; rss: number }
  | { type: 'error'; requestId: string; error: RapidError; rss: number; fatal?: boolean };

export interface InstanceOptions {
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
}

/** What is kept of a chatty invocation's output (LogType Tail shows the last 4 KB). */
const LOG_KEEP_CHARS = 256 * 1024;
/** AWS gives a function's init phase 10 s of its own, outside the function's timeout. */
const INIT_TIMEOUT_MS = 10_000;

/**
 * One warm instance of a function: a child process running lambda-child's bootstrap, which keeps
 * the handler loaded between invocations. It runs one invocation at a time. Its V8 heap is capped
 * from MemorySize as the AWS Node.js runtime caps it (old space 90%, semi space 5%).
 */
export class LambdaInstance {
  private readonly child: ChildProcess;
  /** Resolves when the handler is loaded (undefined) or failed to load (its error). */
  private readonly init: Promise<RapidError | undefined>;
  private initMs = 0;
  private cold = true;
  private log = '';
  private stderrTail = '';
  /** The process's resident memory at its last answer (for REPORT's Max Memory Used). */
  private rss = 0;
  private current: { requestId: string; finish: (m: ChildMessage | { type: 'exit' | 'timeout' }) => void } | undefined;
  private gone = false;
  /** Killed, or the runtime reported an error that ends it (an uncaught exception): it exits next. */
  private ending = false;
  /** Resolves when the process has exited (or never started). */
  readonly exited: Promise<void>;
  private resolveExited!: () => void;

  constructor(private readonly options: InstanceOptions) {
    const started = performance.now();
    const { memorySize } = options;
    this.child = spawn(
      process.execPath,
      [`--max-old-space-size=${memorySize - Math.floor(memorySize / 10)}`, `--max-semi-space-size=${Math.floor(memorySize / 20)}`, options.bootstrap],
      { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], uid: options.user?.uid, gid: options.user?.gid },
    );
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
    let initDone: (e: RapidError | undefined) => void;
    this.init = new Promise((resolve) => (initDone = resolve));
    const initTimer = setTimeout(() => {
      initDone({ errorType: 'Sandbox.Timedout', errorMessage: `Init timed out after ${(INIT_TIMEOUT_MS / 1000).toFixed(2)} seconds` });
      this.kill();
    }, INIT_TIMEOUT_MS);
    this.child.on('message', (m: ChildMessage) => {
      if (m.type === 'log') this.append(m.text);
      else if (m.type === 'ready' || m.type === 'initError') {
        clearTimeout(initTimer);
        this.initMs = performance.now() - started;
        initDone(m.type === 'ready' ? undefined : m.error);
      } else if (this.current && m.requestId === this.current.requestId) {
        if (m.type === 'error' && m.fatal) this.ending = true;
        this.current.finish(m);
      }
    });
    this.child.once('exit', () => {
      this.gone = true;
      clearTimeout(initTimer);
      initDone({ errorType: 'Runtime.ExitError', errorMessage: this.exitMessage() });
      this.current?.finish({ type: 'exit' });
    });
    this.child.on('error', (err) => {
      // A child that never started (exec refused: EACCES, ENOENT) gets no 'exit': end it here.
      if (this.child.pid !== undefined || this.gone) return;
      this.gone = true;
      this.stderrTail = `could not start the runtime: ${err.message}`;
      this.append(`${this.stderrTail}\n`);
      clearTimeout(initTimer);
      initDone({ errorType: 'Runtime.ExitError', errorMessage: this.stderrTail });
      this.resolveExited();
    }); // otherwise reported through 'exit'
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
    const outcome = await new Promise<ChildMessage | { type: 'exit' | 'timeout' }>((resolve) => {
      const timer = setTimeout(() => resolve({ type: 'timeout' }), timeoutSeconds * 1000);
      this.current = {
        requestId,
        finish: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const message = { type: 'invoke', requestId, event, deadline: Date.now() + timeoutSeconds * 1000, functionArn: this.options.functionArn, clientContext };
      try {
        this.child.send(message, (err) => err && this.current?.finish({ type: 'exit' }));
      } catch {
        this.current.finish({ type: 'exit' });
      }
    });
    this.current = undefined;
    let payload: string;
    let functionError: 'Unhandled' | undefined;
    let status = '';
    if (outcome.type === 'result') {
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
    } else {
      // The runtime exited during the invocation (process.exit, a crash, out of memory).
      await this.exited;
      const oom = /heap out of memory/i.test(this.stderrTail);
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
    const { exitCode, signalCode } = this.child;
    const names: Record<string, string> = { SIGKILL: 'killed', SIGABRT: 'aborted', SIGSEGV: 'segmentation fault', SIGTERM: 'terminated', SIGINT: 'interrupt' };
    if (signalCode) return `Runtime exited with error: signal: ${names[signalCode] ?? signalCode}`;
    return `Runtime exited with error: exit status ${exitCode ?? -1}`;
  }

  /** Ends the process at once (SIGKILL, as AWS ends a sandbox) and resolves when it is gone. */
  kill(): Promise<void> {
    this.ending = true;
    if (!this.gone && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(constants.signals.SIGKILL);
    return this.exited;
  }
}
