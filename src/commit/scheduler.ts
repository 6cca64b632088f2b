/**
 * Runs a set of tasks with dependencies: each starts as soon as every task it depends on has
 * succeeded, at most `limit(bucket)` at once per bucket (a service in a region). On the first
 * failure nothing new starts; the running ones finish. Tasks whose dependencies failed or never
 * ran are reported as skipped.
 */
export interface Task<T> {
  key: string;
  bucket: string;
  dependsOn: string[];
  run(): Promise<T>;
}

export interface TaskOutcome<T> {
  done: Array<{ key: string; result: T; finishedAt: number }>;
  failed: Array<{ key: string; error: unknown }>;
  skipped: string[];
}

export async function runTasks<T>(tasks: Array<Task<T>>, limit: (bucket: string) => number, onChange?: (running: string[], doneCount: number) => void): Promise<TaskOutcome<T>> {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const waiting = new Set(tasks.map((t) => t.key));
  const running = new Set<string>();
  const succeeded = new Set<string>();
  const inBucket = new Map<string, number>();
  const outcome: TaskOutcome<T> = { done: [], failed: [], skipped: [] };
  let stopping = false;

  return new Promise((resolve) => {
    const pump = () => {
      if (!stopping) {
        for (const key of [...waiting]) {
          const t = byKey.get(key)!;
          if (!t.dependsOn.every((d) => succeeded.has(d) || !byKey.has(d))) continue;
          const used = inBucket.get(t.bucket) ?? 0;
          if (used >= Math.max(1, limit(t.bucket))) continue;
          waiting.delete(key);
          running.add(key);
          inBucket.set(t.bucket, used + 1);
          Promise.resolve()
            .then(() => t.run())
            .then(
              (result) => {
                succeeded.add(key);
                outcome.done.push({ key, result, finishedAt: performance.now() });
              },
              (error) => {
                stopping = true;
                outcome.failed.push({ key, error });
              },
            )
            .finally(() => {
              running.delete(key);
              inBucket.set(t.bucket, (inBucket.get(t.bucket) ?? 1) - 1);
              pump();
              onChange?.([...running], outcome.done.length);
            });
        }
      }
      if (running.size === 0) {
        // Nothing runs and nothing more can start: what is left waits on a failure (or a cycle).
        outcome.skipped.push(...waiting);
        waiting.clear();
        resolve(outcome);
      }
    };
    pump();
    onChange?.([...running], 0);
  });
}
