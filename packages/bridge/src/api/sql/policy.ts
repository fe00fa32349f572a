/**
 * What a read-only `sql` query may contain, decided on ClickHouse's own parse of it (ast.ts):
 * exactly one SELECT (or WITH … SELECT, UNION, INTERSECT, EXCEPT), reading the audit database's
 * tables and views, a few system tables and harmless table functions, calling functions of the
 * engine's own catalog that compute and reach nothing outside the query; no SETTINGS, no
 * FORMAT, no INTO OUTFILE. The engine enforces the rest (read-only session, limits, tenant
 * filter: read-only-sql.ts); this check is what keeps a query from reading files, the network,
 * other databases or the server's configuration, which readonly=1 alone does not forbid
 * (`SELECT file('/etc/passwd')` runs in a read-only session).
 */
import { nameAndAlias, walk, type AstNode } from './ast.ts';

export class SqlRejectedError extends Error {}

/** Table functions a query may read: they generate rows or wrap a subquery, nothing else. */
export const ALLOWED_TABLE_FUNCTIONS: ReadonlySet<string> = new Set([
  'numbers',
  'numbers_mt',
  'zeros',
  'zeros_mt',
  'values',
  'generate_series',
  'generateseries',
  'primes',
  'null',
  'generaterandom',
  // view(SELECT ...) is a subquery; its own tables and functions are checked like any other.
  'view',
]);

/**
 * System tables a query may read, and why:
 *  - one: what `SELECT 1` reads anyway;
 *  - tables, columns: the schema of the audit database (DESCRIBE is not a SELECT), filtered by
 *    the engine to the audit database's rows (read-only-sql.ts), and hidden from readers
 *    limited to some tenants, since their row and byte counts cover every tenant.
 * Every other system table is refused: they reveal configuration, users, grants, settings,
 * processes, or the query log with other readers' queries.
 */
export const ALLOWED_SYSTEM_TABLES: ReadonlySet<string> = new Set(['one', 'tables', 'columns']);

/** Function categories of system.functions whose functions compute on their arguments only. */
export const ALLOWED_CATEGORIES: ReadonlySet<string> = new Set([
  'Aggregate Functions',
  'Arithmetic',
  'Arrays',
  'Bit',
  'Bitmap',
  'Comparison',
  'Conditional',
  'Dates and Times',
  'Distance',
  'Encoding',
  'Encryption',
  'Financial',
  'Geo',
  'Geo Polygon',
  'Hash',
  'IP Address',
  'JSON',
  'Logical',
  'Machine Learning',
  'Map',
  'Mathematical',
  'Null',
  'NumericIndexedVector',
  'QBit',
  'Random Number',
  'Rounding',
  'String',
  'String Replacement',
  'String Search',
  'String Splitting',
  'Time Series',
  'Time Window',
  'Tuple',
  'Type Conversion',
  'URL',
  'UUID',
]);

/** Why a whole category is refused. Any category not named here or above is refused too. */
export const REFUSED_CATEGORIES: ReadonlyMap<string, string> = new Map([
  ['AI', 'it calls an external AI service'],
  ['Dictionary', 'it reads a dictionary, which lives outside the audit database'],
  ['Embedded Dictionary', 'it reads the server\'s embedded dictionaries'],
  ['Introspection', 'it inspects the server process'],
  ['Internal', 'it is internal to the engine'],
]);

