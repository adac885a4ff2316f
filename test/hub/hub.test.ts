import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, sharedDir } from '../../src/io/paths.js';
import { HubError } from '../../src/errors.js';
import { parseHubRef, resolveModelSource } from '../../src/checkpoint/hub.js';
import { openCheckpoint } from '../../src/checkpoint/index.js';

interface RepoFile {
  path: string;
  content: Buffer;
  lfs: boolean;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const COMMIT_A = 'a'.repeat(40);
const COMMIT_B = 'b'.repeat(40);

/** A fake Hub serving the endpoints @huggingface/hub calls: model info, tree listing, resolve (with Range). */
async function fakeHub(files: Record<string, RepoFile[]>, refs: Record<string, string>) {
  const log: string[] = [];
  const faults = {
    truncate: new Set<string>(),
    corrupt: new Set<string>(),
    stall: new Set<string>(),
    /** Stall mid-body this many times per file, then serve normally. */
    stallTimes: new Map<string, number>(),
    /** Accept API requests but never answer them, this many times. */
    hangApi: 0,
    /** Answer API requests 503, this many times. */
    fail503: 0,
    /** Ignore Range headers on file bodies (answer 200 with the whole file). */
    ignoreRange: false,
  };
  const stalled: ServerResponse[] = [];
  let onStall: (() => void) | undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    log.push(`${req.method} ${url.pathname}${req.headers.range ? ' range' : ''}`);
    const json = (v: unknown, code = 200) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    const commitOf = (rev: string) => (/^[0-9a-f]{40}$/.test(rev) ? rev : refs[decodeURIComponent(rev)]);
    if (url.pathname.startsWith('/api/') && faults.hangApi > 0) {
      faults.hangApi--;
      stalled.push(res);
      return;
    }
    if (url.pathname.startsWith('/api/') && faults.fail503 > 0) {
      faults.fail503--;
      return json({ error: 'busy' }, 503);
    }
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(url.pathname);
    if (m) {
      const commit = commitOf(m[2] as string);
      if (!commit) return json({ error: 'Revision Not Found' }, 404);
      return json({ _id: 'x', id: m[1], sha: commit, private: false, downloads: 0, likes: 0, lastModified: '2026-01-01T00:00:00Z' });
    }
    m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const list = files[commitOf(m[2] as string) ?? ''];
      if (!list) return json({ error: 'not found' }, 404);
      return json(
        list.map((f) => ({
          type: 'file',
          path: f.path,
          size: f.content.length,
          oid: gitSha1(f.content),
          ...(f.lfs ? { lfs: { oid: sha256(f.content), size: f.content.length, pointerSize: 130 } } : {}),
        })),
      );
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const f = files[commitOf(m[2] as string) ?? '']?.find((x) => x.path === decodeURIComponent(m![3] as string));
      if (!f) {
        res.writeHead(404, { 'x-error-code': 'EntryNotFound' });
        return res.end();
      }
      const etag = `"${f.lfs ? sha256(f.content) : gitSha1(f.content)}"`;
      const headers = { etag, 'x-repo-commit': commitOf(m[2] as string) as string, 'content-type': 'application/octet-stream' };
      if (req.headers.range === 'bytes=0-0') {
        res.writeHead(206, { ...headers, 'content-range': `bytes 0-0/${f.content.length}`, 'content-length': '1' });
        return res.end(f.content.subarray(0, 1));
      }
      const left = faults.stallTimes.get(f.path) ?? 0;
      if (left > 0) {
        faults.stallTimes.set(f.path, left - 1);
        res.writeHead(200, { ...headers, 'content-length': String(f.content.length) });
        res.write(f.content.subarray(0, f.content.length >> 1));
        stalled.push(res);
        return;
      }
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (range && !faults.ignoreRange) {
        const start = Number(range[1]);
        const end = range[2] ? Number(range[2]) : f.content.length - 1;
        res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${f.content.length}`, 'content-length': String(end - start + 1) });
        return res.end(f.content.subarray(start, end + 1));
      }
      if (faults.stall.has(f.path)) {
        // Send half the body, then hang: the client is killed while it waits.
        res.writeHead(200, { ...headers, 'content-length': String(f.content.length) });
        res.write(f.content.subarray(0, f.content.length >> 1));
        stalled.push(res);
        setTimeout(() => onStall?.(), 100);
        return;
      }
      if (faults.truncate.has(f.path)) {
        res.writeHead(200, { ...headers, 'content-length': String(f.content.length) });
        res.write(f.content.subarray(0, f.content.length >> 1));
        setTimeout(() => res.destroy(), 20);
        return;
      }
      const body = faults.corrupt.has(f.path) ? Buffer.from(f.content).fill(7, 0, 16) : f.content;
      res.writeHead(200, { ...headers, 'content-length': String(body.length) });
      return res.end(body);
    }
    json({ error: `unexpected ${url.pathname}` }, 500);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    log,
    faults,
    whenStalled: (fn: () => void) => (onStall = fn),
    close: () => {
      for (const r of stalled.splice(0)) r.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function fixtureFiles(): Promise<RepoFile[]> {
  const dir = join(sharedDir(), 'fixtures', 'gemma2-tiny');
  return [
    { path: 'config.json', content: await readFile(join(dir, 'config.json')), lfs: false },
    { path: 'model.safetensors', content: await readFile(join(dir, 'model.safetensors')), lfs: true },
    { path: 'pytorch_model.bin', content: Buffer.from('pickle: must never be fetched'), lfs: true },
    { path: 'README.md', content: Buffer.from('# readme'), lfs: false },
    { path: 'sub/tokenizer_config.json', content: Buffer.from('{"pad_token":"<pad>"}'), lfs: false },
  ];
}

/** A fake hub serving the tiny fixture as org/tiny at COMMIT_A (main) and an empty cache; both torn down after `use`. */
async function withTinyHub(use: (h: { cache: string; base: RepoFile[]; hub: Awaited<ReturnType<typeof fakeHub>>; opts: { cacheDir: string; endpoint: string; offline: false } }) => Promise<void>): Promise<void> {
  const cache = await mkdtemp(join(tmpdir(), 'hub-'));
  const base = await fixtureFiles();
  const hub = await fakeHub({ [COMMIT_A]: base }, { main: COMMIT_A });
  try {
    await use({ cache, base, hub, opts: { cacheDir: cache, endpoint: hub.endpoint, offline: false } });
  } finally {
    await hub.close();
    await rm(cache, { recursive: true, force: true });
  }
}

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

test('parseHubRef validates repo and revision', () => {
  assert.deepEqual(parseHubRef('hf://google/gemma-3-1b-pt'), { repo: 'google/gemma-3-1b-pt', revision: 'main' });
  assert.deepEqual(parseHubRef('hf://org/repo@refs/pr/1'), { repo: 'org/repo', revision: 'refs/pr/1' });
  for (const bad of ['hf://repo', 'hf://a/b/c', 'hf://../x', 'hf://org/..', 'hf://org/a--b', 'hf://org/repo@../x', 'hf://org/repo@/abs', 'hf://org/repo@a\\b', 'hf://org/repo@C:x', 'http://org/repo']) {
    assert.throws(() => parseHubRef(bad), HubError, bad);
  }
});

test('download into an HF-layout cache, cache hits, revisions, offline mode; no .bin ever fetched', async () => {
  const cache = await mkdtemp(join(tmpdir(), 'hub-'));
  const base = await fixtureFiles();
  const changed = base.map((f) => (f.path === 'sub/tokenizer_config.json' ? { ...f, content: Buffer.from('{"pad_token":"<p>"}') } : f));
  const hub = await fakeHub({ [COMMIT_A]: base, [COMMIT_B]: changed }, { main: COMMIT_A, v1: COMMIT_B });
  const opts = { cacheDir: cache, endpoint: hub.endpoint, offline: false };
  try {
    const progress: number[] = [];
    const snap = await resolveModelSource('hf://org/tiny', { ...opts, onProgress: (e) => progress.push(e.done) });
    const repoDir = join(cache, 'models--org--tiny');
    assert.equal(snap, join(repoDir, 'snapshots', COMMIT_A));
    const model = base.find((f) => f.path === 'model.safetensors')!;
    const cfg = base.find((f) => f.path === 'config.json')!;
    assert.deepEqual(await listTree(repoDir), [
      'blobs',
      ...[sha256(model.content), gitSha1(cfg.content), gitSha1(base[4]!.content)].map((b) => `blobs/${b}`).sort(),
      'refs',
      'refs/main',
      'snapshots',
      `snapshots/${COMMIT_A}`,
      `snapshots/${COMMIT_A}/config.json`,
      `snapshots/${COMMIT_A}/model.safetensors`,
      `snapshots/${COMMIT_A}/sub`,
      `snapshots/${COMMIT_A}/sub/tokenizer_config.json`,
    ].sort());
    assert.equal(await readFile(join(repoDir, 'refs', 'main'), 'utf8'), COMMIT_A);
    assert.ok((await lstat(join(snap, 'model.safetensors'))).isSymbolicLink());
    assert.equal(await readlink(join(snap, 'model.safetensors')), `../../blobs/${sha256(model.content)}`);
    assert.equal(await readlink(join(snap, 'sub', 'tokenizer_config.json')), `../../../blobs/${gitSha1(base[4]!.content)}`);
    assert.ok(!hub.log.some((l) => l.includes('pytorch_model.bin') || l.includes('README')), 'never fetches .bin or other files');
    assert.equal(progress.at(-1), model.content.length + cfg.content.length + base[4]!.content.length);
    const ck = await openCheckpoint(snap);
    assert.equal(ck.tensorNames.length, 24);

    // Cache hit online: metadata only, no file bodies.
    const before = hub.log.length;
    assert.equal(await resolveModelSource('hf://org/tiny', opts), snap);
    const again = hub.log.slice(before);
    assert.ok(again.every((l) => l.startsWith('GET /api/')), again.join('; '));

    // Pinned commit already cached: zero requests.
    const n = hub.log.length;
    assert.equal(await resolveModelSource(`hf://org/tiny@${COMMIT_A}`, opts), snap);
    assert.equal(hub.log.length, n);

    // Another revision: new snapshot and ref, unchanged blobs shared, only the changed file downloaded.
    const k = hub.log.length;
    const snapB = await resolveModelSource('hf://org/tiny@v1', opts);
    assert.equal(snapB, join(repoDir, 'snapshots', COMMIT_B));
    assert.equal(await readFile(join(repoDir, 'refs', 'v1'), 'utf8'), COMMIT_B);
    assert.equal(await readFile(join(snapB, 'sub', 'tokenizer_config.json'), 'utf8'), '{"pad_token":"<p>"}');
    const bodies = hub.log.slice(k).filter((l) => l.includes('/resolve/') && !l.endsWith('range'));
    assert.deepEqual(bodies, [`GET /org/tiny/resolve/${COMMIT_B}/sub/tokenizer_config.json`]);

    // Offline: served from the cache with no request; a missing repo is a clear error.
    const m = hub.log.length;
    assert.equal(await resolveModelSource('hf://org/tiny@v1', { ...opts, offline: true }), snapB);
    process.env.HF_HUB_OFFLINE = '1';
    try {
      assert.equal(await resolveModelSource('hf://org/tiny', { cacheDir: cache, endpoint: hub.endpoint }), snap);
      await assert.rejects(resolveModelSource('hf://org/other', { cacheDir: cache, endpoint: hub.endpoint }), (e: unknown) => e instanceof HubError && /offline/.test(e.message) && e.message.includes('org/other'));
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    assert.equal(hub.log.length, m);
  } finally {
    await hub.close();
    await rm(cache, { recursive: true, force: true });
  }
});

test('unsafe names in a listing are rejected before anything is written', async () => {
  const cache = await mkdtemp(join(tmpdir(), 'hub-'));
  const base = await fixtureFiles();
  try {
    for (const bad of ['../evil.json', '/etc/evil.json', 'a/../../evil.json', 'C:/evil.json', 'a\\..\\evil.json', './config.json', 'a//b.json']) {
      const hub = await fakeHub({ [COMMIT_A]: [...base, { path: bad, content: Buffer.from('{}'), lfs: false }] }, { main: COMMIT_A });
      try {
        await assert.rejects(resolveModelSource('hf://org/evil', { cacheDir: cache, endpoint: hub.endpoint, offline: false }), (e: unknown) => e instanceof HubError && /unsafe/.test(e.message), bad);
        assert.ok(!hub.log.some((l) => l.includes('/resolve/')), `no download for ${bad}`);
      } finally {
        await hub.close();
      }
    }
    assert.deepEqual(await readdir(cache), []);
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
});

test('interrupted or corrupt download leaves no partial blob, no ref; a retry succeeds', () =>
  withTinyHub(async ({ cache, base, hub, opts }) => {
    const repoDir = join(cache, 'models--org--tiny');
    // Cut off on every attempt (Range ignored, so a resume is cut off again): a typed error after the retries.
    hub.faults.truncate.add('model.safetensors');
    hub.faults.ignoreRange = true;
    await assert.rejects(
      resolveModelSource('hf://org/tiny', { ...opts, retry: { maxRetries: 1, baseDelayMs: 10 } }),
      (e: unknown) => e instanceof HubError && e.message.includes('model.safetensors') && /after 1 retries/.test(e.message),
    );
    let tree = await listTree(repoDir);
    assert.ok(!tree.some((p) => p.includes('incomplete') || p.startsWith('refs/')), tree.join(' '));
    assert.ok(!tree.includes(`blobs/${sha256(base[1]!.content)}`));
    hub.faults.truncate.clear();
    hub.faults.ignoreRange = false;

    hub.faults.corrupt.add('model.safetensors');
    await assert.rejects(resolveModelSource('hf://org/tiny', opts), (e: unknown) => e instanceof HubError && /sha256 mismatch/.test(e.message));
    tree = await listTree(repoDir);
    assert.ok(!tree.some((p) => p.includes('incomplete') || p.startsWith('refs/') || p === `blobs/${sha256(base[1]!.content)}`), tree.join(' '));
    hub.faults.corrupt.clear();

    const ctl = new AbortController();
    ctl.abort(new Error('user stop'));
    await assert.rejects(resolveModelSource('hf://org/tiny', { ...opts, signal: ctl.signal }), (e: unknown) => (e as Error).name === 'AbortedError');

    const snap = await resolveModelSource('hf://org/tiny', opts);
    assert.equal((await openCheckpoint(snap)).tensorNames.length, 24);
    assert.equal(sha256(await readFile(join(snap, 'model.safetensors'))), sha256(base[1]!.content));
  }));

test('two concurrent downloads of one repo end with one valid blob per file', () =>
  withTinyHub(async ({ cache, base, opts }) => {
    const [a, b] = await Promise.all([resolveModelSource('hf://org/tiny', opts), resolveModelSource('hf://org/tiny', opts)]);
    assert.equal(a, b);
    const blobs = await readdir(join(cache, 'models--org--tiny', 'blobs'));
    assert.equal(blobs.length, 3, blobs.join(' '));
    assert.equal(sha256(await readFile(join(a, 'model.safetensors'))), sha256(base[1]!.content));
  }));

test('kill -9 mid-download (x3): no blob, link or ref to a partial file; a rerun completes', () =>
  withTinyHub(async ({ cache, base, hub }) => {
    const repoDir = join(cache, 'models--org--tiny');
    const modelBlob = `blobs/${sha256(base[1]!.content)}`;
    hub.faults.stall.add('model.safetensors');
    for (let i = 0; i < 3; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'hub', 'child-download.ts'), hub.endpoint, cache], { stdio: 'ignore' });
      const exited = new Promise<string | null>((r) => child.once('exit', (_code, sig) => r(sig)));
      hub.whenStalled(() => child.kill('SIGKILL'));
      assert.equal(await exited, 'SIGKILL');
      const tree = await listTree(repoDir);
      assert.ok(tree.some((p) => p.endsWith('.incomplete')), `the kill happened mid-body: ${tree.join(' ')}`);
      assert.ok(!tree.includes(modelBlob) && !tree.some((p) => p.startsWith('refs/') || p.endsWith('/model.safetensors')), tree.join(' '));
    }
    hub.faults.stall.clear();
    const snap = await resolveModelSource('hf://org/tiny', { cacheDir: cache, endpoint: hub.endpoint, offline: false });
    assert.equal(sha256(await readFile(join(snap, 'model.safetensors'))), sha256(base[1]!.content));
    assert.equal((await openCheckpoint(snap)).tensorNames.length, 24);
  }));

