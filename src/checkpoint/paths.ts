/**
 * Validation of file names that come from untrusted sources (a shard index, a Hub repo listing) before
 * they are joined to a local directory. Rules follow huggingface_hub `_local_folder.py`
 * `_validate_relative_filename` under both POSIX and Windows readings (docs/reliability.md):
 * no `..` segment, nothing absolute, no drive, drive-relative, UNC or root-relative name.
 * Stricter on purpose: empty and `.` segments, backslashes and control characters are refused too.
 */
import { isWellFormedUnicode } from './json.js';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** Returns undefined when `name` is a safe relative file name, else the reason it is not. */
export function unsafeFilenameReason(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'empty name';
  if (!isWellFormedUnicode(name)) return 'not valid Unicode';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'control character in name';
  if (name.includes('\\')) return 'backslash in name (Windows separator)';
  if (name.startsWith('/')) return 'absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'drive letter';
  if (isAbsolute(name)) return 'absolute path';
  for (const seg of name.split('/')) {
    if (seg === '') return 'empty path segment';
    if (seg === '.' || seg === '..') return `'${seg}' path segment`;
    // A segment "C:" or one ending in dots/spaces means something else on Windows.
    if (/:/.test(seg)) return "':' in path segment";
  }
  return undefined;
}

/** Joins `name` under `root` after validating it, and checks the result stays inside `root`. */
export function safeJoin(root: string, name: string): string | { error: string } {
  const why = unsafeFilenameReason(name);
  if (why) return { error: why };
  const full = resolve(root, name);
  const rel = relative(resolve(root), full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) return { error: 'escapes its directory' };
  return full;
}
