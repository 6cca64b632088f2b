import { defineModule } from '../../src/modules/define';
import { IamRole } from './0.1.0/entities';
import { iamRole } from './mapper';

/** IAM roles as rows (what Lambda functions need): create, update trust policy, description and attached policies, delete, import. */
export default defineModule({
  name: 'aws_iam',
  description: 'IAM roles',
  dir: __dirname,
  versions: [
    {
      version: '0.1.0',
      dependencies: ['aws_account'],
      entities: [IamRole],
      sql: { afterInstall: '0.1.0/after_install.sql', beforeUninstall: '0.1.0/before_uninstall.sql' },
      cloud: [iamRole],
    },
    {
      // Role names unique regardless of case (as IAM's are), and trust policies checked as IAM checks them.
      version: '0.2.0',
      dependencies: ['aws_account'],
      entities: [IamRole],
      sql: { afterInstall: '0.2.0/after_install.sql', beforeUninstall: '0.2.0/before_uninstall.sql' },
      cloud: [iamRole],
    },
  ],
});