// ---- Network faults (issue 14 cases 3-4): timeouts, retries with backoff, resume, long revisions. ----

const fast = { retry: { maxRetries: 2, baseDelayMs: 20, maxDelayMs: 40 } };

test('a server that stalls mid-body: read timeout (HF_HUB_DOWNLOAD_TIMEOUT), retried with Range, then a typed error', { timeout: 30_000 }, async () => {
  const cache = await mkdtemp(join(tmpdir(), 'hub-'));
  const base = await fixtureFiles();
  const hub = await fakeHub({ [COMMIT_A]: base }, { main: COMMIT_A });
  process.env.HF_HUB_DOWNLOAD_TIMEOUT = '0.3';
  try {
    hub.faults.stallTimes.set('model.safetensors', 100);
    const t0 = performance.now();
    await assert.rejects(resolveModelSource('hf://org/tiny', { cacheDir: cache, endpoint: hub.endpoint, offline: false, ...fast }), (e: unknown) => {
      assert.ok(e instanceof HubError, String(e));
      assert.match(e.message, /org\/tiny: model\.safetensors: download failed \(after 2 retries\): no data from .* for 0\.3 s \(read timeout\)/);
      return true;
    });
    const s = (performance.now() - t0) / 1000;
    assert.ok(s > 0.9 && s < 8, `3 attempts x 0.3 s + backoff, took ${s.toFixed(2)} s`);
    const bodies = hub.log.filter((l) => l.includes('/resolve/') && l.includes('model.safetensors') && !l.endsWith('range'));
    const ranged = hub.log.filter((l) => l.includes('/resolve/') && l.includes('model.safetensors') && l.endsWith('range'));
    assert.equal(bodies.length, 1, 'first attempt without Range');
    assert.equal(ranged.length, 1 + 2, 'file-info probe + 2 resumed attempts with Range');
    const tree = await listTree(join(cache, 'models--org--tiny'));
    assert.ok(!tree.some((p) => p.endsWith('.incomplete') || p.startsWith('refs/')), tree.join(' '));
  } finally {
    delete process.env.HF_HUB_DOWNLOAD_TIMEOUT;
    await hub.close();
    await rm(cache, { recursive: true, force: true });
  }
});

