/**
 * The gemma-lab Jupyter kernel process: tslab's ZmqServer (sockets, HMAC, heartbeat) with our
 * handler. Overrides fix what stock tslab gets wrong (docs/reliability.md, "The notebook kernel"): no `execute_input`,
 * `execute_result` or `error` messages, ignored `stop_on_error`, `kernel_info_reply` without
 * `status`, `comm_info_reply` sent as `complete_reply`, reply `date` taken before execution.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ZmqServer } from 'tslab/dist/jupyter.js';
import { printQuickInfo } from 'tslab/dist/inspect.js';
import { NotebookKernel, type ExecuteRequest } from './core.js';
import { kernelLog, type OutputSink } from './output.js';

type Handler = ConstructorParameters<typeof ZmqServer>[0];
type Message = Parameters<ZmqServer['handleExecute']>[1];
type Socket = Parameters<ZmqServer['handleCommInfoRequest']>[0];

export const KERNEL_NAME = 'gemma-lab';

function handlerFor(kernel: NotebookKernel): Handler {
  return {
    handleKernel: () =>
      ({
        status: 'ok',
        protocol_version: '5.3',
        implementation: KERNEL_NAME,
        implementation_version: kernel.versions['gemma-lab']!,
        language_info: {
          name: 'typescript',
          version: kernel.typescriptVersion,
          mimetype: 'text/typescript',
          file_extension: '.ts',
          codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true },
        },
        banner: `gemma-lab kernel (TypeScript ${kernel.typescriptVersion} via tslab ${kernel.versions.tslab}, Node ${process.versions.node}); %lsmagic lists magics`,
      }) as ReturnType<Handler['handleKernel']>,
    handleExecute: () => {
      throw new Error('unreachable: GemmaLabServer.handleExecute replaces the handler path');
    },
    handleIsComplete: (req) => kernel.isComplete(req.code) as ReturnType<Handler['handleIsComplete']>,
    handleInspect: (req) => {
      const info = kernel.inspect(req.code, req.cursor_pos);
      const reply = info
        ? { status: 'ok', found: true, data: { 'text/plain': printQuickInfo(info) }, metadata: {} }
        : { status: 'ok', found: false, data: {}, metadata: {} };
      return reply as ReturnType<Handler['handleInspect']>;
    },
    handleComplete: (req) => {
      const info = kernel.complete(req.code, req.cursor_pos);
      return { status: 'ok', cursor_start: info.start, cursor_end: info.end, matches: info.candidates, metadata: {} };
    },
    handleShutdown: () => ({ restart: false }),
    close: () => kernel.close(),
  };
}

const DELIM = Buffer.from('<IDS|MSG>');

/**
 * Jupyter's Session rules (jupyter_client session.py), checked before tslab parses anything:
 * HMAC-SHA256 over the four frames compared in constant time, and no replay of a signature.
 * tslab alone compares hex strings with `==` after JSON.parse and has no replay history.
 */
export class SignatureGate {
  private readonly seen = new Set<string>();
  constructor(private readonly key: string) {}

  /** Why the frames must be dropped, or undefined when they are a fresh, correctly signed message. */
  reject(frames: readonly Buffer[]): string | undefined {
    const at = frames.findIndex((f) => f.equals(DELIM));
    if (at < 0 || frames.length < at + 6) return 'malformed message (no delimiter or too few frames)';
    if (!this.key) return undefined; // an empty key disables signing (Jupyter's rule)
    const signature = frames[at + 1]!.toString('ascii');
    const mac = createHmac('sha256', this.key);
    for (const f of frames.slice(at + 2, at + 6)) mac.update(f);
    const want = mac.digest();
    const got = Buffer.from(signature, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return 'invalid signature';
    if (this.seen.has(signature)) return 'duplicate signature (replayed message)';
    this.seen.add(signature);
    return undefined;
  }
}

class GemmaLabServer extends ZmqServer {
  private gate: SignatureGate | undefined;

  constructor(
    private readonly kernel: NotebookKernel,
    configPath: string,
  ) {
    super(handlerFor(kernel), configPath);
  }

  override async handleShellMessage(sock: Socket, ...frames: Buffer[]): Promise<void> {
    this.gate ??= new SignatureGate(this.connInfo.key);
    const why = this.gate.reject(frames);
    if (why) {
      kernelLog(`dropped a message: ${why}`);
      return;
    }
    try {
      await super.handleShellMessage(sock, ...frames);
    } catch (err) {
      // Signed but unparsable JSON: tslab would leave an unhandled rejection and no reply.
      kernelLog(`dropped a message: ${String(err)}`);
    }
  }

  override async handleExecute(sock: Socket, msg: Message): Promise<void> {
    const send = (msgType: string, content: object) => {
      const out = msg.createReply();
      out.header.msg_type = msgType;
      out.content = content;
      out.signAndSend(this.connInfo.key, this.iopub);
    };
    const sink: OutputSink = {
      stream: (name, text) => send('stream', { name, text }),
      send: (m) => send(m.type, m.content),
    };
    const result = await this.kernel.submit(msg.content as ExecuteRequest, sink);
    const reply = msg.createReply(); // created after execution so header.date is the finish time
    reply.header.msg_type = 'execute_reply';
    reply.content = result.status === 'ok' ? { ...result, user_expressions: {} } : result;
    reply.signAndSend(this.connInfo.key, sock);
  }

  override handleCommInfoRequest(sock: Socket, msg: Message): void {
    const reply = msg.createReply();
    reply.header.msg_type = 'comm_info_reply';
    reply.content = { status: 'ok', comms: {} };
    reply.signAndSend(this.connInfo.key, sock);
  }
}

/** Starts the kernel on a Jupyter connection file; resolves once the sockets are bound. */
export async function startKernel(configPath: string): Promise<void> {
  const kernel = new NotebookKernel();
  const server = new GemmaLabServer(kernel, configPath);
  process.on('SIGINT', () => kernel.interrupt());
  // Keep the kernel alive on stray async errors (e.g. a training loop that ended by interrupt).
  process.on('uncaughtException', (err) => console.error('gemma-lab kernel: uncaught exception:', err));
  process.on('unhandledRejection', (reason) => console.error('gemma-lab kernel: unhandled rejection:', reason));
  await kernel.init();
  await server.init();
}
