/**
 * `hf://org/repo[@rev]` -> a local snapshot folder, downloaded through `@huggingface/hub` into a cache laid
 * out like huggingface_hub's (docs/reliability.md):
 *   models--org--repo/blobs/<etag>                      content, named by sha256 (LFS) or git blob sha1
 *   models--org--repo/snapshots/<commit>/<path>          relative symlink to ../../blobs/<etag> (copy if no symlinks)
 *   models--org--repo/refs/<rev>                         the commit hash, written atomically after the snapshot is complete
 * Added over `@huggingface/hub`'s own cache code: every name (repo id, revision, file path, etag) is validated
 * before any file-system call; each download goes to a process-unique `<etag>.<rand>.incomplete`, is checked
 * for size and hash (sha256 for LFS, git blob sha1 otherwise) and only then renamed into place; refs are
 * written atomically and last, so a ref always points at a complete snapshot. Only safetensors, JSON and
 * tokenizer files are fetched; pickle weights never are.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, lstat, mkdir, open, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { listFiles, modelInfo, downloadFile } from '@huggingface/hub';
import { HubError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { throwIfAborted, type ProgressCallback } from '../progress/index.js';
import { safeJoin, unsafeFilenameReason } from './paths.js';

export interface HubRef {
  readonly repo: string;
  /** Branch, tag or commit; 'main' when omitted. */
  readonly revision: string;
}

const REPO_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;
const COMMIT = /^[0-9a-f]{40}$/;

function checkRepo(repo: string, source: string): void {
  const parts = repo.split('/');
  if (parts.length !== 2 || !parts.every((p) => REPO_PART.test(p) && !p.includes('--') && !p.includes('..'))) {
    throw new HubError(`invalid repo id '${repo}' (expected org/name: letters, digits, '-', '_', '.')`, source);
  }
}

function checkRevision(rev: string, repo: string): void {
  const why = unsafeFilenameReason(rev) ?? (/^[A-Za-z0-9._/-]+$/.test(rev) ? undefined : 'characters outside [A-Za-z0-9._/-]');
  if (why) throw new HubError(`invalid revision '${rev}': ${why}`, repo);
}

/** Parses `hf://org/repo` or `hf://org/repo@rev` (rev may be a branch, tag, `refs/pr/N` or commit). */
export function parseHubRef(ref: string): HubRef {
  const m = /^hf:\/\/([^@]+)(?:@(.+))?$/.exec(ref);
  if (!m) throw new HubError(`not a Hub reference (expected hf://org/repo[@revision])`, ref);
  const repo = m[1] as string;
  const revision = m[2] ?? 'main';
  checkRepo(repo, ref);
  checkRevision(revision, repo);
  return { repo, revision };
}

export interface ResolveOptions {
  /** Cache root; default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  readonly cacheDir?: string;
  /** Resolve from the cache only; default from HF_HUB_OFFLINE. */
  readonly offline?: boolean;
  /** Hub URL; default HF_ENDPOINT or https://huggingface.co. */
  readonly endpoint?: string;
  /** Access token; default HF_TOKEN. */
  readonly token?: string;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressCallback;
}

