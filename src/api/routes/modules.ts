import { Router } from 'express';
import { z } from 'zod';
import { badRequest } from '../../errors';
import type { DatabaseManager } from '../../databases/manager';
import type { ModuleOperations } from '../../modules/operations';
import { BOOTSTRAP_MODULES, LoadedModule, ModuleRegistry } from '../../modules/registry';
import { parseBody } from './databases';

const moduleList = z.array(z.string({ error: 'module names must be strings' }), { error: 'must be a list of module names' }).min(1, 'list at least one module');
const changeBody = z.strictObject({ install: moduleList.optional(), uninstall: moduleList.optional() });

/** A module as GET /v1/modules shows it: every version with dependencies, tables and rpc interface. */
export function describeModule(m: LoadedModule) {
  return {
    name: m.name,
    description: m.description,
    bootstrap: BOOTSTRAP_MODULES.includes(m.name),
    latest: m.latest.version,
    versions: m.versions.map((v) => ({
      version: v.version,
      dependencies: v.dependencies,
      tables: v.tables,
      rpc: Object.entries(v.rpc).map(([name, r]) => ({
        name,
        description: r.description,
        example: r.example ?? null,
        args: (r.args ?? []).map((a) => ({ name: a.name, type: a.type, optional: 'default' in a, default: a.default ?? null })),
        returns: r.returns,
      })),
    })),
  };
}

export function moduleRoutes(registry: ModuleRegistry, modules: ModuleOperations, databases: DatabaseManager): Router {
  const r = Router();
  r.get('/modules', (_req, res) => {
    res.json({ modules: registry.list().map(describeModule) });
  });
  r.get('/databases/:name/modules', async (req, res) => {
    const db = await databases.ready(req.params.name);
    res.json({ modules: await modules.installed(db.name) });
  });
  r.post('/databases/:name/modules', async (req, res) => {
    const body = parseBody(changeBody, req.body);
    if ((body.install === undefined) === (body.uninstall === undefined)) {
      throw badRequest('send exactly one of {"install": [...]} or {"uninstall": [...]}');
    }
    const db = await databases.ready(req.params.name);
    res.json(body.install ? await modules.install(db.name, body.install) : await modules.uninstall(db.name, body.uninstall!));
  });
  r.post('/databases/:name/upgrade', async (req, res) => {
    const db = await databases.ready(req.params.name);
    res.json(await modules.upgrade(db.name));
  });
  return r;
}
