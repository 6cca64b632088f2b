import { defineModule } from '../../../src/modules/define';

// Benchmark module: an rpc that does nothing, and one that sleeps.
export default defineModule({
  name: 'bench_rpc',
  description: 'Benchmark module: no-op and sleeping rpc methods',
  dir: __dirname,
  versions: [
    {
      version: '0.1.0',
      rpc: {
        bench_noop: { description: 'Does nothing', returns: { scalar: 'integer' }, handler: () => 1 },
        bench_sleep: {
          description: 'Sleeps ms milliseconds',
          args: [{ name: 'ms', type: 'integer' }],
          returns: { scalar: 'integer' },
          handler: (_ctx, a) => new Promise((resolve) => setTimeout(() => resolve(a.ms), a.ms as number)),
        },
      },
    },
  ],
});