export function defaultCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return resolve(process.env.HF_HUB_CACHE);
  if (process.env.HF_HOME) return resolve(process.env.HF_HOME, 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

function envOffline(): boolean {
  return ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
}

/** Files worth downloading for a model: weights in safetensors, JSON configs, tokenizer files. Never pickle. */
export function isWantedFile(path: string): boolean {
  const base = posix.basename(path);
  return /\.(safetensors|json)$/.test(base) || base === 'tokenizer.model';
}

function repoCacheDir(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.replace('/', '--')}`);
}

async function snapshotFromCache(repoDir: string, ref: HubRef): Promise<string | undefined> {
  let commit = ref.revision;
  if (!COMMIT.test(commit)) {
    try {
      commit = (await readFile(join(repoDir, 'refs', ref.revision), 'utf8')).trim();
    } catch {
      return undefined;
    }
    if (!COMMIT.test(commit)) throw new HubError(`cache ref refs/${ref.revision} holds '${commit}', not a commit hash`, ref.repo);
  }
  const snap = join(repoDir, 'snapshots', commit);
  return existsSync(join(snap, 'config.json')) ? snap : undefined;
}

/**
 * A local folder for `source`: a path is returned resolved; `hf://...` is downloaded (or found in the cache)
 * and its snapshot folder returned.
 */
export async function resolveModelSource(source: string, opts: ResolveOptions = {}): Promise<string> {
  if (!source.startsWith('hf://')) return resolve(source);
  const ref = parseHubRef(source);
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  const repoDir = repoCacheDir(cacheDir, ref.repo);
  const offline = opts.offline ?? envOffline();

  // A pinned commit already in the cache needs no network; a branch is re-resolved unless offline.
  if (offline || COMMIT.test(ref.revision)) {
    const hit = await snapshotFromCache(repoDir, ref);
    if (hit) return hit;
    if (offline) {
      throw new HubError(`revision '${ref.revision}' is not in the cache at ${repoDir} and offline mode is on (HF_HUB_OFFLINE); download it once online`, ref.repo);
    }
  }

  const base = opts.fetch ?? fetch;
  const signal = opts.signal;
  const fetchWithSignal: typeof fetch = (input, init) => base(input, { ...init, ...(signal ? { signal } : {}) });
  const common = {
    repo: ref.repo,
    hubUrl: (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''),
    fetch: fetchWithSignal,
    ...((opts.token ?? process.env.HF_TOKEN) ? { accessToken: opts.token ?? process.env.HF_TOKEN } : {}),
  };

  let commit: string;
  try {
    const info = await modelInfo({ ...common, name: ref.repo, revision: ref.revision, additionalFields: ['sha'] });
    commit = String((info as { sha?: unknown }).sha ?? '');
  } catch (err) {
    throwIfAborted(signal);
    throw new HubError(`cannot resolve revision '${ref.revision}': ${(err as Error).message}`, ref.repo, undefined, { cause: err });
  }
  if (!COMMIT.test(commit)) throw new HubError(`the Hub answered commit '${commit}' for '${ref.revision}', not a 40-hex hash`, ref.repo);

  interface Entry { path: string; size: number; etag: string; algo: 'sha256' | 'git-sha1' }
  const entries: Entry[] = [];
  try {
    for await (const f of listFiles({ ...common, revision: commit, recursive: true })) {
      if (f.type !== 'file' || !isWantedFile(f.path)) continue;
      const why = unsafeFilenameReason(f.path);
      if (why) throw new HubError(`unsafe file name in repo listing: ${why}`, ref.repo, JSON.stringify(f.path));
      const etag = f.lfs?.oid ?? f.oid ?? '';
      const algo = f.lfs ? 'sha256' : 'git-sha1';
      if (!(algo === 'sha256' ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{40}$/).test(etag)) {
        throw new HubError(`file has no usable ${algo} id ('${etag}')`, ref.repo, f.path);
      }
      entries.push({ path: f.path, size: f.lfs?.size ?? f.size, etag, algo });
    }
  } catch (err) {
    if (err instanceof HubError) throw err;
    throwIfAborted(signal);
    throw new HubError(`cannot list files at ${commit}: ${(err as Error).message}`, ref.repo, undefined, { cause: err });
  }
  if (!entries.some((e) => e.path === 'config.json')) throw new HubError('repo has no config.json', ref.repo);
  if (!entries.some((e) => e.path.endsWith('.safetensors'))) {
    throw new HubError('repo has no .safetensors weights (pickle .bin files are never downloaded)', ref.repo);
  }

  const blobs = join(repoDir, 'blobs');
  const snap = join(repoDir, 'snapshots', commit);
  await mkdir(blobs, { recursive: true });
  const total = entries.reduce((a, e) => a + e.size, 0);
  let done = 0;
  for (const e of entries) {
    throwIfAborted(signal, done);
    const blob = join(blobs, e.etag);
    const linkPath = safeJoin(snap, e.path);
    if (typeof linkPath !== 'string') throw new HubError(`unsafe file name: ${linkPath.error}`, ref.repo, e.path);
    const have = await stat(blob).catch(() => undefined);
    if (!have || have.size !== e.size) {
      await downloadBlob(common, commit, e, blob, signal, (n) => opts.onProgress?.({ phase: 'download', done: done + n, total }));
    }
    done += e.size;
    opts.onProgress?.({ phase: 'download', done, total });
    await linkIntoSnapshot(blob, linkPath);
  }
  if (ref.revision !== commit) await writeFileAtomic(join(repoDir, 'refs', ref.revision), commit);
  return snap;
}

async function downloadBlob(
  common: { repo: string; hubUrl: string; fetch: typeof fetch; accessToken?: string },
  commit: string,
  e: { path: string; size: number; etag: string; algo: 'sha256' | 'git-sha1' },
  blob: string,
  signal: AbortSignal | undefined,
  progress: (bytes: number) => void,
): Promise<void> {
  const tmp = `${blob}.${randomBytes(4).toString('hex')}.incomplete`;
  const hash = createHash(e.algo === 'sha256' ? 'sha256' : 'sha1');
  if (e.algo === 'git-sha1') hash.update(`blob ${e.size}\0`);
  let bytes = 0;
  try {
    const remote = await downloadFile({ ...common, path: e.path, revision: commit, xet: false });
    if (!remote) throw new HubError('file listed but not found on download', common.repo, e.path);
    const out = createWriteStream(tmp, { flags: 'wx' });
    const opened = new Promise<void>((res, rej) => out.once('open', () => res()).once('error', rej));
    await opened;
    try {
      const reader = remote.stream().getReader();
      for (;;) {
        throwIfAborted(signal, bytes);
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        bytes += value.length;
        if (bytes > e.size) throw new HubError(`server sent more than the listed ${e.size} bytes`, common.repo, e.path);
        if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
        progress(bytes);
      }
    } finally {
      await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
    }
    if (bytes !== e.size) throw new HubError(`consistency check failed: got ${bytes} bytes, expected ${e.size}`, common.repo, e.path);
    const digest = hash.digest('hex');
    if (digest !== e.etag) throw new HubError(`${e.algo} mismatch: got ${digest}, expected ${e.etag}`, common.repo, e.path);
    // fsync before the rename so a crash never exposes a blob whose bytes are not on disk.
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    await rename(tmp, blob);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof HubError || (err as Error).name === 'AbortedError') throw err;
    throwIfAborted(signal, bytes);
    throw new HubError(`download failed: ${(err as Error).message}`, common.repo, e.path, { cause: err });
  }
}

/** snapshots/<commit>/<path> -> relative symlink to the blob, made atomically (temp link + rename); copy without symlinks. */
async function linkIntoSnapshot(blob: string, linkPath: string): Promise<void> {
  await mkdir(dirname(linkPath), { recursive: true });
  const target = relative(dirname(linkPath), blob);
  const existing = await lstat(linkPath).catch(() => undefined);
  if (existing) {
    const same = await stat(linkPath).then((s) => s.size).catch(() => -1);
    const blobSize = (await stat(blob)).size;
    if (same === blobSize) return;
  }
  const tmp = `${linkPath}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await symlink(target, tmp);
  } catch {
    await copyFile(blob, tmp);
  }
  try {
    await rename(tmp, linkPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
