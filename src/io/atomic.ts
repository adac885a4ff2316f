import { randomBytes } from 'node:crypto';
import { copyFile, link, lstat, mkdir, open, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { dirname, basename, join, relative } from 'node:path';
import { DiskFullError, FileWriteError } from '../errors.js';

/** errno codes meaning "no room": disk full, the process's file-size limit (RLIMIT_FSIZE), a quota. */
const DISK_FULL = new Set(['ENOSPC', 'EFBIG', 'EDQUOT']);

/**
 * `err` from writing `file` as a typed error naming `file` (the path the caller asked for, not a temp name):
 * DiskFullError for ENOSPC/EFBIG/EDQUOT, FileWriteError for other errno failures; anything else unchanged.
 */
export function asWriteError(err: unknown, file: string): unknown {
  if (err instanceof FileWriteError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return err;
  if (DISK_FULL.has(code)) {
    const why = code === 'EFBIG' ? 'file too large for this process or file system (EFBIG)' : `disk full (${code})`;
    return new DiskFullError(`${why} while writing; the previous version, if any, is unchanged`, file, code, { cause: err });
  }
  return new FileWriteError(`cannot write (${code}): ${(err as Error).message}`, file, code, { cause: err });
}

/** A FileWriteError about a path under `from` re-pointed at the same path under `to` (staging -> final names). */
export function relocateWriteError(err: unknown, from: string, to: string): unknown {
  if (!(err instanceof FileWriteError)) return err;
  const rel = relative(from, err.file);
  if (rel.startsWith('..')) return err;
  const Cls = err instanceof DiskFullError ? DiskFullError : FileWriteError;
  const file = join(to, rel);
  return new Cls(err.message.slice(err.file.length + 2), file, err.code, { cause: err.cause });
}

async function fsyncDir(dir: string): Promise<void> {
  // Not all file systems allow opening a directory for fsync; best effort.
  const dh = await open(dir, 'r').catch(() => undefined);
  if (dh) {
    await dh.sync().catch(() => {});
    await dh.close();
  }
}

/**
 * Write a file so that readers see either the old content or the new content, never a torn file:
 * write to a temp file in the same directory, fsync it, rename over the target, then fsync the directory.
 * Failures are typed (DiskFullError / FileWriteError naming `path`); the temp file is removed.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array | Iterable<Uint8Array>): Promise<void> {
  const dir = dirname(path);
  // The temp name must fit NAME_MAX (255) even when the target's name nearly fills it.
  const tmp = join(dir, `.${basename(path).slice(0, 200)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'wx');
    try {
      const chunks = typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
      // FileHandle.write may write part of a chunk (a file-size limit or a full disk first shortens a write,
      // and only the next one fails): loop until every byte is written.
      for (const chunk of chunks) {
        for (let off = 0; off < chunk.byteLength; ) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
          if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'ENOSPC' });
          off += bytesWritten;
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw asWriteError(err, path);
  }
  await fsyncDir(dir);
}

/** JSON with a trailing newline, written atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

// ---------------------------------------------------------------------------------------------
// Multi-file folders: build the new version in a staging folder beside the target, then swap by rename.
//
//   .<name>.staging-<id>/   the new version being written (ignored by every reader)
//   .<name>.old-<id>/       the previous version, moved aside only once the staging folder is complete
//
// Commit = rename target -> old-<id>, rename staging-<id> -> target, delete old-<id>. A crash before the
// first rename leaves the target untouched; between the two renames, the target is missing but both
// complete versions exist, and `recoverStagedDir` finishes the swap (the staging one is complete because
// old-<id> exists); after the second, only the deletion of old-<id> is left.

const STAGING = /^\.(.+)\.(staging|old|trash)-([0-9a-z-]+)$/;

/** A fresh staging folder name beside `target`. */
export function stagingDirFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** True for names of staging, old or trash folders (readers skip them). */
export function isStagingName(name: string): boolean {
  return STAGING.test(name);
}

/** Replaces `target` by the complete folder `staging` (made by `stagingDirFor(target)`). */
export async function commitStagedDir(staging: string, target: string): Promise<void> {
  const m = STAGING.exec(basename(staging));
  if (!m || m[2] !== 'staging' || m[1] !== basename(target) || dirname(staging) !== dirname(target)) {
    throw new Error(`internal: ${staging} is not a staging folder for ${target}`);
  }
  await fsyncDir(staging);
  const old = join(dirname(target), `.${basename(target)}.old-${m[3]}`);
  let moved = true;
  await rename(target, old).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    moved = false;
  });
  await rename(staging, target);
  await fsyncDir(dirname(target));
  if (moved) await rm(old, { recursive: true, force: true });
}

/**
 * Finishes a swap interrupted between its two renames (target missing, `.old-<id>` present): the matching
 * staging folder is complete, so it becomes the target; without it the old version is put back.
 * Returns what it found. Safe to call when nothing was interrupted.
 */
export async function recoverStagedDir(target: string): Promise<'intact' | 'missing' | 'rolled-forward' | 'rolled-back'> {
  if (await lstat(target).then(() => true, () => false)) return 'intact';
  const parent = dirname(target);
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const n of names) {
    const m = STAGING.exec(n);
    if (!m || m[1] !== basename(target) || m[2] !== 'old') continue;
    const staging = join(parent, `.${m[1]}.staging-${m[3]}`);
    const old = join(parent, n);
    try {
      if (names.includes(basename(staging))) {
        await rename(staging, target);
        await rm(old, { recursive: true, force: true });
        return 'rolled-forward';
      }
      await rename(old, target);
      return 'rolled-back';
    } catch (err) {
      // Another process finished the swap first.
      if (await lstat(target).then(() => true, () => false)) return 'intact';
      throw err;
    }
  }
  return 'missing';
}

/** Deletes staging/old/trash folders of `target` left by killed writers (call with a single writer only). */
export async function removeStagingLeftovers(target: string): Promise<void> {
  const parent = dirname(target);
  for (const n of await readdir(parent).catch(() => [] as string[])) {
    const m = STAGING.exec(n);
    if (m && m[1] === basename(target)) await rm(join(parent, n), { recursive: true, force: true });
  }
}

/** Removes a folder so that no half-deleted copy stays visible: rename it to a hidden trash name, then delete. */
export async function removeDirByRename(dir: string): Promise<void> {
  const trash = join(dirname(dir), `.${basename(dir)}.trash-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await rename(dir, trash);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await fsyncDir(dirname(dir));
  await rm(trash, { recursive: true, force: true });
}

/** Hard-links (copies where links fail) the tree `src` into `dst`, skipping top-level names in `skip`. */
export async function linkTree(src: string, dst: string, skip: (name: string) => boolean = () => false): Promise<void> {
  for (const name of await readdir(src)) {
    if (skip(name)) continue;
    const from = join(src, name);
    const to = join(dst, name);
    const st = await lstat(from);
    if (st.isDirectory()) {
      await mkdir(to);
      await linkTree(from, to);
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else {
      await link(from, to).catch(() => copyFile(from, to));
    }
  }
}
