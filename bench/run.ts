import { commit } from './commit';
import { lambda } from './lambda';
import { modules } from './modules';
import { rpc } from './rpc';
import { startup } from './startup';

/** One measured quantity. `--json` prints exactly these fields, which operators' scripts parse. */
export interface Figure {
  name: string;
  /** Median over `runs` samples. */
  value: number;
  unit: string;
  runs: number;
}

export interface Benchmark {
  name: string;
  description: string;
  run(runs: number): Promise<Figure[]>;
}

const BENCHMARKS: Benchmark[] = [startup, modules, rpc, commit, lambda];
const DEFAULT_RUNS = 5;

const USAGE = `usage: npm run bench -- [NAME] [--json] [--runs N]

Runs benchmark NAME (default: all) and prints the median of each figure.
  --json     one JSON object per figure per line on stdout; progress stays on stderr
  --runs N   samples per figure (default ${DEFAULT_RUNS})

Benchmarks:
${BENCHMARKS.map((b) => `  ${b.name.padEnd(10)} ${b.description}`).join('\n')}`;

class UsageError extends Error {}

function parseArgs(argv: string[]) {
  let json = false;
  let runs = DEFAULT_RUNS;
  let help = false;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') json = true;
    else if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--runs' || arg.startsWith('--runs=')) {
      const value = arg === '--runs' ? argv[++i] : arg.slice('--runs='.length);
      if (!/^[1-9]\d*$/.test(value ?? '')) throw new UsageError(`--runs needs a whole number of at least 1, not '${value ?? ''}'`);
      runs = Number(value);
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option '${arg}'`);
    else names.push(arg);
  }
  if (names.length > 1) throw new UsageError(`give at most one benchmark name, not ${names.join(' ')}`);
  return { json, runs, help, name: names[0] as string | undefined };
}

function table(figures: Figure[]): string {
  const rows = [['name', 'value', 'unit', 'runs'], ...figures.map((f) => [f.name, String(f.value), f.unit, String(f.runs)])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const numeric = [false, true, false, true];
  return rows.map((r) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${USAGE}\n`);
    return 1;
  }
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const selected = args.name ? BENCHMARKS.filter((b) => b.name === args.name) : BENCHMARKS;
  if (selected.length === 0) {
    process.stderr.write(`bench: unknown benchmark '${args.name}'; known benchmarks: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    return 1;
  }

  // A failing benchmark should not hide the figures of the others, but must fail the command.
  let failed = false;
  const figures: Figure[] = [];
  for (const bench of selected) {
    process.stderr.write(`bench: ${bench.name} (${args.runs} runs)\n`);
    try {
      const got = await bench.run(args.runs);
      figures.push(...got);
      if (args.json) for (const f of got) process.stdout.write(JSON.stringify({ name: f.name, value: f.value, unit: f.unit, runs: f.runs }) + '\n');
    } catch (err) {
      failed = true;
      process.stderr.write(`bench: ${bench.name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  if (!args.json && figures.length) process.stdout.write(table(figures) + '\n');
  return failed ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
