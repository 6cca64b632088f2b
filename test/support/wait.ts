/**
 * Polls `check` every 10 ms until it returns a value, and returns it; fails after `ms` naming what
 * it waited for. Bounded, so a hang fails one test instead of the suite. Never a timing assertion:
 * the bound only ends a wait that would otherwise last for ever.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
