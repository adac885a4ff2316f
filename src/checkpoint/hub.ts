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
 *
 * Network faults, as huggingface_hub handles them: every request has a connect timeout (no response headers
 * in time) and a read timeout (no body bytes for that long): HF_HUB_ETAG_TIMEOUT seconds for metadata
 * requests and HF_HUB_DOWNLOAD_TIMEOUT for file bodies, 10 s each by default. Timeouts, connection errors,
 * 5xx and 429 replies are retried up to 5 times with exponential backoff (1 s doubling, at most 8 s); an
 * interrupted body resumes from the bytes already written with a Range request (a server that ignores the
 * Range and sends the whole file is handled by skipping what is already on disk).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, lstat, mkdir, open, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileDownloadInfo, HubApiError, listFiles, modelInfo } from '@huggingface/hub';
import { FileWriteError, HubError } from '../errors.js';
import { asWriteError, writeFileAtomic } from '../io/atomic.js';
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

/** A revision becomes `refs/<rev>` in the cache: each segment must fit a file name (255 bytes on common file systems). */
const MAX_REVISION_SEGMENT = 255;
const MAX_REVISION = 1024;

function checkRevision(rev: string, repo: string): void {
  const shown = rev.length > 80 ? `${rev.slice(0, 60)}...(${rev.length} characters)` : rev;
  const longest = Math.max(...rev.split('/').map((p) => p.length));
  const why =
    rev.length > MAX_REVISION
      ? `longer than ${MAX_REVISION} characters`
      : longest > MAX_REVISION_SEGMENT
        ? `a path segment of ${longest} characters; at most ${MAX_REVISION_SEGMENT} fit a cache file name (pin the 40-hex commit instead)`
        : (unsafeFilenameReason(rev) ?? (/^[A-Za-z0-9._/-]+$/.test(rev) ? undefined : 'characters outside [A-Za-z0-9._/-]'));
  if (why) throw new HubError(`invalid revision '${shown}': ${why}`, repo);
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
  /** Default from HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT (seconds), else 10 s each. */
  readonly timeouts?: Partial<HubTimeouts>;
  readonly retry?: Partial<RetryOptions>;
}

export interface HubTimeouts {
  /** Connect and read timeout of metadata requests (repo info, listing, file info), ms. */
  readonly etagMs: number;
  /** Connect and read timeout of file downloads, ms. */
  readonly downloadMs: number;
}

export interface RetryOptions {
  /** Retries after the first attempt (huggingface_hub: 5). */
  readonly maxRetries: number;
  /** First wait, doubled after each retry (huggingface_hub: 1 s, at most 8 s). */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = Object.freeze({ maxRetries: 5, baseDelayMs: 1000, maxDelayMs: 8000 });

/** huggingface_hub's timeouts: HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT in seconds, default 10 each. */
export function hubTimeouts(env: Readonly<Record<string, string | undefined>> = process.env): HubTimeouts {
  const read = (name: string): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return 10_000;
    const s = Number(raw);
    if (!Number.isFinite(s) || s <= 0) throw new HubError(`${name}='${raw}' must be a positive number of seconds`);
    return s * 1000;
  };
  return { etagMs: read('HF_HUB_ETAG_TIMEOUT'), downloadMs: read('HF_HUB_DOWNLOAD_TIMEOUT') };
}

