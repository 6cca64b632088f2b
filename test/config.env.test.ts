import { loadConfig } from '../src/config';

describe('configuration from the environment', () => {
  test('an empty IASQL_DEFAULT_DATABASE means no first database; unset means iasql', () => {
    expect(loadConfig({ IASQL_DEFAULT_DATABASE: '' }).defaultDatabase).toBe('');
    expect(loadConfig({}).defaultDatabase).toBe('iasql');
  });

  test('LOG_FORMAT: auto by default, json or pretty when set, anything else named in the error', () => {
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({ LOG_FORMAT: '' }).logFormat).toBe('auto');
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow('LOG_FORMAT: LOG_FORMAT must be auto, json or pretty');
  });

  test('IASQL_LOCAL_CLOUD: on by default without DATABASE_URL, off with it; true, false and memory force it', () => {
    const url = 'postgres://u:p@h/db';
    expect(loadConfig({})).toMatchObject({ localCloud: 'disk', localCloudPort: 4566 });
    expect(loadConfig({ DATABASE_URL: '' }).localCloud).toBe('disk');
    expect(loadConfig({ DATABASE_URL: url }).localCloud).toBe('off');
    expect(loadConfig({ DATABASE_URL: url, IASQL_LOCAL_CLOUD: 'true' }).localCloud).toBe('disk');
    expect(loadConfig({ IASQL_LOCAL_CLOUD: 'false' }).localCloud).toBe('off');
    expect(loadConfig({ IASQL_LOCAL_CLOUD: 'memory', IASQL_LOCAL_CLOUD_PORT: '0' })).toMatchObject({ localCloud: 'memory', localCloudPort: 0 });
    expect(() => loadConfig({ IASQL_LOCAL_CLOUD: 'on' })).toThrow('IASQL_LOCAL_CLOUD: IASQL_LOCAL_CLOUD must be true, false or memory');
  });

  test('IASQL_LOCAL_CLOUD_INVOKE: trusted by default, refused when set, anything else named in the error', () => {
    expect(loadConfig({}).localCloudInvoke).toBe('trusted');
    expect(loadConfig({ IASQL_LOCAL_CLOUD_INVOKE: 'refused' }).localCloudInvoke).toBe('refused');
    expect(() => loadConfig({ IASQL_LOCAL_CLOUD_INVOKE: 'sandboxed' })).toThrow('IASQL_LOCAL_CLOUD_INVOKE: IASQL_LOCAL_CLOUD_INVOKE must be trusted or refused');
  });

  test('IASQL_LOCAL_CLOUD_PROPAGATION_MS: off (0) by default, a delay in ms when set, bad values named in the error', () => {
    expect(loadConfig({}).localCloudPropagationMs).toBe(0);
    expect(loadConfig({ IASQL_LOCAL_CLOUD_PROPAGATION_MS: '2000' }).localCloudPropagationMs).toBe(2000);
    expect(() => loadConfig({ IASQL_LOCAL_CLOUD_PROPAGATION_MS: 'soon' })).toThrow('IASQL_LOCAL_CLOUD_PROPAGATION_MS: IASQL_LOCAL_CLOUD_PROPAGATION_MS must be a whole number');
    expect(() => loadConfig({ IASQL_LOCAL_CLOUD_PROPAGATION_MS: '-1' })).toThrow('IASQL_LOCAL_CLOUD_PROPAGATION_MS must be at least 0');
    expect(() => loadConfig({ IASQL_LOCAL_CLOUD_PROPAGATION_MS: '3600000' })).toThrow('IASQL_LOCAL_CLOUD_PROPAGATION_MS must be at most 600000 (10 minutes)');
  });
});
