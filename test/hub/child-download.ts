// Child process for the kill -9 test: resolves hf://org/tiny from the endpoint and cache given on argv.
import { resolveModelSource } from '../../src/checkpoint/hub.js';

const [endpoint, cacheDir] = process.argv.slice(2) as [string, string];
await resolveModelSource('hf://org/tiny', { endpoint, cacheDir, offline: false });
