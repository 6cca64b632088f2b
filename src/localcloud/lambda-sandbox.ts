import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectBox, SANDBOX_UIDS, type BoxSupport, type LimitsKind, type SandboxUser } from './lambda-box';
import { LambdaError } from './lambda-validate';

/**
 * IASQL_LOCAL_CLOUD_INVOKE: what Invoke does when the engine cannot switch users (it is not
 * root). `trusted`: handlers run as the engine's own user; `refused`: Invoke is refused.
 */
export type InvokeSetting = 'trusted' | 'refused';

/**
 * How handlers run: `sandboxed` in the box (lambda-box.ts) as one unprivileged user per
 * local-cloud account (the engine is root and unshare works here; the setting is then ignored);
 * `unboxed` as those users but without the box, where it cannot be built and the operator said
 * handlers are trusted; `trusted` as the engine's own user; or `refused` not at all.
 */
export type InvokeIsolation = 'sandboxed' | 'unboxed' | 'trusted' | 'refused';

/** Whether this process may run children as other users: only root may. */
export const mayRunAsOtherUsers = (): boolean => process.getuid?.() === 0;

export function invokeIsolation(setting: InvokeSetting = 'trusted', canSwitchUsers = mayRunAsOtherUsers(), boxed = canSwitchUsers && !detectBox().unavailable): InvokeIsolation {
  if (canSwitchUsers && boxed) return 'sandboxed';
  if (canSwitchUsers) return setting === 'trusted' ? 'unboxed' : 'refused';
  return setting;
}

const LIMITS: Record<LimitsKind, string> = {
  'cgroup-v1': 'limits by cgroup v1: memory, tasks, CPU share',
  'cgroup-v2': 'limits by cgroup v2: memory, tasks, CPU weight',
  rlimit: 'limits by rlimits only: tasks, data size; no CPU share (no writable cgroups)',
};

/** The line `iasql start` prints under the local cloud's endpoint. */
export function isolationBanner(isolation: InvokeIsolation, box: BoxSupport = detectBox()): string {
  const user = os.userInfo().username;
  if (isolation === 'sandboxed') return `Lambda handlers run sandboxed as per-account users, in a box: no network, own pid namespace, ${LIMITS[box.limits]}`;
  if (isolation === 'unboxed') {
    return `Lambda handlers run as per-account users without the box (${box.unavailable}): they share the host's network (IASQL_LOCAL_CLOUD_INVOKE=trusted; set refused on a shared machine)`;
  }
  if (isolation === 'trusted') return `Lambda handlers run as ${user} (IASQL_LOCAL_CLOUD_INVOKE=trusted: fine for one developer; set refused on a shared machine)`;
  if (mayRunAsOtherUsers()) return `Lambda Invoke is refused (IASQL_LOCAL_CLOUD_INVOKE=refused: the box cannot be built here: ${box.unavailable})`;
  return `Lambda Invoke is refused (IASQL_LOCAL_CLOUD_INVOKE=refused: handlers would run as ${user}; run the engine as root to sandbox them)`;
}

/**
 * Invoke under `refused`, shaped as AWS answers a caller who may not invoke. `boxUnavailable`:
 * the engine is root but the box cannot be built here, and why.
 */
export function invokeRefused(functionArn: string, boxUnavailable?: string): LambdaError {
  const user = os.userInfo().username;
  if (boxUnavailable) {
    return new LambdaError(
      'AccessDeniedException',
      403,
      `the iasql local cloud does not run Lambda handlers here (${functionArn}): the box that keeps them off the network cannot be built (${boxUnavailable}). ` +
        'Give the engine working network and pid namespaces (unshare --net --pid as root), or, where handlers are trusted, set IASQL_LOCAL_CLOUD_INVOKE=trusted to run them as per-account users without the box.',
    );
  }
  return new LambdaError(
    'AccessDeniedException',
    403,
    `the iasql local cloud does not run Lambda handlers here (${functionArn}): the engine runs as ${user}, not root, so it cannot run ` +
      `them as separate users, and they would run as ${user} with its access to the engine's files and secrets. ` +
      'On a machine only you use, set IASQL_LOCAL_CLOUD_INVOKE=trusted; otherwise run the engine as root, which runs each account\'s handlers as its own unprivileged user.',
  );
}

export type { SandboxUser } from './lambda-box';

/**
 * Sandbox users come from a range that systemd's table of UID ranges (systemd.io/UIDS-GIDS) lists
 * as unused by Linux, distributions and systemd, 2^28 ids wide, below 2^31 (ids above it trouble
 * some programs). Nothing there needs an /etc/passwd entry: the kernel only compares numbers.
 */
const SANDBOX_UID_BASE = SANDBOX_UIDS.base;
const SANDBOX_UID_RANGE = SANDBOX_UIDS.size;

