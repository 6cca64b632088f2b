import { defineModule } from '../../src/modules/define';

/**
 * The iasql_* functions of the psql surface, with IaSQL's names and shapes. What changes the
 * database goes through rpc (the engine does it, in one transaction); reads are plain SQL (hooks).
 */
export default defineModule({
  name: 'iasql_functions',
  description: 'The iasql_* functions: install, uninstall, upgrade, list, help, errors',
  dir: __dirname,
  versions: [
    {
      version: '0.1.0',
      dependencies: ['iasql_platform'],
      sql: { afterInstall: '0.1.0/after_install.sql', beforeUninstall: '0.1.0/before_uninstall.sql' },
      rpc: {
        iasql_install: {
          description: 'Installs modules (and what they depend on) in this database, in one transaction',
          example: "SELECT * FROM iasql_install('aws_lambda', 'aws_dynamo@0.1.0');",
          args: [{ name: 'modules', type: 'text[]', variadic: true, description: 'module names, or name@x.y.z' }],
          returns: { table: [{ name: 'module_name', type: 'text' }, { name: 'created_table_name', type: 'text' }, { name: 'record_count', type: 'integer' }] },
          timeoutMs: 600_000,
          handler: async (ctx, args) => {
            const report = await ctx.iasql.install(args.modules as string[]);
            const already = report.alreadyInstalled.map((m) => `${m.module}@${m.version}`);
            if (report.installed.length === 0 && already.length) ctx.logger.info({ already }, 'already installed');
            return report.tables.map((t) => ({ module_name: t.module, created_table_name: t.table, record_count: t.records }));
          },
        },
        iasql_uninstall: {
          description: 'Uninstalls modules from this database (their tables are dropped), in one transaction',
          example: "SELECT * FROM iasql_uninstall('aws_lambda');",
          args: [{ name: 'modules', type: 'text[]', variadic: true }],
          returns: { table: [{ name: 'module_name', type: 'text' }, { name: 'dropped_table_name', type: 'text' }, { name: 'record_count', type: 'integer' }] },
          timeoutMs: 600_000,
          handler: async (ctx, args) => {
            const report = await ctx.iasql.uninstall(args.modules as string[]);
            return report.tables.map((t) => ({ module_name: t.module, dropped_table_name: t.table, record_count: t.records }));
          },
        },
        iasql_upgrade: {
          description: 'Upgrades every installed module to its latest version, data kept in place, in one transaction',
          example: 'SELECT * FROM iasql_upgrade();',
          returns: { table: [{ name: 'module_name', type: 'text' }, { name: 'from_version', type: 'text' }, { name: 'to_version', type: 'text' }] },
          timeoutMs: 600_000,
          handler: async (ctx) => {
            const report = await ctx.iasql.upgrade();
            return [
              ...report.upgraded.map((u) => ({ module_name: u.module, from_version: u.from, to_version: u.to })),
              ...report.installed.map((i) => ({ module_name: i.module, from_version: null, to_version: i.version })),
            ];
          },
        },
        iasql_modules_list: {
          description: 'Every module the engine can install, at its latest version, with its dependencies',
          example: 'SELECT * FROM iasql_modules_list();',
          returns: { table: [{ name: 'module_name', type: 'text' }, { name: 'module_version', type: 'text' }, { name: 'dependencies', type: 'text[]' }] },
          handler: async (ctx) =>
            ctx.iasql.available().map((m) => ({ module_name: m.name, module_version: m.latest, dependencies: m.dependencies })),
        },
        iasql_version: {
          description: 'Version of the iasql engine serving this database',
          example: 'SELECT iasql_version();',
          returns: { scalar: 'text' },
          handler: async (ctx) => ctx.iasql.version,
        },
      },
    },
  ],
});
