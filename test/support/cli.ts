import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

export const ROOT = path.join(__dirname, '..', '..');
/** The compiled CLI (npm test builds it first), exactly what `npm start` runs. */
export const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');

export interface StartedEngine {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawns `iasql start` and resolves once it prints the line beginning with `iasql ready`. */
export async function spawnStart(env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<StartedEngine> {
  const child = spawn(process.execPath, [CLI, 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no 'iasql ready' within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
    }, timeoutMs);
    const check = () => {
      if (/^iasql ready /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`iasql start exited with ${code} before ready\nstdout:\n${out}\nstderr:\n${err}`));
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

export const execCli = (args: string[], env: NodeJS.ProcessEnv) =>
  promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
