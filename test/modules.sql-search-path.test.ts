import { searchPathSettings, unsafeSearchPaths } from '../src/modules/sql-search-path';

/**
 * What the registry reads of a module's SQL: each search_path it sets, parsed as Postgres parses
 * the value list, so that the legal spellings of the safe path pass and anything naming another
 * schema is refused with the line. No engine, no Postgres.
 */

const schemas = (sql: string) => searchPathSettings(sql).map((s) => s.schemas);

describe('searchPathSettings', () => {
  test.each([
    ['= on one line, AS $$ after it', `CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$ BEGIN RETURN 1; END $$;`],
    ['TO', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path TO pg_catalog, pg_temp AS 'select 1';`],
    ['to in lower case, no spaces around the comma', `create function public.f() returns int language sql set search_path to pg_catalog,pg_temp as 'select 1';`],
    ['one quoted string', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = 'pg_catalog, pg_temp' AS 'select 1';`],
    ['quoted strings, one per schema', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = 'pg_catalog', 'pg_temp' AS 'select 1';`],
    ['quoted identifiers', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = "pg_catalog", "pg_temp" AS 'select 1';`],
    ['upper-case names', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET SEARCH_PATH = PG_CATALOG, PG_TEMP AS 'select 1';`],
    ['several lines', `CREATE FUNCTION public.f() RETURNS int\n  LANGUAGE plpgsql\n  SET search_path =\n    pg_catalog,\n    pg_temp\n  AS $$ BEGIN RETURN 1; END $$;`],
    ['a $fn$ tag after it, LANGUAGE last', `CREATE FUNCTION public.f() RETURNS int SET search_path = pg_catalog, pg_temp AS $fn$ BEGIN RETURN 1; END $fn$ LANGUAGE plpgsql;`],
    ['pg_catalog alone', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = pg_catalog AS 'select 1';`],
  ])('the safe path, %s: accepted', (_name, sql) => {
    expect(unsafeSearchPaths(sql)).toEqual([]);
    expect(searchPathSettings(sql)).toHaveLength(1);
  });

  test.each([
    ['public first', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = public, pg_temp AS 'select 1';`, ['public', 'pg_temp'], 'public, pg_temp'],
    ['public after, AS on the line', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = pg_catalog, public AS 'select 1';`, ['pg_catalog', 'public'], 'pg_catalog, public'],
    ['"$user" in a string', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = 'pg_catalog, "$user"' AS 'select 1';`, ['pg_catalog', '$user'], `'pg_catalog, "$user"'`],
    ['DEFAULT (the server\'s: "$user", public)', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path TO DEFAULT AS 'select 1';`, ['default'], 'DEFAULT'],
    ['SET LOCAL inside a body', `CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN SET LOCAL search_path = public; RETURN 1; END $$;`, ['public'], 'public'],
    ['set_config inside a body', `CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('search_path', 'public, pg_temp', true); RETURN 1; END $$;`, ['public', 'pg_temp'], "'public, pg_temp'"],
    ['a quoted "Public" (another schema)', `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = pg_catalog, "Public" AS 'select 1';`, ['pg_catalog', 'Public'], 'pg_catalog, "Public"'],
  ])('%s: refused, naming what it sets', (_name, sql, expected, written) => {
    expect(unsafeSearchPaths(sql).map((s) => ({ schemas: s.schemas, written: s.written }))).toEqual([{ schemas: expected, written }]);
  });

  test('comments are not read, and the line of each setting is given', () => {
    const sql = [
      '-- an old version had SET search_path = public here',
      '/* SET search_path = public */',
      "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = pg_catalog, pg_temp AS 'select 1';",
      "CREATE FUNCTION public.g() RETURNS int LANGUAGE sql SET search_path = public AS 'select 1';",
    ].join('\n');
    expect(schemas(sql)).toEqual([['pg_catalog', 'pg_temp'], ['public']]);
    expect(unsafeSearchPaths(sql).map((s) => s.line)).toEqual([4]);
  });
});
