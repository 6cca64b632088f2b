import * as fs from 'node:fs';
import * as path from 'node:path';

/** How limits are set: cgroups (v1 or v2) where the host lets the engine write them, rlimits otherwise. */
export type LimitsKind = 'cgroup-v1' | 'cgroup-v2' | 'rlimit';

/**
 * The cgroups of the Lambda box (lambda-box.ts): an account's tasks and CPU share, an instance's
 * memory. Named for the engine's pid, so that the next engine can tell what a killed one left.
 */

/** Tasks (processes and threads: Node itself runs about 11) of one account at once: AWS's per-environment figure. */
export const TASKS_PER_ACCOUNT = 1024;
/** Memory of an instance beyond MemorySize: Node's own (~45 MB RSS) outside the heap V8 caps at 90% of it. */
export const MEMORY_MARGIN_MB = 64;
/** cpu.shares of an account's instances together (v1; an engine task weighs 1024): they yield to the engine under contention. */
const CPU_SHARES_PER_ACCOUNT = 256;
/** cpu.weight (v2) of an account: 100 is a task group's default. */
const CPU_WEIGHT_PER_ACCOUNT = 25;

export const CGROUP_ROOT = '/sys/fs/cgroup';
const V1 = CGROUP_ROOT;
export const V1_CONTROLLERS = ['pids', 'memory', 'cpu'] as const;
export const CGROUP_PREFIX = 'iasql-lambda-';
const PREFIX = CGROUP_PREFIX;

export function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
const kill = killPid;

function writable(dir: string): boolean {
  const test = path.join(dir, `${PREFIX}probe-${process.pid}`);
  try {
    fs.mkdirSync(test);
    fs.rmdirSync(test);
    return true;
  } catch {
    return false;
  }
}

/** Which cgroups the engine may write here: v1 (pids, memory, cpu), v2 with those controllers, or none. */
export function detectLimits(): LimitsKind {
  if (process.getuid?.() !== 0) return 'rlimit';
  if (V1_CONTROLLERS.every((c) => fs.existsSync(path.join(V1, c, 'cgroup.procs'))) && writable(path.join(V1, 'pids')) && writable(path.join(V1, 'memory')) && writable(path.join(V1, 'cpu'))) {
    return 'cgroup-v1';
  }
  try {
    const controllers = fs.readFileSync(path.join(V1, 'cgroup.controllers'), 'utf8').split(/\s+/);
    if (['memory', 'pids', 'cpu'].every((c) => controllers.includes(c)) && writable(V1)) return 'cgroup-v2';
  } catch {
    // no cgroup v2 at /sys/fs/cgroup
  }
  return 'rlimit';
}

/** One instance's cgroups (none under rlimits): where its shell puts itself, and what they recorded. */
export interface Cage {
  /** cgroup.procs files the instance's first process writes its pid into before it execs anything. */
  readonly procsFiles: string[];
  /** Whether the kernel killed a process of the instance for passing its memory limit. */
  oomKilled(): boolean;
  /** Every process in the instance's memory cgroup (the box's launcher and everything inside). */
  pids(): number[];
  /** Removes the instance's cgroup once it is empty (best effort: a leftover goes at the next sweep). */
  remove(): Promise<void>;
}

const NO_CAGE: Cage = { procsFiles: [], oomKilled: () => false, pids: () => [], remove: async () => undefined };

let runtimes = 0;

/**
 * The cgroups of one LambdaRuntime: `<controller>/iasql-lambda-<engine pid>-<n>/<account>` for the
 * account's tasks (pids.max) and CPU share, and `.../<account>/i<seq>` for each instance's memory.
 * The engine's pid in the name lets the next engine remove what a killed one left.
 */
export class BoxCgroups {
  private readonly root: string;
  private seq = 0;

  constructor(readonly kind: LimitsKind) {
    this.root = `${PREFIX}${process.pid}-${++runtimes}`;
  }

