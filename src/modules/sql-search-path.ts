/** The schemas a module function may put on its search_path: nothing a tenant can create in. */
const ALLOWED = new Set(['pg_catalog', 'pg_temp']);

/** One `search_path = ...` (or `TO`) found in module SQL: the schemas it names, as Postgres reads them. */
export interface SearchPathSetting {
  /** 1-based line of `search_path`. */
  line: number;
  /** The values as written, joined: what a message shows. */
  written: string;
  /** Each schema as Postgres resolves it (unquoted names folded to lower case; DEFAULT as `default`). */
  schemas: string[];
}

/**
 * Every search_path setting in `sql`: `SET search_path = a, b` / `TO`, in a function's SET clause
 * or a statement (also inside $tag$ bodies, where a `SET LOCAL` would run with the engine's
 * rights), and `set_config('search_path', '...', ...)`. The value list is parsed as Postgres parses
 * it, item by item (an unquoted name, a "quoted" one, a 'string' that holds a list of its own, or
 * DEFAULT), so whatever follows it on the line (`AS $$`, `LANGUAGE sql`) is not read as a schema.
 * Comments are skipped.
 */
export function searchPathSettings(sql: string): SearchPathSetting[] {
  const text = withoutComments(sql);
  const found: SearchPathSetting[] = [];
  const lineAt = (i: number) => text.slice(0, i).split('\n').length;
  for (const m of text.matchAll(/\bsearch_path\s*(?:=|\bto\b)\s*/gi)) {
    const start = m.index! + m[0].length;
    const { items, end } = parseValueList(text, start);
    found.push({ line: lineAt(m.index!), written: text.slice(start, end).trim(), schemas: items.flatMap(schemasOf) });
  }
  for (const m of text.matchAll(/\bset_config\s*\(\s*'search_path'\s*,\s*/gi)) {
    const start = m.index! + m[0].length;
    const { items, end } = parseValueList(text, start, true);
    found.push({ line: lineAt(m.index!), written: text.slice(start, end).trim(), schemas: items.flatMap(schemasOf) });
  }
  return found;
}

/** The settings of `sql` that name a schema other than pg_catalog and pg_temp. */
export function unsafeSearchPaths(sql: string): SearchPathSetting[] {
  return searchPathSettings(sql).filter((s) => s.schemas.length === 0 || s.schemas.some((x) => !ALLOWED.has(x)));
}

type Item = { kind: 'name' | 'quoted' | 'string'; value: string };

/** Items of a comma-separated value list from `i`; with `one`, a single item (a function argument). */
function parseValueList(text: string, i: number, one = false): { items: Item[]; end: number } {
  const items: Item[] = [];
  let end = i;
  for (;;) {
    while (/\s/.test(text[i] ?? '')) i++;
    const item = readItem(text, i);
    if (!item) break;
    items.push(item.item);
    i = end = item.end;
    if (one) break;
    let j = i;
    while (/\s/.test(text[j] ?? '')) j++;
    if (text[j] !== ',') break;
    i = j + 1;
  }
  return { items, end };
}

function readItem(text: string, i: number): { item: Item; end: number } | undefined {
  const c = text[i];
  if (c === "'" || c === '"') {
    let value = '';
    let j = i + 1;
    for (; j < text.length; j++) {
      if (text[j] === c) {
        if (text[j + 1] === c) {
          value += c;
          j++;
          continue;
        }
        return { item: { kind: c === "'" ? 'string' : 'quoted', value }, end: j + 1 };
      }
      value += text[j];
    }
    return { item: { kind: c === "'" ? 'string' : 'quoted', value }, end: j };
  }
  const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(text.slice(i));
  return word ? { item: { kind: 'name', value: word[0] }, end: i + word[0].length } : undefined;
}

/** The schemas one item names: a 'string' holds a list of its own (`'pg_catalog, "$user"'`). */
function schemasOf(item: Item): string[] {
  if (item.kind === 'name') return [item.value.toLowerCase()];
  if (item.kind === 'quoted') return [item.value];
  return parseValueList(item.value, 0).items.flatMap((inner) => (inner.kind === 'string' ? [inner.value] : schemasOf(inner)));
}

/** `sql` with -- and /* *\/ comments blanked (newlines kept, so lines still count), strings and bodies left as they are. */
function withoutComments(sql: string): string {
  let out = '';
  for (let i = 0; i < sql.length; ) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const close = closing(sql, i, c);
      out += sql.slice(i, close);
      i = close;
    } else if (sql.startsWith('--', i)) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl;
    } else if (sql.startsWith('/*', i)) {
      const close = sql.indexOf('*/', i + 2);
      const end = close < 0 ? sql.length : close + 2;
      out += sql.slice(i, end).replace(/[^\n]/g, ' ');
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Index just past the quote closing the one at `i` ('' and "" are escapes). */
function closing(sql: string, i: number, quote: string): number {
  for (let j = i + 1; j < sql.length; j++) {
    if (sql[j] === quote) {
      if (sql[j + 1] === quote) j++;
      else return j + 1;
    }
  }
  return sql.length;
}