test('a stall that clears: the download resumes from the bytes written (Range) and the blob verifies; also when Range is ignored', { timeout: 30_000 }, async () => {
  const base = await fixtureFiles();
  for (const ignoreRange of [false, true]) {
    const cache = await mkdtemp(join(tmpdir(), 'hub-'));
    const hub = await fakeHub({ [COMMIT_A]: base }, { main: COMMIT_A });
    try {
      hub.faults.stallTimes.set('model.safetensors', 1);
      hub.faults.ignoreRange = ignoreRange;
      const snap = await resolveModelSource('hf://org/tiny', { cacheDir: cache, endpoint: hub.endpoint, offline: false, timeouts: { downloadMs: 300 }, ...fast });
      assert.equal(sha256(await readFile(join(snap, 'model.safetensors'))), sha256(base[1]!.content));
      assert.equal((await openCheckpoint(snap)).tensorNames.length, 24);
      assert.equal(hub.log.filter((l) => l.includes('resolve') && l.includes('model.safetensors')).length, 3, hub.log.join('\n'));
    } finally {
      await hub.close();
      await rm(cache, { recursive: true, force: true });
    }
  }
});

test('metadata requests: connect timeout (HF_HUB_ETAG_TIMEOUT) and 503s are retried with backoff; give up with a typed error', { timeout: 30_000 }, async () => {
  const cache = await mkdtemp(join(tmpdir(), 'hub-'));
  const base = await fixtureFiles();
  const hub = await fakeHub({ [COMMIT_A]: base }, { main: COMMIT_A });
  const opts = { cacheDir: cache, endpoint: hub.endpoint, offline: false, ...fast };
  process.env.HF_HUB_ETAG_TIMEOUT = '0.25';
  try {
    // Two hangs and one 503, then answers: succeeds on the 4th try (maxRetries 3).
    hub.faults.hangApi = 2;
    hub.faults.fail503 = 1;
    const snap = await resolveModelSource('hf://org/tiny', { ...opts, retry: { ...fast.retry, maxRetries: 3 } });
    assert.equal((await openCheckpoint(snap)).tensorNames.length, 24);
    assert.equal(hub.log.filter((l) => l.includes('/revision/')).length, 4);

    // Never answers: a HubError naming the repo and the timeout, after 1 + 2 attempts.
    hub.faults.hangApi = 100;
    const t0 = performance.now();
    await assert.rejects(resolveModelSource('hf://org/tiny@v9', opts), (e: unknown) => {
      assert.ok(e instanceof HubError, String(e));
      assert.match(e.message, /^org\/tiny: cannot resolve revision 'v9': no response from .* within 0\.25 s \(connect timeout\)/);
      return true;
    });
    const s = (performance.now() - t0) / 1000;
    assert.ok(s > 0.7 && s < 6, `took ${s.toFixed(2)} s`);
  } finally {
    delete process.env.HF_HUB_ETAG_TIMEOUT;
    await hub.close();
    await rm(cache, { recursive: true, force: true });
  }
});

