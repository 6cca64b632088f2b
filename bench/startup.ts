import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Benchmark, Figure } from './run';
import { freePorts } from './ports';
import { median, p95 } from './stats';

const ROOT = path.resolve(__dirname, '..', '..'); // compiled into dist/bench
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const READY = 'iasql ready';
const TIMEOUT_MS = 60_000;

/** The caller's environment minus engine settings: an inherited DATABASE_URL would skip the embedded Postgres being measured. */
function childEnv(home: string, apiPort: number, pgPort: number): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DATABASE_URL' && !k.startsWith('IASQL_')));
  return { ...env, IASQL_HOME: home, IASQL_API_PORT: String(apiPort), IASQL_PG_PORT: String(pgPort), IASQL_LOCAL_CLOUD_PORT: '0', LOG_LEVEL: 'warn' };
}

/** The last few KB of everything the child printed, to explain a failure. */
function captureOutput(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => (text = (text + chunk.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text.trim() || '(nothing)';
}

function exited(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => reject(new Error(`engine (pid ${child.pid}) did not exit within ${ms / 1000} s`)), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Milliseconds from `t0` until a stdout line starts with READY. */
function readyAfter(child: ChildProcess, t0: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let partial = '';
    const onData = (chunk: Buffer) => {
      const now = performance.now();
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (lines.some((l) => l.startsWith(READY))) finish(undefined, now - t0);
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`engine exited (${signal ?? `code ${code}`}) before printing '${READY}'`));
    const timer = setTimeout(() => finish(new Error(`no '${READY}' line within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
    const finish = (err?: Error, ms?: number) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', finish);
      if (err) reject(err);
      else resolve(ms as number);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', finish);
  });
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `pid` is the postmaster of `dataDir` (it runs inside its data directory), so a stale postmaster.pid never gets an unrelated process signalled. */
function isPostmaster(pid: number, dataDir: string): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/cwd`) === fs.realpathSync(dataDir);
  } catch {
    if (process.platform === 'linux') return false; // no /proc entry: not running
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * pg_ctl starts Postgres in its own process group, so it outlives an engine we had to SIGKILL;
 * stop it (SIGINT is Postgres's fast shutdown) or it would hold its port and the temp home forever.
 */
async function stopOrphanedPostgres(home: string) {
  const dataDir = path.join(home, 'pg');
  const readPid = () => {
    try {
      return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return 0;
    }
  };
  let pid = readPid();
  // A cluster without postmaster.pid may be one a detached pg_ctl is still starting: give it a moment.
  for (let waited = 0; !(pid > 0) && fs.existsSync(dataDir) && waited < 2000; waited += 100) {
    await sleep(100);
    pid = readPid();
  }
  if (!(pid > 0) || !isPostmaster(pid, dataDir)) return;
  process.stderr.write(`  stopping orphaned Postgres (pid ${pid})\n`);
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGINT');
  const deadline = Date.now() + TIMEOUT_MS;
  while (isPostmaster(pid, dataDir) && Date.now() < deadline) await sleep(100);
  if (isPostmaster(pid, dataDir)) signal('SIGKILL');
}

// The engine being measured, so an interrupted bench can kill it and clean up after it.
let active: ChildProcess | undefined;
let interrupted = false;

/** One start on `home`: spawn, wait for the ready line, stop with SIGINT (as Ctrl-C would). Returns the ready time in ms. */
async function startOnce(home: string): Promise<number> {
  if (interrupted) throw new Error('interrupted');
  const [apiPort, pgPort] = await freePorts(2);
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'start'], {
    cwd: ROOT,
    env: childEnv(home, apiPort, pgPort),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  active = child;
  const output = captureOutput(child);
  try {
    const ms = await readyAfter(child, t0);
    child.kill('SIGINT');
    const { code, signal } = await exited(child, TIMEOUT_MS);
    if (code !== 0) throw new Error(`engine exited (${signal ?? `code ${code}`}) after SIGINT instead of code 0`);
    return ms;
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited(child, 10_000).catch(() => undefined);
    await stopOrphanedPostgres(home);
    throw new Error(interrupted ? 'interrupted' : `${(err as Error).message}; engine output ended with:\n${output()}`);
  } finally {
    active = undefined;
  }
}

async function sample(name: string, runs: number, once: () => Promise<number>): Promise<Figure> {
  const samples: number[] = [];
  for (let i = 1; i <= runs; i++) {
    samples.push(await once());
    process.stderr.write(`  ${name} run ${i}/${runs}: ${Math.round(samples[i - 1])} ms\n`);
  }
  process.stderr.write(`  ${name}: median ${Math.round(median(samples))} ms, p95 ${Math.round(p95(samples))} ms\n`);
  return { name, value: Math.round(median(samples)), unit: 'ms', runs };
}

const newHome = () => fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-bench-'));
function removeHome(home: string) {
  try {
    fs.rmSync(home, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    // An initdb orphaned by a killed engine may still be writing there; the real error matters more.
    process.stderr.write(`  could not remove ${home}: ${(err as Error).message}\n`);
  }
}

export const startup: Benchmark = {
  name: 'startup',
  description: "spawn of 'node dist/src/cli.js start' to its 'iasql ready' line: fresh home (cold, with initdb) and existing home (warm)",
  async run(runs) {
    const homes: string[] = [];
    // Without a handler, Ctrl-C would end the bench at once and leave Postgres and temp homes behind.
    const onSignal = () => {
      interrupted = true;
      active?.kill('SIGKILL');
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    try {
      const cold = await sample('startup.cold', runs, async () => {
        // Only the latest cold home is needed (for the warm runs); drop the others as we go to spare disk.
        homes.splice(0).forEach(removeHome);
        homes.push(newHome());
        return startOnce(homes[0]);
      });
      const warm = await sample('startup.warm', runs, () => startOnce(homes[0]));
      return [cold, warm];
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      homes.forEach(removeHome);
      if (interrupted) {
        process.stderr.write('bench: interrupted; cleaned up\n');
        process.exit(130);
      }
    }
  },
};
