/**
 * Small syntax-level edits and checks of cell source, made with the parser of tslab's own
 * TypeScript (the same grammar the cell is compiled with). Every edit keeps the line structure,
 * so diagnostics and stack frames still name the cell's lines.
 */
import { createRequire } from 'node:module';
import type * as TS from 'typescript';

const require = createRequire(import.meta.url);
let tsFork: typeof TS | undefined;
// Loaded on first use: tslab's converter loads the same module anyway.
const ts = (): typeof TS => (tsFork ??= require('@tslab/typescript-for-tslab') as typeof TS);

function parse(code: string): TS.SourceFile {
  return ts().createSourceFile('cell.ts', code, ts().ScriptTarget.ES2022, true, ts().ScriptKind.TS);
}

/**
 * `{ seed }` → `{ seed: seed }` everywhere. tslab rewrites references to names of earlier cells
 * into `exports.NAME` but misses shorthand properties, which then throw ReferenceError. The
 * expansion means the same in object literals and destructuring assignments (`({ a } = o)`).
 */
export function expandShorthand(code: string): string {
  if (!code.includes('{')) return code;
  const sf = parse(code);
  const edits: { at: number; text: string }[] = [];
  const visit = (node: TS.Node): void => {
    if (ts().isShorthandPropertyAssignment(node)) edits.push({ at: node.name.getEnd(), text: `: ${node.name.text}` });
    node.forEachChild(visit);
  };
  sf.forEachChild(visit);
  let out = code;
  for (const e of edits.sort((a, b) => b.at - a.at)) out = out.slice(0, e.at) + e.text + out.slice(e.at);
  return out;
}

/** True when `code` is one expression statement (so `%time EXPR` should show its value). */
export function isSingleExpression(code: string): boolean {
  const sf = parse(code);
  const diags = (sf as unknown as { parseDiagnostics?: readonly unknown[] }).parseDiagnostics ?? [];
  return diags.length === 0 && sf.statements.length === 1 && ts().isExpressionStatement(sf.statements[0]!);
}

/**
 * An unfinished template literal or block comment: the scanner reaches the end of the cell
 * inside it. (tslab's check calls such a cell complete, so Enter in `jupyter console` runs it.)
 */
export function endsInsideTemplateOrComment(code: string): boolean {
  const t = ts();
  const scanner = t.createScanner(t.ScriptTarget.ES2022, false, t.LanguageVariant.Standard, code);
  let braces: number[] = []; // brace depth at each open `${`
  let depth = 0;
  for (let kind = scanner.scan(); kind !== t.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    if (kind === t.SyntaxKind.MultiLineCommentTrivia) {
      const text = scanner.getTokenText();
      if (text.length < 4 || !text.endsWith('*/')) return true;
      continue;
    }
    if ((kind === t.SyntaxKind.NoSubstitutionTemplateLiteral || kind === t.SyntaxKind.TemplateTail) && scanner.isUnterminated()) return true;
    if (kind === t.SyntaxKind.TemplateHead) {
      if (scanner.isUnterminated()) return true;
      braces.push(depth);
    } else if (kind === t.SyntaxKind.OpenBraceToken) depth++;
    else if (kind === t.SyntaxKind.CloseBraceToken) {
      if (braces.length && braces[braces.length - 1] === depth) {
        // `}` closing a substitution: the template continues.
        braces = braces.slice(0, -1);
        const next = scanner.reScanTemplateToken(false);
        if (scanner.isUnterminated()) return true;
        if (next === t.SyntaxKind.TemplateMiddle) braces.push(depth);
        continue;
      }
      depth--;
    }
  }
  return braces.length > 0;
}