/** Functions of the `Other` category that compute on their arguments (or the query) only. */
export const ALLOWED_OTHER: ReadonlySet<string> = new Set([
  'bar', 'blockNumber', 'blockSerializedSize', 'blockSize', 'byteSize', 'colorOKLABToSRGB', 'colorOKLCHToSRGB', 'colorSRGBToOKLAB',
  'colorSRGBToOKLCH', 'countDigits', 'currentDatabase', 'defaultValueOfArgumentType', 'defaultValueOfTypeName', 'dumpColumnStructure',
  'errorCodeToName', 'finalizeAggregation', 'flipCoordinates', 'formatQuery', 'formatQueryOrNull', 'formatQuerySingleLine',
  'formatQuerySingleLineOrNull', 'formatReadableDecimalSize', 'formatReadableQuantity', 'formatReadableSize', 'formatReadableTimeDelta',
  'generateRandomStructure', 'getSizeOfEnumType', 'getSubcolumn', 'identity', 'ignore', 'indexHint', 'initializeAggregation', 'isConstant',
  'isDecimalOverflow', 'lowCardinalityIndices', 'lowCardinalityKeys', 'MACNumToString', 'MACStringToNum', 'MACStringToOUI', 'materialize',
  'minSampleSizeContinuous', 'minSampleSizeConversion', 'neighbor', 'normalizeQuery', 'normalizeQueryKeepNames', 'normalizedQueryHash',
  'normalizedQueryHashKeepNames', 'parseReadableSize', 'parseReadableSizeOrNull', 'parseReadableSizeOrZero', 'parseTimeDelta',
  'rowNumberInAllBlocks', 'rowNumberInBlock', 'runningAccumulate', 'runningDifference', 'runningDifferenceStartingWithFirstValue',
  'throwIf', 'toColumnTypeName', 'toTypeName', 'transform', 'variantElement', 'variantType', 'visibleWidth',
]);

/** Functions refused whatever their category, with the reason the refusal gives. */
const REFUSED_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['file', 'it reads files of the bridge host'],
  ['catboostEvaluate', 'it loads a model file from the bridge host'],
  ['naiveBayesClassifier', 'it reads a dictionary'],
  ['naiveBayesClassifierWithProb', 'it reads a dictionary'],
  ['naiveBayesClassifierWithAllProbs', 'it reads a dictionary'],
  ['joinGet', 'it reads a table by name'],
  ['joinGetOrNull', 'it reads a table by name'],
  ['hasColumnInTable', 'it looks into tables by name'],
  ['getSetting', 'it reveals settings'],
  ['getSettingOrDefault', 'it reveals settings'],
  ['getServerSetting', 'it reveals the server configuration'],
  ['getMergeTreeSetting', 'it reveals the server configuration'],
  ['getMacro', 'it reveals the server configuration'],
  ['getClientHTTPHeader', 'it reveals request headers'],
  ['showCertificate', 'it reveals the server configuration'],
  ['filesystemAvailable', 'it reveals the server\'s disks'],
  ['filesystemCapacity', 'it reveals the server\'s disks'],
  ['filesystemUnreserved', 'it reveals the server\'s disks'],
  ['generateSerialID', 'it writes to Keeper'],
  ['sleep', 'it only holds a query slot'],
  ['sleepEachRow', 'it only holds a query slot'],
]);

/** Functions the parser writes that system.functions does not list. */
const PARSER_FUNCTIONS = new Set(['lambda', 'exists', 'untuple', 'grouping', 'caseWithExpression', '_CAST']);

/** Suffixes an aggregate function may carry (sumIf, uniqArrayIf, countDistinct, avgOrNull...). */
const COMBINATORS = ['MergeState', 'SimpleState', 'OrDefault', 'Resample', 'Distinct', 'ForEach', 'ArgMin', 'ArgMax', 'OrNull', 'State', 'Merge', 'Array', 'Map', 'If'];

/** The `IN` family: a bare name on their right reads a table (`x IN otel_audit.events`). */
const IN_FUNCTIONS = /^(global)?(not)?(null)?in(ignoreset)?$/i;

interface FunctionInfo {
  name: string;
  aggregate: boolean;
  categories: string[];
}

/** The engine's own function catalog (system.functions, system.table_functions). */
export class FunctionCatalog {
  private readonly exact = new Map<string, FunctionInfo>();
  private readonly caseInsensitive = new Map<string, FunctionInfo>();
  /** Every table function name, lower case. */
  readonly tableFunctions: ReadonlySet<string>;

