#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so `npx gemma-lab` always reflects src/ (no stale build).
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
