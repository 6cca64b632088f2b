import { randomUUID } from 'node:crypto';
import { DataSource, Repository } from 'typeorm';
import { badRequest, notFound } from '../errors';
import type { DatabaseManager } from '../databases/manager';
import type { Logger } from '../logger';
import { Rollout, RolloutDatabase, RolloutStrategy } from '../metadata/entities/rollout';
import type { ModuleOperations } from '../modules/operations';

export const STRATEGIES: RolloutStrategy[] = ['all-at-once', 'one-at-a-time'];

/**
 * Rollouts upgrade every managed database to the latest module versions, in the background.
 * all-at-once upgrades every database concurrently and reports each result; one-at-a-time
 * upgrades databases in name order, checks each is healthy afterwards, and stops at the first
 * failure, leaving the rest untouched. Each database's upgrade is its own transaction, so a
 * failed database stays on its old versions.
 */
export class Rollouts {
  private readonly repo: Repository<Rollout>;
  private readonly running = new Set<Promise<void>>();

  constructor(
    meta: DataSource,
    private readonly databases: DatabaseManager,
    private readonly modules: ModuleOperations,
    private readonly logger: Logger,
  ) {
    this.repo = meta.getRepository(Rollout);
  }

  async start(strategy: RolloutStrategy): Promise<Rollout> {
    const dbs = await this.databases.served();
    const rollout = await this.repo.save(
      this.repo.create({
        id: randomUUID(),
        strategy,
        status: 'running',
        databases: dbs.map((d): RolloutDatabase => ({ name: d.name, status: 'pending', changes: [], error: null, startedAt: null, finishedAt: null })),
        finishedAt: null,
      }),
    );
    const asStarted = structuredClone(rollout); // run() mutates rollout from its first line on
    const work = this.run(rollout).catch((err) => this.logger.error({ rollout: rollout.id, err: (err as Error).message }, 'rollout crashed'));
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
    return asStarted;
  }

  async get(id: string): Promise<Rollout> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw badRequest(`invalid rollout id '${id.slice(0, 80)}': a rollout id is a UUID`);
    const r = await this.repo.findOneBy({ id });
    if (!r) throw notFound(`rollout '${id}' does not exist; GET /v1/rollouts lists them`);
    return r;
  }

  async list(): Promise<Rollout[]> {
    return this.repo.find({ order: { createdAt: 'DESC' }, take: 100 });
  }

  /** Marks rollouts an earlier engine was running when it died; their databases kept their old versions. */
  async recover(): Promise<void> {
    for (const r of await this.repo.findBy({ status: 'running' })) {
      for (const d of r.databases) if (d.status === 'upgrading' || d.status === 'pending') d.status = 'interrupted';
      await this.repo.update({ id: r.id }, { status: 'interrupted', databases: r.databases, finishedAt: new Date() });
      this.logger.warn({ rollout: r.id }, 'rollout interrupted by an engine stop; databases mid-upgrade kept their old versions');
    }
  }

  /** Waits for rollouts under way (engine shutdown, tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private async run(rollout: Rollout) {
    // One writer per rollout: progress is saved whole, after each change, in order.
    let saving = Promise.resolve();
    const save = () => (saving = saving.then(() => this.repo.update({ id: rollout.id }, { databases: rollout.databases, status: rollout.status, finishedAt: rollout.finishedAt }).then(() => undefined)));
    const upgradeOne = async (d: RolloutDatabase, check: boolean): Promise<boolean> => {
      d.status = 'upgrading';
      d.startedAt = new Date().toISOString();
      await save();
      try {
        const report = await this.modules.upgrade(d.name);
        d.changes = [...report.upgraded.map((u) => `${u.module} ${u.from} -> ${u.to}`), ...report.installed.map((i) => `${i.module} installed at ${i.version}`)];
        if (check) {
          const problems = await this.modules.check(d.name);
          if (problems.length) throw new Error(`upgraded but unhealthy: ${problems.join('; ')}`);
        }
        d.status = 'upgraded';
      } catch (err) {
        d.status = 'failed';
        d.error = (err as Error).message;
      }
      d.finishedAt = new Date().toISOString();
      await save();
      return d.status === 'upgraded';
    };

    if (rollout.strategy === 'all-at-once') {
      await Promise.all(rollout.databases.map((d) => upgradeOne(d, false)));
    } else {
      for (const d of rollout.databases) {
        if (!(await upgradeOne(d, true))) {
          for (const rest of rollout.databases) if (rest.status === 'pending') rest.status = 'skipped';
          break;
        }
      }
    }
    rollout.status = rollout.databases.some((d) => d.status !== 'upgraded') ? 'failed' : 'succeeded';
    rollout.finishedAt = new Date();
    await save();
    this.logger.info({ rollout: rollout.id, strategy: rollout.strategy, status: rollout.status }, 'rollout finished');
  }
}
