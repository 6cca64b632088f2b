import { spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * Every benchmark runs once (`--runs 1`), so none can rot unseen: one that failed with a relation
 * its module no longer names unqualified went unnoticed for a release. No figure is judged here
 * (timing goals live in `npm run bench`): only that each benchmark runs and reports numbers.
 * `npm test` builds dist/ first; the benchmarks start their own Postgres and engines.
 */

const ROOT = path.resolve(__dirname, '..');

function runBench(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'run.js'), '--runs', '1', '--json'], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm run bench -- --runs 1: every benchmark runs and prints its figures', async () => {
  const { code, stdout, stderr } = await runBench();
  expect(stderr.split('\n').filter((l) => /^bench: .* failed/.test(l))).toEqual([]);
  expect(code).toBe(0);
  const figures = stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; value: number; unit: string; runs: number });
  const benchmarks = new Set(figures.map((f) => f.name.split('.')[0]));
  expect([...benchmarks].sort()).toEqual(['commit', 'dynamo_data', 'lambda', 'modules', 'rpc', 'startup']);
  for (const f of figures) expect({ name: f.name, finite: Number.isFinite(f.value) }).toEqual({ name: f.name, finite: true });
}, 300_000);
