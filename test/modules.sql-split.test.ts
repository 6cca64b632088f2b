import { splitSql } from '../src/modules/sql-split';

describe('splitSql', () => {
  test('splits on semicolons and reports the line each statement starts on, skipping comments', () => {
    const sql = "-- header\nCREATE TABLE a (x int);\n\n/* block */ INSERT INTO a VALUES (1);\nSELECT 1";
    expect(splitSql(sql)).toEqual([
      { text: 'CREATE TABLE a (x int)', line: 2 },
      { text: 'INSERT INTO a VALUES (1)', line: 4 },
      { text: 'SELECT 1', line: 5 },
    ]);
  });

  test('keeps semicolons inside strings, identifiers, dollar quotes and comments', () => {
    const sql = [
      "INSERT INTO t VALUES ('a;b', 'it''s; fine', E'x\\';y');",
      'CREATE TABLE "odd;name" (x int);',
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN PERFORM 1; RETURN 2; END $body$;',
      'DO $$ BEGIN NULL; END $$;',
      'SELECT 1 /* a; /* nested; */ b; */ + 1;',
      '-- trailing; comment',
    ].join('\n');
    expect(splitSql(sql).map((s) => s.text)).toEqual([
      "INSERT INTO t VALUES ('a;b', 'it''s; fine', E'x\\';y')",
      'CREATE TABLE "odd;name" (x int)',
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN PERFORM 1; RETURN 2; END $body$',
      'DO $$ BEGIN NULL; END $$',
      'SELECT 1 /* a; /* nested; */ b; */ + 1',
    ]);
  });

  test('a file of comments only has no statements', () => {
    expect(splitSql('-- nothing here\n/* nor here */\n')).toEqual([]);
  });

  test('$1 parameters are not dollar quotes', () => {
    expect(splitSql('SELECT $1; SELECT 2').map((s) => s.text)).toEqual(['SELECT $1', 'SELECT 2']);
  });
});
