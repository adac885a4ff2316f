/**
 * Kernel start-up through a real Jupyter client (jupyter_client, Debian's python3): seconds from
 * starting the process to the first kernel_info_reply (when Jupyter shows the kernel as ready) and
 * to the reply of a first `1 + 1` cell, for the gemma-lab kernel and stock tslab 1.0.22 (the
 * baseline), interleaved, best and median of N starts each. Target: <= 3 s to kernel_info_reply.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../src/io/paths.js';
import { installKernelSpec } from '../src/kernel/kernelspec.js';
import { type BenchSection, fmt } from './harness.js';

const run = promisify(execFile);

/** One start: prints "<kernel_info seconds> <first execute seconds>". */
const CLIENT = `
import sys, time
from jupyter_client.manager import KernelManager
km = KernelManager(kernel_name=sys.argv[1])
t0 = time.monotonic()
km.start_kernel(cwd=sys.argv[2])
kc = km.client(); kc.start_channels()
kc.wait_for_ready(timeout=120)
t1 = time.monotonic()
reply = kc.execute("1 + 1", reply=True, timeout=120)
t2 = time.monotonic()
assert reply["content"]["status"] == "ok", reply["content"]
print(f"{t1 - t0:.3f} {t2 - t0:.3f}")
kc.stop_channels(); km.shutdown_kernel(now=True)
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const section: BenchSection = {
  name: 'kernel',
  description: 'kernel start-up via jupyter_client: to kernel_info_reply and to the first execute_reply, gemma-lab vs stock tslab',
  async run({ log }) {
    const prefix = await mkdtemp(join(tmpdir(), 'gemma-lab-bench-kernel-'));
    await installKernelSpec({ prefix });
    const stock = join(prefix, 'share', 'jupyter', 'kernels', 'tslab');
    await mkdir(stock, { recursive: true });
    await writeFile(
      join(stock, 'kernel.json'),
      JSON.stringify({ argv: [process.execPath, join(REPO_ROOT, 'node_modules', 'tslab', 'bin', 'tslab'), 'kernel', '--config-path', '{connection_file}'], display_name: 'tslab', language: 'typescript' }),
    );
    const env = { ...process.env, JUPYTER_PATH: join(prefix, 'share', 'jupyter'), JUPYTER_RUNTIME_DIR: join(prefix, 'runtime') };
    // A folder outside the checkout, like an analyst's notebook folder.
    const cwd = await mkdtemp(join(tmpdir(), 'gemma-lab-bench-nb-'));
    const kernels = ['gemma-lab', 'tslab'] as const;
    const starts = Number(process.env.GEMMA_LAB_BENCH_KERNEL_STARTS ?? 5);
    const times: Record<string, { info: number[]; exec: number[] }> = { 'gemma-lab': { info: [], exec: [] }, tslab: { info: [], exec: [] } };
    for (let i = 0; i < starts; i++) {
      for (const k of kernels) {
        const { stdout } = await run('/usr/bin/python3', ['-c', CLIENT, k, cwd], { env, timeout: 300_000 });
        const [info, exec] = stdout.trim().split(/\s+/).map(Number) as [number, number];
        times[k]!.info.push(info);
        times[k]!.exec.push(exec);
        log(`${k} start ${i + 1}/${starts}: kernel_info ${info.toFixed(2)} s, first execute ${exec.toFixed(2)} s`);
      }
    }
    const g = times['gemma-lab']!;
    const s = times.tslab!;
    const row = (name: string, t: { info: number[]; exec: number[] }) => [name, fmt(Math.min(...t.info), 2), fmt(median(t.info), 2), fmt(Math.min(...t.exec), 2), fmt(median(t.exec), 2)];
    return [
      {
        title: `Kernel start-up, seconds (${starts} interleaved starts each, notebook folder outside the checkout)`,
        columns: ['kernel', 'kernel_info best', 'kernel_info median', 'first execute best', 'first execute median'],
        rows: [row('gemma-lab', g), row('stock tslab 1.0.22', s)],
        notes: [
          `kernel_info_reply median: gemma-lab ${fmt(median(g.info) / median(s.info), 2)}x stock tslab; target <= 3 s: ${median(g.info) <= 3 ? 'met' : 'NOT met'} (median ${fmt(median(g.info), 2)} s).`,
          'gemma-lab answers kernel_info as soon as its sockets are bound and loads TypeScript, the engine and the prelude afterwards; the first cell waits for that.',
        ],
      },
    ];
  },
};
export default section;
