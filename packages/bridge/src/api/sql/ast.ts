/**
 * ClickHouse's own parse of a query, as `EXPLAIN AST` prints it: one line per node, indented one
 * space per level, `<Type>[ <name or value>][ (alias <alias>)][ (children <n>)]`.
 *
 *   SelectWithUnionQuery (children 1)
 *    ExpressionList (children 1)
 *     SelectQuery (children 2)
 *      ExpressionList (children 1)
 *       Function file (children 1)
 *       ...
 *
 * Names and aliases are printed as they are, so a quoted identifier holding a line break could
 * print lines that are not nodes: api/sql/ refuses such identifiers before asking for the parse,
 * and this reader checks that the tree holds together (every `(children n)` matches the lines
 * below it) and refuses the query when it does not.
 */

export interface AstNode {
  /** The node type: the first word of the line (`Function`, `TableIdentifier`, ...). */
  readonly type: string;
  /** The rest of the line after the type, without the `(children n)` suffix. */
  readonly text: string;
  readonly children: AstNode[];
  readonly parent: AstNode | null;
}

export class AstReadError extends Error {}

const CHILDREN = / \(children (\d+)\)$/;

/** Reads EXPLAIN AST output into its root nodes (one per statement). Throws AstReadError. */
export function readAst(dump: string): AstNode[] {
  const lines = dump.replace(/\n+$/, '').split('\n');
  const roots: AstNode[] = [];
  const declared = new Map<AstNode, number>();
  const stack: AstNode[] = [];
  for (const [i, line] of lines.entries()) {
    const depth = line.length - line.trimStart().length;
    const body = line.slice(depth);
    if (!body) throw new AstReadError(`line ${i + 1} of the parse is empty`);
    if (depth > stack.length) throw new AstReadError(`line ${i + 1} of the parse is indented past its parent`);
    stack.length = depth;
    const m = CHILDREN.exec(body);
    const head = m ? body.slice(0, m.index) : body;
    const space = head.indexOf(' ');
    const parent = depth ? stack[depth - 1] : null;
    const node: AstNode = { type: space < 0 ? head : head.slice(0, space), text: space < 0 ? '' : head.slice(space + 1), children: [], parent };
    declared.set(node, m ? Number(m[1]) : 0);
    if (parent) parent.children.push(node);
    else roots.push(node);
    stack.push(node);
  }
  for (const [node, n] of declared) {
    if (node.children.length !== n) {
      throw new AstReadError(`the parse of ${node.type} says ${n} children and has ${node.children.length}`);
    }
  }
  return roots;
}

/** Every node of the tree, parents before children. */
export function* walk(node: AstNode): Generator<AstNode> {
  yield node;
  for (const c of node.children) yield* walk(c);
}

/** `name (alias a)` → { name, alias }; the alias only when it is a plain identifier. */
export function nameAndAlias(text: string): { name: string; alias?: string } {
  const m = / \(alias ([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(text);
  return m ? { name: text.slice(0, m.index), alias: m[1] } : { name: text };
}
