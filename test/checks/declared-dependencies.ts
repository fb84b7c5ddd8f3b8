// Each workspace declares, in its own package.json, every package its src/ imports: a dependency
// that works only because npm hoisted it beside another workspace's breaks the first time that
// workspace is installed or deployed alone (the function's deploy, a lean image).
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';

export interface UndeclaredImport {
  file: string;
  pkg: string;
}

const BUILTINS = new Set(builtinModules);

/** The package a bare import names: `@scope/name` or `name`, without a subpath. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:') || specifier.startsWith('file:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return name === undefined || BUILTINS.has(name) ? undefined : name;
}

/** Every package a TypeScript source names: static and dynamic imports, re-exports, require(). */
export function importedPackages(source: string): string[] {
  const specifiers = [
    ...source.matchAll(/\b(?:import|export)\s[^;]*?\bfrom\s+'([^']+)'/g),
    ...source.matchAll(/\bimport\s+'([^']+)'/g),
    ...source.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
    ...source.matchAll(/\brequire\(\s*'([^']+)'\s*\)/g),
  ].map((match) => match[1] ?? '');
  return [...new Set(specifiers.map(packageOf).filter((name): name is string => name !== undefined))].sort();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Imports of `workspaceDir/src` that its package.json does not declare (dependencies or peerDependencies). */
export function undeclaredImports(workspaceDir: string, alsoDeclared: readonly string[] = []): UndeclaredImport[] {
  const manifest = JSON.parse(readFileSync(join(workspaceDir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
  };
  const declared = new Set([manifest.name, ...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {}), ...alsoDeclared]);
  return sourceFiles(join(workspaceDir, 'src')).flatMap((file) =>
    importedPackages(readFileSync(file, 'utf8'))
      .filter((pkg) => !declared.has(pkg))
      .map((pkg) => ({ file: relative(workspaceDir, file), pkg })),
  );
}

/** Declared dependencies no source of the workspace imports (or loads by name, as a logger transport). */
export function unusedDependencies(workspaceDir: string, loadedByName: readonly string[] = []): string[] {
  const manifest = JSON.parse(readFileSync(join(workspaceDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const used = new Set([...sourceFiles(join(workspaceDir, 'src')).flatMap((file) => importedPackages(readFileSync(file, 'utf8'))), ...loadedByName]);
  return Object.keys(manifest.dependencies ?? {}).filter((pkg) => !used.has(pkg) && !pkg.startsWith('@types/'));
}
