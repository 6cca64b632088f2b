/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // graphile-worker is ESM only. Node loads it with require(esm); Jest's module system does so only
    // with --experimental-vm-modules (an experimental warning in every run): compile it to CommonJS.
    '/node_modules/graphile-worker/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', isolatedModules: true, sourceMap: false } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!graphile-worker/)'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  // A test that makes any pg client run two queries at once fails (pg 9 refuses them).
  setupFilesAfterEnv: ['<rootDir>/test/support/no-overlapping-queries.ts'],
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60000,
  // One Postgres cluster serves the whole run; test files are independent and may run in parallel.
  maxWorkers: process.env.CI ? 2 : '50%',
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
