// Lints an OpenAPI document read from stdin with Redocly's linter (@redocly/openapi-core, the
// engine of `redocly lint`) and the repository's redocly.yaml and .redocly.lint-ignore.yaml.
// Prints the problems not accepted in the ignore file as JSON and exits 1 when there are any.
// A separate process because the package is ESM only, which jest's module loader does not run.
// Offline: the document is given as a string and the config has no remote references.
import { loadConfig, lintFromString } from '@redocly/openapi-core';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const configPath = fileURLToPath(new URL('../../redocly.yaml', import.meta.url));
// Where the ignore file's entries point: the document as the engine serves it by default.
const absoluteRef = 'http://127.0.0.1:8088/openapi.json';

const config = await loadConfig({ configPath });
const problems = await lintFromString({ source: readFileSync(0, 'utf8'), absoluteRef, config });
const left = problems
  .map((p) => config.addProblemToIgnore(p))
  .filter((p) => !p.ignored)
  .map((p) => ({ severity: p.severity, ruleId: p.ruleId, message: p.message, pointer: p.location[0]?.pointer }));
process.stdout.write(JSON.stringify(left, null, 2) + '\n');
process.exitCode = left.length ? 1 : 0;
