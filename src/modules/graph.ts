/**
 * Dependency order of modules. `deps(name)` gives the modules `name` needs. Returns the names in
 * an order where every module comes after its dependencies (root to leaf), or throws naming the
 * first cycle found: `a -> b -> c -> a`.
 */
export function dependencyOrder(names: Iterable<string>, deps: (name: string) => string[]): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string) => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw new CycleError(cycle);
    }
    state.set(name, 'visiting');
    path.push(name);
    for (const d of [...deps(name)].sort()) visit(d);
    path.pop();
    state.set(name, 'done');
    order.push(name);
  };
  for (const n of [...names].sort()) visit(n);
  return order;
}

export class CycleError extends Error {
  constructor(readonly cycle: string[]) {
    super(`dependency cycle: ${cycle.join(' -> ')}`);
    this.name = 'CycleError';
  }
}
