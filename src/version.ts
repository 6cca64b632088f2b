import * as fs from 'node:fs';
import * as path from 'node:path';

/** The folder holding package.json, from src/ (ts-jest) or dist/src/ (compiled) alike. */
export function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

export const ENGINE_VERSION: string = JSON.parse(
  fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8'),
).version;
