import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzip, unzipSync, type Unzipped } from 'fflate';
import { invalidParameter, LambdaError } from './lambda-validate';

/** Lambda's quotas on a deployment package uploaded directly (not through S3). */
export const MAX_ZIPPED_BYTES = 50 * 1024 * 1024;
export const MAX_UNZIPPED_BYTES = 250 * 1024 * 1024;
/** The largest CreateFunction / UpdateFunctionCode request: a 50 MB zip in base64, in JSON. */
export const MAX_CODE_REQUEST_BYTES = 69905067;

/**
 * The zip of a `ZipFile` field (base64 in the JSON body), checked as Lambda checks it: at most
 * 50 MB, a readable zip, at most 250 MB once unzipped (read from the zip's directory: nothing is
 * inflated here), no entry outside the package root.
 */
export function checkZip(zipBase64: unknown): Buffer {
  if (typeof zipBase64 !== 'string' || zipBase64.length === 0) throw invalidParameter('Please provide a source for function code.');
  const zip = Buffer.from(zipBase64, 'base64');
  if (zip.length > MAX_ZIPPED_BYTES) throw new LambdaError('RequestEntityTooLargeException', 413, `Zipped size must be smaller than ${MAX_ZIPPED_BYTES} bytes`);
  let unzipped = 0;
  let unsafe = false;
  try {
    unzipSync(zip, {
      filter(file) {
        unzipped += file.originalSize;
        unsafe ||= !safeEntry(file.name);
        return false;
      },
    });
  } catch {
    throw invalidParameter('Could not unzip uploaded file. Please check your file, then try to upload again.');
  }
  if (unsafe) throw invalidParameter('Could not unzip uploaded file: an entry points outside the package root.');
  if (unzipped > MAX_UNZIPPED_BYTES) throw invalidParameter(`Unzipped size must be smaller than ${MAX_UNZIPPED_BYTES} bytes`);
  return zip;
}

/** CodeSha256 as Lambda reports it: the base64 SHA-256 of the zip. */
export const codeSha256 = (zip: Buffer) => createHash('sha256').update(zip).digest('base64');

const safeEntry = (name: string) => !path.isAbsolute(name) && !name.split(/[\\/]/).includes('..');

/**
 * Unpacks a zip into `dir` (created; replaced if it exists). Inflating runs off the event loop
 * (fflate's worker threads for large entries), so a big package does not stall the engine.
 */
export async function extractZip(zip: Buffer, dir: string): Promise<void> {
  const files = await new Promise<Unzipped>((resolve, reject) => unzip(zip, (err, data) => (err ? reject(err) : resolve(data))));
  const tmp = `${dir}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o700 });
  for (const [name, data] of Object.entries(files)) {
    if (!safeEntry(name)) continue;
    const target = path.join(tmp, name);
    if (name.endsWith('/')) {
      fs.mkdirSync(target, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, data);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}
