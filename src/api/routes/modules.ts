import { z } from 'zod';
import { BOOTSTRAP_MODULES, LoadedModule } from '../../modules/registry';
import { error, route } from '../route';
import { DatabaseName, InstalledModules, InstallReport, Module, UninstallReport, UpgradeReport } from '../schemas';

const nameParam = z.object({ name: DatabaseName });
const moduleList = z
  .array(z.string({ error: 'module names must be strings' }), { error: 'must be a list of module names' })
  .min(1, 'list at least one module')
  .describe('Module names; `name@x.y.z` pins a version on install');
const changeBody = z
  .strictObject({ install: moduleList.optional(), uninstall: moduleList.optional() })
  .refine((b) => (b.install === undefined) !== (b.uninstall === undefined), 'send exactly one of {"install": [...]} or {"uninstall": [...]}')
  .meta({ description: 'Exactly one of `install` or `uninstall`.', example: { install: ['fixture_notes@0.1.0'] } });

/** A module as GET /v1/modules shows it: every version with dependencies, tables and rpc interface. */
export function describeModule(m: LoadedModule): z.input<typeof Module> {
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
        args: (r.args ?? []).map((a) => ({
          name: a.name,
          type: a.type,
          description: a.description ?? null,
          optional: 'default' in a || a.defaultSql !== undefined,
          default: a.default ?? null,
          defaultSql: a.defaultSql ?? null,
          variadic: a.variadic ?? false,
        })),
        returns: r.returns,
      })),
    })),
  };
}

export const moduleRoutes = [
  route({
    method: 'get',
    path: '/v1/modules',
    operationId: 'listModules',
    summary: 'Every module and version the engine can install',
    description: 'With dependencies, tables and the interface of the rpc methods of each version.',
    responses: { 200: { description: 'Modules by name', body: z.object({ modules: z.array(Module) }) } },
    handler: ({ deps }, reply) => reply(200, { modules: deps.registry.list().map(describeModule) }),
  }),
  route({
    method: 'get',
    path: '/v1/databases/{name}/modules',
    operationId: 'listInstalledModules',
    summary: 'Modules installed in a database, with their exact versions',
    params: nameParam,
    responses: {
      200: { description: 'Installed modules', body: InstalledModules },
      400: error('Invalid name'),
      404: error('No such managed database'),
      409: error('The database is being created or dropped'),
    },
    handler: async ({ params, deps }, reply) => {
      const db = await deps.databases.ready(params.name);
      return reply(200, { modules: await deps.modules.installed(db.name) });
    },
  }),
  route({
    method: 'post',
    path: '/v1/databases/{name}/modules',
    operationId: 'changeModules',
    summary: 'Install or uninstall modules',
    description:
      'Install resolves dependencies and installs root to leaf; uninstall goes leaf to root and refuses while another installed module depends on a target. ' +
      'One transaction: on any failure the database is left exactly as it was. `name@x.y.z` pins a version.',
    params: nameParam,
    body: changeBody,
    responses: {
      200: {
        description: 'What was installed (or uninstalled), with the tables and their record counts',
        body: z.union([InstallReport, UninstallReport]),
      },
      400: error('Bad body, unknown module or version, bootstrap module, not installed'),
      404: error('No such managed database'),
      409: error('Dependents block an uninstall; another version is installed; the database is being created or dropped'),
      500: error('A migration or hook failed (the message names module, version, file, line and statement); nothing was changed'),
    },
    handler: async ({ params, body, deps }, reply) => {
      const db = await deps.databases.ready(params.name);
      const report = body.install ? await deps.modules.install(db.name, body.install) : await deps.modules.uninstall(db.name, body.uninstall!);
      return reply(200, report);
    },
  }),
  route({
    method: 'post',
    path: '/v1/databases/{name}/upgrade',
    operationId: 'upgradeDatabase',
    summary: 'Upgrade every installed module to its latest version',
    description: 'Through each intermediate version, dependencies first, data kept in place, in one transaction.',
    params: nameParam,
    responses: {
      200: { description: 'Module moves made', body: UpgradeReport },
      400: error('Invalid name'),
      404: error('No such managed database'),
      409: error('The database is being created or dropped'),
      500: error('A migration or hook failed; the database is on its old versions'),
    },
    handler: async ({ params, deps }, reply) => {
      const db = await deps.databases.ready(params.name);
      return reply(200, await deps.modules.upgrade(db.name));
    },
  }),
];