  /** Makes the instance's cgroups, with its account's (made on first use). */
  cage(accountId: string, memoryMb: number): Cage {
    if (this.kind === 'rlimit') return NO_CAGE;
    const limit = String((memoryMb + MEMORY_MARGIN_MB) * 1024 * 1024);
    const instance = `i${++this.seq}`;
    if (this.kind === 'cgroup-v1') {
      const account = (c: string) => path.join(V1, c, this.root, accountId);
      this.makeAccount(accountId);
      const memory = path.join(account('memory'), instance);
      fs.mkdirSync(memory);
      fs.writeFileSync(path.join(memory, 'memory.limit_in_bytes'), limit);
      return cageAt(memory, [path.join(account('pids'), 'cgroup.procs'), path.join(account('cpu'), 'cgroup.procs')], 'memory.oom_control');
    }
    this.makeAccount(accountId);
    const dir = path.join(V1, this.root, accountId, instance);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'memory.max'), limit);
    writeIfThere(path.join(dir, 'memory.swap.max'), '0'); // absent without swap accounting
    return cageAt(dir, [], 'memory.events');
  }

  private makeAccount(accountId: string): void {
    if (this.kind === 'cgroup-v1') {
      for (const c of V1_CONTROLLERS) {
        const dir = path.join(V1, c, this.root, accountId);
        if (fs.existsSync(dir)) continue;
        fs.mkdirSync(dir, { recursive: true });
        if (c === 'pids') fs.writeFileSync(path.join(dir, 'pids.max'), String(TASKS_PER_ACCOUNT));
        if (c === 'cpu') fs.writeFileSync(path.join(dir, 'cpu.shares'), String(CPU_SHARES_PER_ACCOUNT));
      }
      return;
    }
    const top = path.join(V1, this.root);
    const dir = path.join(top, accountId);
    if (fs.existsSync(dir)) return;
    // v2 sets a controller's files in a child only where the parent delegates it.
    fs.mkdirSync(top, { recursive: true });
    for (const parent of [V1, top]) fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), '+memory +pids +cpu');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), '+memory +pids +cpu');
    fs.writeFileSync(path.join(dir, 'pids.max'), String(TASKS_PER_ACCOUNT));
    writeIfThere(path.join(dir, 'cpu.weight'), String(CPU_WEIGHT_PER_ACCOUNT));
  }

  /** Kills what is left in an account's cgroups and removes them (the account is gone). */
  async removeAccount(accountId: string): Promise<void> {
    if (this.kind === 'rlimit') return;
    const dirs = this.kind === 'cgroup-v1' ? V1_CONTROLLERS.map((c) => path.join(V1, c, this.root, accountId)) : [path.join(V1, this.root, accountId)];
    await Promise.all(dirs.map((d) => killAndRemove(d)));
  }

  /** At stop: everything this runtime made. */
  async removeAll(): Promise<void> {
    if (this.kind === 'rlimit') return;
    const dirs = this.kind === 'cgroup-v1' ? V1_CONTROLLERS.map((c) => path.join(V1, c, this.root)) : [path.join(V1, this.root)];
    await Promise.all(dirs.map((d) => killAndRemove(d)));
  }
}

/** The instance's memory cgroup `dir` (with `others` to join too); `events`: the file counting its OOM kills. */
function cageAt(dir: string, others: string[], events: string): Cage {
  // Remembered: the runtime may remove the cgroup before the instance asks why it died.
  let oom = false;
  const oomKilled = () => (oom ||= counter(path.join(dir, events), 'oom_kill') > 0);
  return {
    procsFiles: [...others, path.join(dir, 'cgroup.procs')],
    oomKilled,
    pids: () => procsOf(dir),
    remove: () => {
      oomKilled();
      return removeCgroup(dir);
    },
  };
}

function writeIfThere(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function counter(file: string, name: string): number {
  try {
    const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1] ?? 0);
  } catch {
    return 0;
  }
}

function procsOf(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** rmdir of a cgroup fails (EBUSY) while a task, a zombie included, is still in it: the kill is under way. */
async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw err;
      await sleep(20);
    }
  }
}

/** SIGKILLs every process in a cgroup tree, then removes the tree, deepest first. */
export async function killAndRemove(dir: string): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const pid of procsOf(dir)) kill(pid);
  await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => killAndRemove(path.join(dir, e.name))));
  await removeCgroup(dir).catch(() => undefined);
}
