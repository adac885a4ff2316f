/**
 * The gemma-lab Jupyter kernel process: tslab's ZmqServer (sockets, HMAC, heartbeat) with our
 * handler. Overrides fix what stock tslab gets wrong (docs/reliability.md, "The notebook kernel"): no `execute_input`,
 * `execute_result` or `error` messages, ignored `stop_on_error`, `kernel_info_reply` without
 * `status`, `comm_info_reply` sent as `complete_reply`, reply `date` taken before execution.
 */
// First: the compiler module must see tslab's TypeScript before tslab's modules load.
import './compiler.js';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type { ZmqServer as ZmqServerType } from 'tslab/dist/jupyter.js';
import type { ExecuteRequest, NotebookKernel } from './core.js';
import { preciseNow } from './precise-time.js';
import type { HistoryRequest } from './history.js';
import { kernelLog, type OutputSink } from './output.js';
import { OWN_VERSION, TS_VERSION, TSLAB_VERSION } from './versions.js';

const require = createRequire(import.meta.url);
// Required at run time, after compiler.ts (an ES import of CommonJS may load before it).
const { ZmqServer } = require('tslab/dist/jupyter.js') as typeof import('tslab/dist/jupyter.js');

type Handler = ConstructorParameters<typeof ZmqServerType>[0];
type Message = Parameters<ZmqServerType['handleExecute']>[1];
type Socket = Parameters<ZmqServerType['handleCommInfoRequest']>[0];

export const KERNEL_NAME = 'gemma-lab';

/**
 * The notebook kernel, created after the sockets are bound: kernel_info is answered at once
 * while the heavy part (TypeScript program, engine, prelude) loads. Requests that need the
 * kernel wait for it (`ready`); completions asked for meanwhile build it synchronously.
 */
class KernelHost {
  private kernel: NotebookKernel | undefined;
  private starting: Promise<NotebookKernel> | undefined;
  private core: typeof import('./core.js') | undefined;

  /** Starts loading (idempotent); resolves once the prelude ran. */
  ready(): Promise<NotebookKernel> {
    this.starting ??= (async () => {
      this.core = await import('./core.js');
      const k = this.now();
      await k.init();
      return k;
    })();
    return this.starting;
  }

  /** The kernel object (its prelude may still be running); undefined before the modules loaded. */
  now(): NotebookKernel {
    if (!this.core) throw new Error('gemma-lab kernel is still starting');
    this.kernel ??= new this.core.NotebookKernel();
    return this.kernel;
  }

  get loaded(): boolean {
    return this.core !== undefined;
  }

  close(): void {
    this.kernel?.close();
  }
}

