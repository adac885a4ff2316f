/**
 * The kernel's input history for `history_request` (Jupyter messaging spec): what `jupyter console`
 * asks for at start (tail) and what clients page through (range, search). Kept in memory for the
 * kernel's lifetime, one session numbered 1 (IPython's history database has no equivalent here).
 */

export interface HistoryRequest {
  readonly output?: boolean;
  readonly raw?: boolean;
  readonly hist_access_type?: 'range' | 'tail' | 'search';
  readonly session?: number;
  readonly start?: number;
  readonly stop?: number | null;
  readonly n?: number | null;
  readonly pattern?: string;
  readonly unique?: boolean;
}

/** [session, line, input] or, with `output: true`, [session, line, [input, output | null]]. */
export type HistoryEntry = [number, number, string] | [number, number, [string, string | null]];

export interface HistoryReply {
  readonly status: 'ok';
  readonly history: HistoryEntry[];
}

export const SESSION = 1;

interface Item {
  readonly line: number;
  readonly input: string;
  output: string | null;
}

/** IPython's history search pattern: a glob (`*`, `?`, `[...]`) matched against the whole input. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class History {
  private readonly items: Item[] = [];

  add(line: number, input: string): void {
    this.items.push({ line, input, output: null });
  }

  /** The text/plain result of line `line` (for `output: true` requests). */
  setOutput(line: number, text: string): void {
    const it = this.items.findLast((i) => i.line === line);
    if (it) it.output = text;
  }

  query(req: HistoryRequest): HistoryReply {
    let items: Item[];
    switch (req.hist_access_type ?? 'tail') {
      case 'tail':
        items = this.items.slice(-Math.max(0, req.n ?? 10));
        break;
      case 'range': {
        // session 0 (or ours) means the current session; others do not exist here.
        if (req.session !== undefined && req.session !== 0 && req.session !== SESSION) items = [];
        else {
          const start = req.start ?? 0;
          const stop = req.stop ?? Infinity;
          items = this.items.filter((i) => i.line >= start && i.line < stop);
        }
        break;
      }
      case 'search': {
        const re = globToRegExp(req.pattern ?? '*');
        items = this.items.filter((i) => re.test(i.input));
        if (req.unique) {
          const seen = new Set<string>();
          items = items.reverse().filter((i) => !seen.has(i.input) && !!seen.add(i.input)).reverse();
        }
        if (req.n) items = items.slice(-req.n);
        break;
      }
      default:
        items = [];
    }
    return {
      status: 'ok',
      history: items.map((i): HistoryEntry => (req.output ? [SESSION, i.line, [i.input, i.output]] : [SESSION, i.line, i.input])),
    };
  }
}

