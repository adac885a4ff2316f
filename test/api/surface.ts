/**
 * The public surface as the TypeScript compiler sees it: the entry points of package.json `exports` and, for
 * every function, class and constant they export, the project-declared types its signatures name (parameters,
 * results, and the properties of option objects, one level deep). Used by public-api.test.ts.
 */
import ts from 'typescript';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../../src/io/paths.js';

/** `exports` subpath -> its source entry (dist/X.js is built from src/X.ts). */
export const ENTRIES: Record<string, string> = {
  'gemma-lab': 'src/index.ts',
  'gemma-lab/experiments': 'src/experiments/index.ts',
};

export interface Surface {
  /** Declarations reachable by name from some entry ('file:Name'). */
  readonly exported: ReadonlySet<string>;
  /** Project-declared named types used in exported signatures but not exported: 'file:Name <- used by'. */
  readonly missing: readonly string[];
}

export function publicSurface(): Surface {
  const files = Object.values(ENTRIES).map((f) => join(REPO_ROOT, f));
  const config = ts.readConfigFile(join(REPO_ROOT, 'tsconfig.json'), ts.sys.readFile).config as object;
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, REPO_ROOT);
  const program = ts.createProgram(files, { ...parsed.options, noEmit: true });
  const checker = program.getTypeChecker();
  const src = join(REPO_ROOT, 'src');
  const own = (d: ts.Declaration) => d.getSourceFile().fileName.startsWith(src);
  const key = (d: ts.Declaration, name: string) => `${relative(REPO_ROOT, d.getSourceFile().fileName)}:${name}`;
  const resolve = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);

  const exported = new Set<string>();
  const values: ts.Symbol[] = [];
  const visitModule = (mod: ts.Symbol, seen: Set<ts.Symbol>) => {
    if (seen.has(mod)) return;
    seen.add(mod);
    for (const e of checker.getExportsOfModule(mod)) {
      const s = resolve(e);
      for (const d of s.declarations ?? []) exported.add(key(d, s.name));
      if (s.flags & ts.SymbolFlags.ValueModule && s.declarations?.some(ts.isSourceFile)) visitModule(s, seen); // export * as ns
      else if (s.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class | ts.SymbolFlags.Variable)) values.push(s);
    }
  };
  for (const f of files) {
    const sf = program.getSourceFile(f);
    const mod = sf && checker.getSymbolAtLocation(sf);
    if (!mod) throw new Error(`cannot read entry ${f}`);
    visitModule(mod, new Set());
  }

  const missing = new Set<string>();
  const named = new Set<ts.Symbol>();
  const collect = (node: ts.Node | undefined, user: string, depth: number) => {
    if (!node) return;
    const visit = (n: ts.Node) => {
      if (ts.isTypeReferenceNode(n)) {
        const at = checker.getSymbolAtLocation(n.typeName);
        const s = at && resolve(at);
        const decl = s?.declarations?.[0];
        if (s && decl && own(decl) && s.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum | ts.SymbolFlags.Class)) {
          if (!exported.has(key(decl, s.name))) missing.add(`${key(decl, s.name)} <- ${user}`);
          // Option objects: their properties' types are part of the contract too.
          if (depth > 0 && !named.has(s)) {
            named.add(s);
            for (const d of s.declarations ?? []) {
              if (ts.isInterfaceDeclaration(d)) {
                for (const m of d.members) if (ts.isPropertySignature(m)) collect(m.type, `${s.name}.${m.name.getText()}`, depth - 1);
                for (const h of d.heritageClauses ?? []) for (const t of h.types) collect(t.expression, s.name, depth);
              } else if (ts.isTypeAliasDeclaration(d)) collect(d.type, s.name, depth - 1);
            }
          }
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
  };
  const signature = (d: ts.SignatureDeclaration, user: string) => {
    for (const p of d.parameters) collect(p.type, user, 1);
    collect(d.type, user, 1);
  };
  for (const s of values) {
    for (const d of s.declarations ?? []) {
      if (!own(d)) continue;
      if (ts.isFunctionDeclaration(d)) signature(d, s.name);
      else if (ts.isVariableDeclaration(d)) collect(d.type, s.name, 1);
      else if (ts.isClassDeclaration(d)) {
        for (const m of d.members) {
          const mods = ts.canHaveModifiers(m) ? ts.getModifiers(m) ?? [] : [];
          if (mods.some((x) => x.kind === ts.SyntaxKind.PrivateKeyword || x.kind === ts.SyntaxKind.ProtectedKeyword)) continue;
          if (m.name && ts.isPrivateIdentifier(m.name)) continue;
          const user = `${s.name}.${m.name?.getText() ?? 'constructor'}`;
          if (ts.isMethodDeclaration(m) || ts.isConstructorDeclaration(m)) signature(m, user);
          else if (ts.isPropertyDeclaration(m)) collect(m.type, user, 1);
        }
      }
    }
  }
  return { exported, missing: [...missing].sort() };
}
