import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processExists } from './files';
import type { SandboxUser } from './lambda-sandbox';

/**
 * The box a sandboxed Lambda instance runs in, built from the host's own util-linux tools (nothing
 * home-made at kernel level):
 *
 *   sh (root, joins the instance's cgroups, then execs)
 *   -> prlimit (rlimits) -> unshare --net --pid --fork --mount-proc --kill-child
 *   -> setpriv (the account's user, no groups, no capabilities, no new privileges, dies with unshare)
 *   -> node bootstrap
 *
 * The shell writes its own pid into the cgroups before it execs anything, so every process of the
 * instance, the handler's first line included, starts inside them. The new network namespace has
 * only a loopback that is down: no TCP connect reaches anything. The pid namespace's init is the
 * bootstrap: when it dies, the kernel kills every process left in the namespace (detached,
 * double-forked, setsid'd ones too), and it dies when unshare, the engine's child, does.
 */

/** How limits are set: cgroups (v1 or v2) where the host lets the engine write them, rlimits otherwise. */
export type LimitsKind = 'cgroup-v1' | 'cgroup-v2' | 'rlimit';

export interface BoxSupport {
  /** Undefined when unshare builds the box here; otherwise why it cannot. */
  unavailable?: string;
  limits: LimitsKind;
  tools: { sh: string; unshare: string; setpriv: string; prlimit: string };
}

/** Tasks (processes and threads: Node itself runs about 11) of one account at once: AWS's per-environment figure. */
export const TASKS_PER_ACCOUNT = 1024;
/** Memory of an instance beyond MemorySize: Node's own (~45 MB RSS) outside the heap V8 caps at 90% of it. */
export const MEMORY_MARGIN_MB = 64;
/**
 * What Node maps privately writable before any code runs (VmData ~576 MB for Node 24: thread
 * stacks, V8's reservations), which RLIMIT_DATA counts as well.
 */
const NODE_DATA_MB = 640;
/** cpu.shares of an account's instances together (v1; an engine task weighs 1024): they yield to the engine under contention. */
const CPU_SHARES_PER_ACCOUNT = 256;
/** cpu.weight (v2) of an account: 100 is a task group's default. */
const CPU_WEIGHT_PER_ACCOUNT = 25;

const V1 = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['pids', 'memory', 'cpu'] as const;
const PREFIX = 'iasql-lambda-';

