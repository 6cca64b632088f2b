import { defineModule } from '../../src/modules/define';

/** The iasql_* functions of the psql surface. Installed in every database. */
export default defineModule({
  name: 'iasql_functions',
  description: 'The iasql_* functions: what is installed, what can be installed',
  dir: __dirname,
  versions: [
    {
      version: '0.1.0',
      dependencies: ['iasql_platform'],
      sql: { afterInstall: '0.1.0/after_install.sql', beforeUninstall: '0.1.0/before_uninstall.sql' },
    },
  ],
});
