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
});
