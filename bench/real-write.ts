/** Writes one real-size random checkpoint for running bench/real-worker.ts or bench/real_torch.py by hand:
 *  node --import tsx bench/real-write.ts NAME DIR */
import { REAL_CONFIGS, writeRandomCheckpoint } from './real-configs.js';

const [name, dir] = process.argv.slice(2) as [string, string];
const c = REAL_CONFIGS.find((x) => x.name === name);
if (!c) throw new Error(`unknown config '${name}' (one of ${REAL_CONFIGS.map((x) => x.name).join(', ')})`);
console.log(`${dir}: ${((await writeRandomCheckpoint(dir, c)) / 2 ** 30).toFixed(2)} GiB`);