/** A request got no response headers (connect) or no body bytes (read) within its timeout. */
export class HubTimeoutError extends HubError {
  constructor(
    readonly phase: 'connect' | 'read',
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(
      phase === 'connect'
        ? `no response from ${url} within ${timeoutMs / 1000} s (connect timeout)`
        : `no data from ${url} for ${timeoutMs / 1000} s (read timeout)`,
    );
  }
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * `fetch` with a connect timeout (time to response headers) and a read timeout (longest wait for the next body
 * chunk), both `ms`; a timeout rejects with HubTimeoutError. `signal` aborts everything.
 */
export function timedFetch(base: typeof fetch, ms: number, signal?: AbortSignal): typeof fetch {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const ctl = new AbortController();
    for (const s of [signal, init.signal]) {
      if (!s) continue;
      if (s.aborted) ctl.abort(s.reason);
      else s.addEventListener('abort', () => ctl.abort(s.reason), { once: true });
    }
    const timeoutOr = (err: unknown) => (ctl.signal.reason instanceof HubTimeoutError ? ctl.signal.reason : err);
    const connect = setTimeout(() => ctl.abort(new HubTimeoutError('connect', url, ms)), ms);
    let res: Response;
    try {
      res = await base(input, { ...init, signal: ctl.signal });
    } catch (err) {
      throw timeoutOr(err);
    } finally {
      clearTimeout(connect);
    }
    if (!res.body || NULL_BODY.has(res.status)) return res;
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        const idle = setTimeout(() => ctl.abort(new HubTimeoutError('read', url, ms)), ms);
        try {
          const { done, value } = await reader.read();
          if (done) c.close();
          else c.enqueue(value);
        } catch (err) {
          c.error(timeoutOr(err));
        } finally {
          clearTimeout(idle);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(out, 'url', { value: res.url });
    return out;
  };
}

/** Timeouts, dropped connections, 5xx and 429 replies are worth another try; anything else is final. */
function isRetryable(err: unknown): boolean {
  if (err instanceof HubTimeoutError) return true;
  if (err instanceof HubApiError) return err.statusCode >= 500 || err.statusCode === 429;
  if (err instanceof HubError || err instanceof FileWriteError || (err as Error | undefined)?.name === 'AbortedError') return false;
  // undici: TypeError('fetch failed') with a cause such as ECONNRESET / ECONNREFUSED / UND_ERR_SOCKET; body errors.
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string } } | undefined;
  return e?.name === 'TypeError' || /terminated|socket|ECONN|EPIPE|ETIMEDOUT|UND_ERR/.test(`${e?.message ?? ''} ${e?.code ?? ''} ${e?.cause?.code ?? ''}`);
}

async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((res) => {
    const t = setTimeout(res, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), res()), { once: true });
  });
  throwIfAborted(signal);
}

/** Runs `fn` until it succeeds, a non-retryable error, or `maxRetries` retries with exponential backoff. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, retry: RetryOptions, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      throwIfAborted(signal);
      if (attempt >= retry.maxRetries || !isRetryable(err)) throw err;
      await sleep(Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt), signal);
    }
  }
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
  const timeouts = { ...hubTimeouts(), ...opts.timeouts };
  const retry = { ...DEFAULT_RETRY, ...opts.retry };
  const token = opts.token ?? process.env.HF_TOKEN;
  const common = {
    repo: ref.repo,
    hubUrl: (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''),
    fetch: timedFetch(base, timeouts.etagMs, signal),
    ...(token ? { accessToken: token } : {}),
  };
  const net: Net = { common, retry, signal, download: timedFetch(base, timeouts.downloadMs, signal) };

  let commit: string;
  try {
    const info = await withRetries(() => modelInfo({ ...common, name: ref.repo, revision: ref.revision, additionalFields: ['sha'] }), retry, signal);
    commit = String((info as { sha?: unknown }).sha ?? '');
  } catch (err) {
    throwIfAborted(signal);
    throw new HubError(`cannot resolve revision '${ref.revision}': ${(err as Error).message}`, ref.repo, undefined, { cause: err });
  }
  if (!COMMIT.test(commit)) throw new HubError(`the Hub answered commit '${commit}' for '${ref.revision}', not a 40-hex hash`, ref.repo);

  interface Entry { path: string; size: number; etag: string; algo: 'sha256' | 'git-sha1' }
  const entries: Entry[] = [];
  try {
    const listing = await withRetries(
      async () => {
        const all = [];
        for await (const f of listFiles({ ...common, revision: commit, recursive: true })) all.push(f);
        return all;
      },
      retry,
      signal,
    );
    for (const f of listing) {
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
    if (err instanceof HubError && !(err instanceof HubTimeoutError)) throw err;
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
      await downloadBlob(net, commit, e, blob, (n) => opts.onProgress?.({ phase: 'download', done: done + n, total }));
    }
    done += e.size;
    opts.onProgress?.({ phase: 'download', done, total });
    await linkIntoSnapshot(blob, linkPath);
  }
  if (ref.revision !== commit) {
    const refFile = join(repoDir, 'refs', ref.revision);
    try {
      await writeFileAtomic(refFile, commit);
    } catch (err) {
      throw new HubError(`cannot record revision '${ref.revision}' in the cache: ${(err as Error).message}`, ref.repo, refFile, { cause: err });
    }
  }
  return snap;
}

interface Net {
  readonly common: { repo: string; hubUrl: string; fetch: typeof fetch; accessToken?: string };
  readonly retry: RetryOptions;
  readonly signal: AbortSignal | undefined;
  /** fetch with the download timeouts, for file bodies. */
  readonly download: typeof fetch;
}

