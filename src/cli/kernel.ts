/** `gemma-lab kernel --config-path FILE`: the Jupyter kernel process (started by Jupyter via kernel.json). */
import { parseArgs } from 'node:util';
import type { Command } from './command.js';

const command: Command = {
  summary: 'run the gemma-lab Jupyter kernel on a connection file (started by Jupyter)',
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { 'config-path': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
    const config = values['config-path'] ?? positionals[0];
    if (values.help || !config) {
      console.log('usage: gemma-lab kernel --config-path CONNECTION_FILE\n(install the kernelspec with `gemma-lab install-kernel`)');
      return values.help ? 0 : 2;
    }
    const { startKernel } = await import('../kernel/server.js');
    await startKernel(config);
    return 0; // the bound sockets keep the process alive until shutdown_request
  },
};
export default command;