test('HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT: seconds, 10 s by default (as huggingface_hub); bad values are typed errors', async () => {
  const { hubTimeouts } = (await import('../../src/checkpoint/hub.js')) as unknown as { hubTimeouts: (env: Record<string, string>) => unknown };
  assert.deepEqual(hubTimeouts({}), { etagMs: 10_000, downloadMs: 10_000 });
  assert.deepEqual(hubTimeouts({ HF_HUB_ETAG_TIMEOUT: '2.5', HF_HUB_DOWNLOAD_TIMEOUT: '60' }), { etagMs: 2500, downloadMs: 60_000 });
  assert.throws(() => hubTimeouts({ HF_HUB_DOWNLOAD_TIMEOUT: 'ten' }), (e: unknown) => e instanceof HubError && /HF_HUB_DOWNLOAD_TIMEOUT='ten'/.test(e.message));
  assert.throws(() => hubTimeouts({ HF_HUB_ETAG_TIMEOUT: '0' }), HubError);
});

test('a 300-character revision is refused before any request; a long but valid one downloads and is recorded', async () => {
  const cache = await mkdtemp(join(tmpdir(), 'hub-'));
  const base = await fixtureFiles();
  const longOk = `release/${'r'.repeat(250)}`;
  const hub = await fakeHub({ [COMMIT_A]: base }, { main: COMMIT_A, [longOk]: COMMIT_A, ['x'.repeat(300)]: COMMIT_A });
  try {
    await assert.rejects(resolveModelSource(`hf://org/tiny@${'x'.repeat(300)}`, { cacheDir: cache, endpoint: hub.endpoint, offline: false }), (e: unknown) => {
      assert.ok(e instanceof HubError, String(e));
      assert.match(e.message, /invalid revision 'x{60}\.\.\.\(300 characters\)': a path segment of 300 characters; at most 255/);
      return true;
    });
    assert.deepEqual(hub.log, [], 'refused before any request');
    const snap = await resolveModelSource(`hf://org/tiny@${longOk}`, { cacheDir: cache, endpoint: hub.endpoint, offline: false });
    assert.equal(await readFile(join(cache, 'models--org--tiny', 'refs', 'release', 'r'.repeat(250)), 'utf8'), COMMIT_A);
    assert.equal(await resolveModelSource(`hf://org/tiny@${longOk}`, { cacheDir: cache, offline: true }), snap);
  } finally {
    await hub.close();
    await rm(cache, { recursive: true, force: true });
  }
});
