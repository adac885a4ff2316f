// Child process for the kill -9 test: writes checkpoints (about 2 MB each) in a loop until killed.
import { writeCheckpointDir } from '../../../src/train/checkpoint.js';

const dir = process.argv[2] as string;
const payload = new Uint8Array(2 << 20);
for (let step = 1; ; step++) {
  payload.fill(step % 251);
  await writeCheckpointDir(dir, step, { files: new Map<string, Uint8Array | string>([['model.safetensors', payload], ['trainer_state.json', JSON.stringify({ step })]]) }, 2);
  if (step === 1) process.stdout.write('ready\n');
}