function handlerFor(host: KernelHost): Handler {
  return {
    handleKernel: () =>
      ({
        status: 'ok',
        protocol_version: '5.3',
        implementation: KERNEL_NAME,
        implementation_version: OWN_VERSION,
        language_info: {
          name: 'typescript',
          version: TS_VERSION,
          mimetype: 'text/typescript',
          file_extension: '.ts',
          codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true },
        },
        banner: `gemma-lab kernel (TypeScript ${TS_VERSION} via tslab ${TSLAB_VERSION}, Node ${process.versions.node}); %lsmagic lists magics`,
      }) as ReturnType<Handler['handleKernel']>,
    handleExecute: () => {
      throw new Error('unreachable: GemmaLabServer.handleExecute replaces the handler path');
    },
    handleIsComplete: (req) => host.now().isComplete(req.code) as ReturnType<Handler['handleIsComplete']>,
    handleInspect: (req) => {
      const info = host.now().inspect(req.code, req.cursor_pos);
      const { printQuickInfo } = require('tslab/dist/inspect.js') as typeof import('tslab/dist/inspect.js');
      const reply = info
        ? { status: 'ok', found: true, data: { 'text/plain': printQuickInfo(info) }, metadata: {} }
        : { status: 'ok', found: false, data: {}, metadata: {} };
      return reply as ReturnType<Handler['handleInspect']>;
    },
    handleComplete: (req) => {
      const info = host.now().complete(req.code, req.cursor_pos);
      return { status: 'ok', cursor_start: info.start, cursor_end: info.end, matches: info.candidates, metadata: {} };
    },
    handleShutdown: () => ({ restart: false }),
    close: () => host.close(),
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

/** Message types answered without the notebook kernel being loaded. */
const EARLY = new Set(['kernel_info_request', 'shutdown_request', 'comm_info_request', 'history_request']);

function headerOf(frames: readonly Buffer[]): { msg_type?: string; msg_id?: string; date?: string } {
  const at = frames.findIndex((f) => f.equals(DELIM));
  try {
    return JSON.parse(frames[at + 2]!.toString('utf8')) as { msg_type?: string; msg_id?: string };
  } catch {
    return {};
  }
}

const messageType = (frames: readonly Buffer[]): string | undefined => headerOf(frames).msg_type;

/** An ISO date with up to microseconds (jupyter_client sends them) → ms since the epoch, or NaN. */
export function parseIsoMs(date: string): number {
  const ms = Date.parse(date);
  const frac = /T[\d:]+\.(\d+)/.exec(date)?.[1];
  // Date.parse keeps milliseconds only; add the finer digits back.
  return frac && frac.length > 3 ? ms + Number(`0.${frac.slice(3)}`) : ms;
}

class GemmaLabServer extends ZmqServer {
  private gate: SignatureGate | undefined;
  /** Smallest (arrival − header.date) seen: the client's clock offset plus the least latency. */
  private clockOffset = Infinity;
  /** When each execute request was read off the socket, by msg_id. */
  private readonly arrivals = new Map<string, number>();
  private firstKernelInfo: (() => void) | undefined;
  readonly firstKernelInfoSent = new Promise<void>((r) => (this.firstKernelInfo = r));

  constructor(
    private readonly host: KernelHost,
    configPath: string,
  ) {
    super(handlerFor(host), configPath);
  }

  override async handleShellMessage(sock: Socket, ...frames: Buffer[]): Promise<void> {
    this.gate ??= new SignatureGate(this.connInfo.key);
    const why = this.gate.reject(frames);
    if (why) {
      kernelLog(`dropped a message: ${why}`);
      return;
    }
    const type = messageType(frames);
    if (type === 'execute_request') this.arrivals.set(headerOf(frames).msg_id ?? '', preciseNow());
    try {
      if (type === 'history_request') return this.handleHistory(sock, frames);
      // Completion, inspection and execution need the kernel; requests keep their order.
      if (type && !EARLY.has(type)) await this.host.ready();
      await super.handleShellMessage(sock, ...frames);
      if (type === 'kernel_info_request') this.firstKernelInfo?.();
    } catch (err) {
      // Signed but unparsable JSON: tslab would leave an unhandled rejection and no reply.
      kernelLog(`dropped a message: ${String(err)}`);
    }
  }

  /**
   * zeromq 6 rejects a send while the socket's previous send is in flight ("Socket is busy
   * writing"); tslab sends without waiting, so replies in quick succession (aborted requests
   * after a failure) were lost. Sends on each socket go out one after another instead.
   */
  serialiseSends(): void {
    const self = this as unknown as Record<'shell' | 'control' | 'iopub' | 'stdin', object>;
    for (const name of ['shell', 'control', 'iopub', 'stdin'] as const) {
      // zeromq's sockets are sealed objects: wrap them (native methods bound to the socket).
      const sock = self[name] as { send(m: unknown): Promise<void> };
      let last: Promise<void> = Promise.resolve();
      let queued = 0;
      const settle = (p: Promise<void>) =>
        p.catch((e: unknown) => {
          if (!String(e).includes('Socket is closed')) kernelLog(`send failed: ${String(e)}`);
        });
      const send = (m: unknown): Promise<void> => {
        // Try at once (a synchronous loop after a console.log never yields to a queued send);
        // zeromq throws "busy" only while an earlier send is still pending: then queue behind it.
        if (queued === 0) {
          try {
            const p = sock.send(m);
            last = settle(p);
            return p;
          } catch (e) {
            if (!String(e).includes('busy')) throw e;
          }
        }
        queued++;
        const p = last.then(() => sock.send(m)).finally(() => {
          queued--;
        });
        last = settle(p);
        return p;
      };
      self[name] = new Proxy(sock, {
        get: (target, prop) => {
          if (prop === 'send') return send;
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    }
  }

  /** Sends a signed message in reply to `frames` (tslab's message class is not exported). */
  private sendRaw(sock: Socket, frames: readonly Buffer[], msgType: string, content: object): void {
    const at = frames.findIndex((f) => f.equals(DELIM));
    const parent = JSON.parse(frames[at + 2]!.toString('utf8')) as { session?: string; username?: string };
    const header = { version: '5.3', date: new Date().toISOString(), session: parent.session, username: parent.username, msg_type: msgType, msg_id: randomBytes(16).toString('hex') };
    const bodies = [header, parent, {}, content].map((o) => JSON.stringify(o));
    const mac = createHmac('sha256', this.connInfo.key);
    for (const b of bodies) mac.update(b);
    void (sock as unknown as { send(f: (Buffer | string)[]): Promise<void> }).send([...frames.slice(0, at), DELIM, this.connInfo.key ? mac.digest('hex') : '', ...bodies]);
  }

  private async handleHistory(sock: Socket, frames: readonly Buffer[]): Promise<void> {
    const at = frames.findIndex((f) => f.equals(DELIM));
    const req = JSON.parse(frames[at + 5]!.toString('utf8')) as HistoryRequest;
    const iopub = this.iopub as unknown as Socket;
    this.sendRaw(iopub, frames, 'status', { execution_state: 'busy' });
    const reply = this.host.loaded ? (await this.host.ready()).historyRequest(req) : { status: 'ok', history: [] };
    this.sendRaw(sock, frames, 'history_reply', reply);
    this.sendRaw(iopub, frames, 'status', { execution_state: 'idle' });
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
    const kernel = await this.host.ready();
    const result = await kernel.submit({ ...(msg.content as ExecuteRequest), sentAt: this.sentAt(msg) }, sink);
    const reply = msg.createReply(); // created after execution so header.date is the finish time
    reply.header.msg_type = 'execute_reply';
    reply.content = result;
    reply.signAndSend(this.connInfo.key, sock);
  }

  /**
   * When the client sent `msg`, on our clock: its header date corrected by the smallest offset
   * seen so far (clients on other machines may have skewed clocks). Undefined without a date.
   */
  private sentAt(msg: Message): number | undefined {
    const header = msg.header as { date?: string; msg_id?: string };
    const arrived = this.arrivals.get(header.msg_id ?? '') ?? preciseNow();
    this.arrivals.delete(header.msg_id ?? '');
    const date = parseIsoMs(header.date ?? '');
    if (!Number.isFinite(date)) return undefined;
    this.clockOffset = Math.min(this.clockOffset, arrived - date);
    return date + this.clockOffset;
  }

  override handleCommInfoRequest(sock: Socket, msg: Message): void {
    const reply = msg.createReply();
    reply.header.msg_type = 'comm_info_reply';
    reply.content = { status: 'ok', comms: {} };
    reply.signAndSend(this.connInfo.key, sock);
  }
}

/**
 * Starts the kernel on a Jupyter connection file. The sockets are bound first, so the client's
 * kernel_info_request is answered in well under a second; the notebook kernel then loads (its
 * TypeScript program build blocks the event loop for a moment, so it starts once the first
 * kernel_info_reply is out, or after 300 ms), and execute requests wait for it.
 */
export async function startKernel(configPath: string): Promise<void> {
  const host = new KernelHost();
  const server = new GemmaLabServer(host, configPath);
  process.on('SIGINT', () => {
    if (host.loaded) host.now().interrupt();
  });
  // Keep the kernel alive on stray async errors (e.g. a training loop that ended by interrupt).
  process.on('uncaughtException', (err) => console.error('gemma-lab kernel: uncaught exception:', err));
  process.on('unhandledRejection', (reason) => console.error('gemma-lab kernel: unhandled rejection:', reason));
  await server.init();
  server.serialiseSends();
  await Promise.race([server.firstKernelInfoSent, new Promise((r) => setTimeout(r, 300))]);
  try {
    await host.ready();
  } catch (err) {
    // Without its prelude the kernel cannot run cells: exit so the client reports a dead kernel.
    kernelLog(`failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  }
}
