import { defineModule } from '../../src/modules/define';
import { LambdaFunction } from './0.1.0/entities';
import { lambdaFunction } from './mapper';
import { invokeLambdaFunction, lambdaZip } from './rpc';

/**
 * Lambda functions as rows (create with a zip, code and configuration updates, tags, delete,
 * import from every enabled region), plus invoke_lambda_function and lambda_zip from SQL.
 */
export default defineModule({
  name: 'aws_lambda',
  description: 'Lambda functions; invoke them and build their zips from SQL',
  dir: __dirname,
  versions: [
    {
      version: '0.1.0',
      dependencies: ['aws_account', 'aws_iam'],
      entities: [LambdaFunction],
      sql: { afterInstall: '0.1.0/after_install.sql', beforeUninstall: '0.1.0/before_uninstall.sql' },
      cloud: [lambdaFunction],
      rpc: { invoke_lambda_function: invokeLambdaFunction, lambda_zip: lambdaZip },
    },
    {
      // Runtimes, reserved environment variables and variable names checked as Lambda checks them.
      version: '0.2.0',
      dependencies: ['aws_account', 'aws_iam'],
      entities: [LambdaFunction],
      sql: { afterInstall: '0.2.0/after_install.sql', beforeUninstall: '0.2.0/before_uninstall.sql' },
      cloud: [lambdaFunction],
      rpc: { invoke_lambda_function: invokeLambdaFunction, lambda_zip: lambdaZip },
    },
  ],
});