  constructor(
    functions: ReadonlyArray<{ name: string; is_aggregate: number | string; case_insensitive: number | string; alias_to: string; categories: string }>,
    tableFunctions: readonly string[],
  ) {
    const info = new Map<string, FunctionInfo>();
    for (const f of functions) {
      if (f.alias_to) continue;
      info.set(f.name, { name: f.name, aggregate: Number(f.is_aggregate) === 1, categories: f.categories.split(/,\s*/).filter(Boolean) });
    }
    for (const f of functions) {
      const target = info.get(f.alias_to || f.name);
      if (!target) continue;
      this.exact.set(f.name, target);
      if (Number(f.case_insensitive) === 1) this.caseInsensitive.set(f.name.toLowerCase(), target);
    }
    this.tableFunctions = new Set(tableFunctions.map((t) => t.toLowerCase()));
  }

  /** The function a name calls, through aliases, letter case and aggregate combinators. */
  resolve(name: string): FunctionInfo | null {
    const direct = this.exact.get(name) ?? this.caseInsensitive.get(name.toLowerCase());
    if (direct) return direct;
    for (const c of COMBINATORS) {
      if (name.length > c.length && name.endsWith(c)) {
        const base = this.resolve(name.slice(0, -c.length));
        if (base?.aggregate) return base;
      }
    }
    return null;
  }
}

export interface PolicyContext {
  /** The audit database (`otel_audit`). */
  database: string;
  catalog: FunctionCatalog;
}

/**
 * Throws SqlRejectedError, naming what is not allowed, unless `roots` (the parse of
 * `formatted`, ClickHouse's own rendering of the query) is one SELECT that stays in bounds.
 */
export function checkSelect(roots: readonly AstNode[], formatted: string, ctx: PolicyContext): void {
  if (roots.length !== 1) throw new SqlRejectedError('only one statement is allowed');
  const root = roots[0];
  if (root.type !== 'SelectWithUnionQuery') {
    const kind = /^\s*([A-Za-z]+)/.exec(formatted)?.[1]?.toUpperCase() ?? root.type;
    throw new SqlRejectedError(`${kind} is not allowed: sql runs one SELECT (or WITH … SELECT) and nothing else`);
  }
  for (const node of walk(root)) checkNode(node, ctx);
}

/** Node types of a SELECT that the check understands; any other is refused (fail closed). */
const SELECT_NODES = new Set([
  'SelectWithUnionQuery', 'SelectIntersectExceptQuery', 'SelectQuery', 'ExpressionList', 'TablesInSelectQuery',
  'TablesInSelectQueryElement', 'TableExpression', 'TableIdentifier', 'TableJoin', 'ArrayJoin', 'Subquery', 'WithElement',
  'Function', 'Identifier', 'Literal', 'Asterisk', 'QualifiedAsterisk', 'ColumnsRegexpMatcher', 'ColumnsListMatcher',
  'QualifiedColumnsRegexpMatcher', 'QualifiedColumnsListMatcher', 'ColumnsTransformerList', 'ColumnsExceptTransformer',
  'ColumnsReplaceTransformer', 'ColumnsReplaceTransformer::Replacement', 'OrderByElement', 'WindowDefinition',
  'WindowListElement', 'InterpolateElement', 'SampleRatio', 'QueryParameter',
]);

const SETTINGS_REFUSED = 'SETTINGS is not allowed: the bridge sets the query limits, and a query may not change them';

function checkNode(node: AstNode, ctx: PolicyContext): void {
  switch (node.type) {
    case 'Set':
      throw new SqlRejectedError(SETTINGS_REFUSED);
    case 'ColumnsApplyTransformer':
      throw new SqlRejectedError('APPLY is not allowed (the function it applies is not shown to the check): call the function directly');
    case 'Explain':
      throw new SqlRejectedError('EXPLAIN is not allowed: sql runs one SELECT (or WITH … SELECT) and nothing else');
    case 'SelectWithUnionQuery':
      return checkSelectClauses(node);
    case 'TableIdentifier':
      return checkTable(node.text, ctx, true);
    case 'Function':
      return checkFunction(node, ctx);
  }
  if (!SELECT_NODES.has(node.type)) throw new SqlRejectedError(`${node.type} is not allowed in a read-only query`);
}

