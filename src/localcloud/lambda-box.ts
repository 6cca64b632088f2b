import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processExists } from './files';
import { CGROUP_PREFIX as PREFIX, CGROUP_ROOT as V1, detectLimits, killAndRemove, killPid as kill, MEMORY_MARGIN_MB, TASKS_PER_ACCOUNT, V1_CONTROLLERS, type Cage, type LimitsKind } from './lambda-cgroups';

export { BoxCgroups, MEMORY_MARGIN_MB, TASKS_PER_ACCOUNT, type Cage, type LimitsKind } from './lambda-cgroups';

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

export interface BoxSupport {
  /** Undefined when unshare builds the box here; otherwise why it cannot. */
  unavailable?: string;
  limits: LimitsKind;
  tools: { sh: string; unshare: string; setpriv: string; prlimit: string };
}

/**
 * What Node maps privately writable before any code runs (VmData ~576 MB for Node 24: thread
 * stacks, V8's reservations), which RLIMIT_DATA counts as well.
 */
const NODE_DATA_MB = 640;

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

/** A user (and its own group of the same number) that handlers of one account run as. */
export interface SandboxUser {
  uid: number;
  gid: number;
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