// Process-wide, not per local cloud: two accounts must never share a user, also when one process
// runs several local clouds (tests do).
const uidOfAccount = new Map<string, number>();
const accountOfUid = new Map<number, string>();

/**
 * The account's user: a stable hash of its id into the range, so an account keeps its user across
 * restarts and engines. Two accounts whose hashes meet in this process get distinct users (the
 * later one takes the next free id): a shared user would let one read the other's processes.
 */
export function accountUser(accountId: string): SandboxUser {
  let uid = uidOfAccount.get(accountId);
  if (uid === undefined) {
    let slot = createHash('sha256').update(accountId).digest().readUInt32BE(0) % SANDBOX_UID_RANGE;
    while (accountOfUid.has(SANDBOX_UID_BASE + slot)) slot = (slot + 1) % SANDBOX_UID_RANGE;
    uid = SANDBOX_UID_BASE + slot;
    uidOfAccount.set(accountId, uid);
    accountOfUid.set(uid, accountId);
  }
  return { uid, gid: uid };
}

/** The account id of a function ARN (`arn:aws:lambda:<region>:<account>:function:<name>`). */
export function accountOf(functionArn: string): string {
  const account = functionArn.split(':')[4];
  if (!/^\d{12}$/.test(account ?? '')) throw new Error(`not a function ARN: ${functionArn}`);
  return account;
}

/**
 * Makes `parts` (relative to `root`, which must exist) as directories the account's handlers may
 * read but not change: owned by the engine's user and the account's group, mode 0750. The first
 * of them also keeps every other account out of what is below it.
 */
export function accountDirs(root: string, parts: string[], user: SandboxUser): string {
  let dir = root;
  for (const part of parts) {
    dir = path.join(dir, part);
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(dir, process.getuid!(), user.gid);
    fs.chmodSync(dir, 0o750);
  }
  return dir;
}

/**
 * Unpacked code, readable by the account's group and by nobody else, writable by none of its
 * handlers (as /var/task is read-only in AWS): directories 0750, files 0640, owned by the engine.
 */
export function lockCodeTree(dir: string, user: SandboxUser): void {
  const owner = process.getuid!();
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return; // extractZip writes none; never follow one
    fs.lchownSync(p, owner, user.gid);
    if (st.isDirectory()) {
      fs.chmodSync(p, 0o750);
      for (const entry of fs.readdirSync(p)) walk(path.join(p, entry));
    } else {
      fs.chmodSync(p, 0o640);
    }
  };
  walk(dir);
}

/**
 * Why a user other than the file's owner and group could not run `file` (e.g. a Node.js installed
 * under /root by nvm): the first directory on the way it cannot enter, or the file itself when it
 * is not readable and executable by others. Undefined when it can.
 */
export function notRunnableByOthers(file: string): string | undefined {
  const parts = path.resolve(file).split(path.sep).filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const dir = path.sep + parts.slice(0, i).join(path.sep);
    const mode = fs.statSync(dir).mode;
    if (!(mode & 0o001)) return `${dir} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}) cannot be entered by other users`;
  }
  const mode = fs.statSync(file).mode;
  if ((mode & 0o005) !== 0o005) return `${file} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}) cannot be read and run by other users`;
  return undefined;
}

/**
 * Removes a tree that sandbox users may have written into (their TMPDIRs in the work directory)
 * and may still be writing into: a handler can leave a process behind. Root deleting a user's
 * directory recursively by path can be raced into following a link the user swaps in for a
 * subdirectory, and then deletes whatever the link points at (Node's rmSync goes by path). So
 * directories of the engine's user that nobody else may write are walked here; anything another
 * user owns is emptied as that user, who can only harm its own files, and its emptied directory
 * removed by the engine (it sits in one the user cannot write). Best effort: what cannot be
 * removed stays, for the next engine's sweep.
 */
export async function removeTree(target: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch {
    return;
  }
  if (!st.isDirectory()) {
    fs.rmSync(target, { force: true }); // unlink: never follows a link
    return;
  }
  const engineUid = process.getuid?.();
  if (st.uid === engineUid) {
    if (st.mode & 0o022) return; // writable by others: not a directory the local cloud made
    for (const entry of fs.readdirSync(target)) await removeTree(path.join(target, entry));
  } else {
    await emptyAs(target, st.uid, st.gid);
  }
  try {
    fs.rmdirSync(target);
  } catch {
    // refilled meanwhile, or not emptied: left for the next sweep
  }
}

/** Empties `dir` as its owner, with nothing of the engine's environment. */
function emptyAs(dir: string, uid: number, gid: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', 'chmod -R u+rwX -- "$1" 2>/dev/null; exec find "$1" -mindepth 1 -delete', 'sh', dir], {
      uid,
      gid,
      env: { PATH: '/usr/bin:/bin' },
      stdio: 'ignore',
    });
    child.on('error', () => resolve());
    child.on('exit', () => resolve());
  });
}
