/**
 * Splits a SQL file into statements, so a failing migration can be reported by statement. It
 * understands what may hide a semicolon: '...' strings (with '' escapes), E'...' strings (with
 * backslash escapes), "..." identifiers, $tag$...$tag$ bodies, -- and nested /* *\/ comments.
 * Returns each statement with the line it starts on; empty statements are dropped.
 */
export function splitSql(sql: string): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let start = 0;
  let i = 0;
  // Leading blanks and comments belong to no statement: a statement starts at its first token.
  const skipLeading = (from: number, end: number): number => {
    let p = from;
    for (;;) {
      while (p < end && /\s/.test(sql[p])) p++;
      if (sql.startsWith('--', p)) {
        const nl = sql.indexOf('\n', p);
        p = nl < 0 || nl > end ? end : nl + 1;
      } else if (sql.startsWith('/*', p)) {
        const close = sql.indexOf('*/', p + 2);
        p = close < 0 || close > end ? end : close + 2;
      } else return p;
    }
  };
  const push = (end: number) => {
    const from = skipLeading(start, end);
    const text = sql.slice(from, end).trim();
    if (text) out.push({ text, line: sql.slice(0, from).split('\n').length });
  };
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (c === "'" || c === '"') {
      const backslashes = c === "'" && i > 0 && /[eE]/.test(sql[i - 1]) && !/\w/.test(sql[i - 2] ?? '');
      i++;
      while (i < sql.length) {
        if (backslashes && sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i++;
      }
      i++;
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag && !/[\w$]/.test(sql[i - 1] ?? '')) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? sql.length : end + tag[0].length;
      } else i++;
    } else if (c === ';') {
      push(i);
      start = ++i;
    } else i++;
  }
  push(sql.length);
  return out;
}