/** The clauses a SelectWithUnionQuery holds beyond its selects: INTO OUTFILE, FORMAT, SETTINGS. */
function checkSelectClauses(node: AstNode): void {
  for (const extra of node.children.slice(1)) {
    if (extra.type === 'Literal') throw new SqlRejectedError('INTO OUTFILE is not allowed: sql writes no files; the result comes back in the response');
    if (extra.type === 'Identifier') throw new SqlRejectedError('FORMAT is not allowed in the query: choose the output with --format (or ?format=)');
    if (extra.type === 'Set') throw new SqlRejectedError(SETTINGS_REFUSED);
    throw new SqlRejectedError(`${extra.type} is not allowed after a SELECT`);
  }
  if (node.children[0]?.type !== 'ExpressionList') throw new SqlRejectedError('the query is not a plain SELECT');
}

const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A table name: `db.table` must name the audit database or an allowed system table; a bare
 * name is a table or view of the audit database (the reader's current database) or a CTE.
 * Names that cannot be told apart in the parse's text (quoted names holding dots, spaces or
 * parentheses) are refused.
 */
function checkTable(text: string, ctx: PolicyContext, strict: boolean): void {
  const { name, alias } = nameAndAlias(text);
  const parts = name.split('.');
  const plain = parts.length <= 2 && parts.every((p) => PLAIN.test(p)) && (alias === undefined || PLAIN.test(alias));
  if (!plain) {
    if (!strict && !name.includes('.')) return;
    throw new SqlRejectedError(`table name "${name.slice(0, 100)}" is not allowed: quote table names only when they are plain names (letters, digits, _)`);
  }
  if (parts.length === 1) return;
  const [db, table] = parts;
  if (db === ctx.database) return;
  if (db === 'system' && ALLOWED_SYSTEM_TABLES.has(table)) return;
  const system = [...ALLOWED_SYSTEM_TABLES].map((t) => `system.${t}`).join(', ');
  throw new SqlRejectedError(`${name} is not allowed: sql reads the audit database (${ctx.database}.*) and ${system} only`);
}

function checkFunction(node: AstNode, ctx: PolicyContext): void {
  const { name } = nameAndAlias(node.text);
  if (!PLAIN.test(name)) throw new SqlRejectedError(`function name "${name.slice(0, 100)}" is not allowed: call functions by their plain names`);
  // A function right under TableExpression is a table function (FROM numbers(10)).
  if (node.parent?.type === 'TableExpression') {
    if (ALLOWED_TABLE_FUNCTIONS.has(name.toLowerCase())) return;
    throw new SqlRejectedError(
      `table function ${name}() is not allowed: sql reads the audit database only (table functions allowed: ${[...ALLOWED_TABLE_FUNCTIONS].filter((f) => f !== 'generateseries').join(', ')})`,
    );
  }
  if (IN_FUNCTIONS.test(name)) {
    const right = node.children[0]?.children[1];
    if (right?.type === 'Identifier') checkTable(right.text, ctx, false);
  }
  const refused = functionRefusal(name, ctx.catalog);
  if (refused) throw new SqlRejectedError(`${name}() is not allowed: ${refused}`);
}

/** Why a query may not call the function `name` (as a plain function), or null when it may. */
export function functionRefusal(name: string, catalog: FunctionCatalog): string | null {
  if (PARSER_FUNCTIONS.has(name)) return null;
  const f = catalog.resolve(name);
  if (!f) {
    if (catalog.tableFunctions.has(name.toLowerCase())) return 'it is a table function, and sql reads the audit database only';
    return REFUSED_FUNCTIONS.get(name) ?? "no such function in the engine's catalog";
  }
  const refused = REFUSED_FUNCTIONS.get(name) ?? REFUSED_FUNCTIONS.get(f.name);
  if (refused) return refused;
  if (!f.categories.length) return "it has no category in the engine's catalog (user-defined, or new to this version)";
  for (const c of f.categories) {
    const why = REFUSED_CATEGORIES.get(c);
    if (why) return why;
    if (c === 'Other') {
      if (!ALLOWED_OTHER.has(f.name)) return 'it is not on the list of functions sql may call (it may reveal the server or reach outside the query)';
    } else if (!ALLOWED_CATEGORIES.has(c)) {
      return `its category "${c}" is not one sql may call`;
    }
  }
  return null;
}
