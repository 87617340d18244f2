/**
 * Lists every name a package entry point exports — values and types — with the TypeScript compiler, so a
 * package's `exports.test.ts` can pin its public surface: adding or removing an export then fails that
 * test until the list is updated on purpose (every export is a semver promise).
 */
import ts from 'typescript'

/** The sorted names exported by the module at `entry` (a `.ts` file), each tagged `type` or `value`. */
export function exportedNames(entry: string): string[] {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    customConditions: ['@araliya/source']
  })
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(entry)
  if (source === undefined) throw new Error(`cannot read ${entry}`)
  const moduleSymbol = checker.getSymbolAtLocation(source)
  if (moduleSymbol === undefined) return []
  return checker
    .getExportsOfModule(moduleSymbol)
    .map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
      const isValue = (target.flags & ts.SymbolFlags.Value) !== 0 && !isTypeOnlyExport(symbol)
      return `${symbol.getName()} (${isValue ? 'value' : 'type'})`
    })
    .sort()
}

function isTypeOnlyExport(symbol: ts.Symbol): boolean {
  return (symbol.declarations ?? []).some(
    (declaration) =>
      (ts.isExportSpecifier(declaration) &&
        (declaration.isTypeOnly || declaration.parent.parent.isTypeOnly)) ||
      ts.isNamespaceExport(declaration)
  )
}