function tool(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

let detected: BoxSupport | undefined;

/** Whether this host can build the box, and which limits it has; detected once per process. */
export function detectBox(): BoxSupport {
  return (detected ??= probe());
}

function probe(): BoxSupport {
  const tools = { sh: tool('sh'), unshare: tool('unshare'), setpriv: tool('setpriv'), prlimit: tool('prlimit') };
  const missing = Object.entries(tools).filter(([, file]) => !file).map(([name]) => name);
  const found = tools as BoxSupport['tools'];
  const limits = detectLimits();
  if (missing.length) return { unavailable: `util-linux's ${missing.join(', ')} not found in /usr/bin or /bin`, limits, tools: found };
  if (process.getuid?.() !== 0) return { unavailable: 'the engine is not root: unshare cannot make network and pid namespaces', limits, tools: found };
  const r = spawnSync(found.unshare, ['--net', '--pid', '--fork', '--mount-proc', '--kill-child', '--', found.setpriv, '--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs', '--', '/bin/true'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10_000,
    env: { PATH: '/usr/bin:/bin' },
  });
  if (r.status !== 0) {
    const why = r.error?.message ?? (r.stderr?.toString('utf8').trim() || `exit status ${r.status ?? r.signal}`);
    return { unavailable: `unshare --net --pid --mount-proc failed here (${why})`, limits, tools: found };
  }
  return { limits, tools: found };
}

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

function detectLimits(): LimitsKind {
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
    fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0');
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
    fs.writeFileSync(path.join(dir, 'cpu.weight'), String(CPU_WEIGHT_PER_ACCOUNT));
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
async function killAndRemove(dir: string): Promise<void> {
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

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/**
 * The command that runs `node args...` in the box as `user`, and the rlimits it sets: a process
 * count per account (RLIMIT_NPROC counts per real uid, which is the account's), no core dumps, and
 * where no cgroup can cap memory, a data-segment limit.
 */
export function boxCommand(support: BoxSupport, cage: Cage, user: SandboxUser, memoryMb: number, node: string, args: string[]): { file: string; args: string[] } {
  const { sh, prlimit, unshare, setpriv } = support.tools;
  const rlimits = [`--nproc=${TASKS_PER_ACCOUNT}`, '--core=0'];
  if (cage.procsFiles.length === 0) {
    // No memory cgroup: RLIMIT_DATA (private writable mappings, Node's buffers included) is the
    // nearest rlimit, a loose one (it counts what Node reserves too); RLIMIT_AS would count all
    // of V8's address space, many times more. An allocation past it fails in the function
    // (RangeError: Failed to allocate memory) instead of killing the instance.
    rlimits.push(`--data=${(memoryMb + MEMORY_MARGIN_MB + NODE_DATA_MB) * 1024 * 1024}`);
  }
  const chain = [
    prlimit,
    ...rlimits,
    '--',
    unshare,
    '--net',
    '--pid',
    '--fork',
    '--mount-proc',
    '--kill-child',
    '--',
    setpriv,
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    '--clear-groups',
    '--no-new-privs',
    '--inh-caps=-all',
    '--bounding-set=-all',
    // Changing the user clears the parent-death signal unshare set: set it again.
    '--pdeathsig=KILL',
    '--',
    node,
    ...args,
  ];
  // Each cgroup.procs file given before `--` gets the shell's own pid; a write that fails ends it
  // before anything of the function's runs.
  const join = 'while [ "$1" != -- ]; do echo "$$" > "$1" || exit 125; shift; done; shift; exec "$@"';
  return { file: sh, args: ['-c', join, 'sh', ...cage.procsFiles, '--', ...chain] };
}

/** The first uid of the sandbox range and its size (lambda-sandbox.ts hands them out). */
export const SANDBOX_UIDS = { base: 0x7000_0000, size: 0x1000_0000 };
const isSandboxUid = (uid: number) => uid >= SANDBOX_UIDS.base && uid < SANDBOX_UIDS.base + SANDBOX_UIDS.size;

interface Proc {
  pid: number;
  ppid: number;
  uid: number;
  name: string;
}

function processes(): Map<number, Proc> {
  const all = new Map<number, Proc>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
      if (field('State') === 'Z') continue;
      all.set(Number(entry), { pid: Number(entry), ppid: Number(field('PPid')), uid: Number(field('Uid')), name: field('Name') });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

/** SIGKILLs every process whose real uid is `uid` (an account's user: its instances are gone, so is the account). */
export function killUser(uid: number): number {
  let killed = 0;
  for (const p of processes().values()) {
    if (p.uid === uid) {
      kill(p.pid);
      killed++;
    }
  }
  return killed;
}

/**
 * At start: what a killed engine left. Its cgroups (named for its pid) with every process in
 * them; and processes of sandbox users that no engine holds any more: one whose nearest ancestor
 * outside the sandbox range is init (orphaned), or a box launcher (unshare) init adopted. An
 * engine that is running keeps its instances: its launcher's parent is that engine.
 */
export async function sweepAbandoned(): Promise<{ cgroups: number; processes: number }> {
  let cgroups = 0;
  const tops = [...V1_CONTROLLERS.map((c) => path.join(V1, c)), V1];
  for (const top of tops) {
    let names: string[];
    try {
      names = fs.readdirSync(top);
    } catch {
      continue;
    }
    for (const name of names) {
      const pid = Number(new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1]);
      if (!pid || pid === process.pid || processExists(pid)) continue;
      await killAndRemove(path.join(top, name));
      cgroups++;
    }
  }
  const all = processes();
  let killed = 0;
  for (const p of all.values()) {
    if (!isSandboxUid(p.uid)) continue;
    let up = all.get(p.ppid);
    while (up && isSandboxUid(up.uid)) up = all.get(up.ppid);
    const orphan = !up || up.pid === 1 || (up.name === 'unshare' && (all.get(up.ppid)?.pid ?? 1) === 1);
    if (!orphan) continue;
    if (up && up.pid !== 1) kill(up.pid);
    kill(p.pid);
    killed++;
  }
  return { cgroups, processes: killed };
}
