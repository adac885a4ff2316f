/** Versions the kernel reports (kernel_info, run metadata); cheap to import before the kernel loads. */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const TSLAB_VERSION: string = (require('tslab/package.json') as { version: string }).version;
export const TS_VERSION: string = (require('@tslab/typescript-for-tslab/package.json') as { version: string }).version;
export const OWN_VERSION: string = (require('../../package.json') as { version: string }).version;