/**
 * Downloads one file to `<blob>.<rand>.incomplete`, checks size and hash, then renames it to `blob`.
 * A body cut off or stalled is resumed (Range from the bytes written) up to `retry.maxRetries` times.
 */
async function downloadBlob(
  net: Net,
  commit: string,
  e: { path: string; size: number; etag: string; algo: 'sha256' | 'git-sha1' },
  blob: string,
  progress: (bytes: number) => void,
): Promise<void> {
  const { common, signal } = net;
  const tmp = `${blob}.${randomBytes(4).toString('hex')}.incomplete`;
  const hash = createHash(e.algo === 'sha256' ? 'sha256' : 'sha1');
  if (e.algo === 'git-sha1') hash.update(`blob ${e.size}\0`);
  let bytes = 0;
  try {
    const info = await withRetries(() => fileDownloadInfo({ ...common, path: e.path, revision: commit }), net.retry, signal);
    if (!info) throw new HubError('file listed but not found on download', common.repo, e.path);
    const out = await open(tmp, 'wx');
    try {
      await withRetries(
        async () => {
          const headers: Record<string, string> = {
            ...(common.accessToken ? { Authorization: `Bearer ${common.accessToken}` } : {}),
            ...(bytes > 0 ? { Range: `bytes=${bytes}-` } : {}),
          };
          const res = await net.download(info.url, { headers });
          if (!res.ok) {
            await res.body?.cancel().catch(() => {});
            throw new HubApiError(info.url, res.status, res.headers.get('x-request-id') ?? undefined, `HTTP ${res.status} ${res.statusText}`);
          }
          // A server that ignores the Range sends the whole file: skip what is already written.
          let skip = bytes > 0 && res.status !== 206 ? bytes : 0;
          if (bytes > 0 && res.status === 206 && !(res.headers.get('content-range') ?? '').startsWith(`bytes ${bytes}-`)) {
            throw new HubError(`server answered Range bytes=${bytes}- with '${res.headers.get('content-range')}'`, common.repo, e.path);
          }
          const reader = (res.body as ReadableStream<Uint8Array>).getReader();
          for (;;) {
            throwIfAborted(signal, bytes);
            const { done, value } = await reader.read();
            if (done) break;
            let chunk = value;
            if (skip > 0) {
              const n = Math.min(skip, chunk.length);
              skip -= n;
              chunk = chunk.subarray(n);
              if (chunk.length === 0) continue;
            }
            if (bytes + chunk.length > e.size) throw new HubError(`server sent more than the listed ${e.size} bytes`, common.repo, e.path);
            for (let off = 0; off < chunk.length; ) {
              const { bytesWritten } = await out.write(chunk, off, chunk.length - off).catch((err: unknown) => {
                throw asWriteError(err, blob);
              });
              if (bytesWritten <= 0) throw asWriteError(Object.assign(new Error('write made no progress'), { code: 'ENOSPC' }), blob);
              off += bytesWritten;
            }
            hash.update(chunk);
            bytes += chunk.length;
            progress(bytes);
          }
          // A body that ends early (connection closed) is resumed like a stalled one.
          if (bytes < e.size) throw Object.assign(new TypeError(`body ended after ${bytes} of ${e.size} bytes`), { code: 'UND_ERR_SOCKET' });
        },
        net.retry,
        signal,
      );
      // fsync before the rename so a crash never exposes a blob whose bytes are not on disk.
      await out.sync();
    } finally {
      await out.close();
    }
    if (bytes !== e.size) throw new HubError(`consistency check failed: got ${bytes} bytes, expected ${e.size}`, common.repo, e.path);
    const digest = hash.digest('hex');
    if (digest !== e.etag) throw new HubError(`${e.algo} mismatch: got ${digest}, expected ${e.etag}`, common.repo, e.path);
    await rename(tmp, blob);
  } catch (err) {
    await rm(tmp, { force: true });
    if ((err instanceof HubError && !(err instanceof HubTimeoutError)) || err instanceof FileWriteError || (err as Error).name === 'AbortedError') throw err;
    throwIfAborted(signal, bytes);
    const tries = isRetryable(err) ? ` (after ${net.retry.maxRetries} retries)` : '';
    throw new HubError(`download failed${tries}: ${(err as Error).message}`, common.repo, e.path, { cause: err });
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
