/**
 * Markdown → HTML for reports, with `marked` (GitHub-flavoured Markdown: tables, fenced code,
 * strikethrough): the parser JupyterLab renders markdown cells with, so a report reads like the
 * notebook. Raw HTML in markdown passes through, as in Jupyter (notebooks are trusted input here).
 */
import { Marked } from 'marked';

const md = new Marked({ gfm: true, async: false });

export function markdownToHtml(source: string): string {
  return md.parse(source, { async: false });
}
