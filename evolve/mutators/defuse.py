"""Def-use analysis for offline edits: which names a program reads before (or without) binding them.

A static check only — candidate code is never executed here. It walks each scope in statement
order the way Python resolves names: a function's locals are the names it binds anywhere, and
reading one before its first binding is an UnboundLocalError; any other name must be a builtin
or bound in an enclosing scope (function bodies see every module-level name, bound before or
after them). A name bound by only one branch of an `if` counts as bound after it only when the other branch
leaves (return, raise, break, continue); loops and `try` are read liberally (a loop body's
bindings count as bound after it). The check exists to reject the children an edit breaks (a
deleted or moved definition, a statement pasted above the names it uses); a parent's own
unresolved names are tolerated by the mutator, which only refuses new ones.
"""
from __future__ import annotations

import ast
import builtins

BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__"}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LEAVES = (ast.Return, ast.Raise, ast.Continue, ast.Break)  # a branch ending so does not fall through
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _arg_names(args: ast.arguments) -> set[str]:
    every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
    return {a.arg for a in every}


def stores(node: ast.AST) -> set[str]:
    """Names a statement (or target) binds in its own scope; nested scopes' bindings stay inside them."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(current.name)
            if current is not node:
                continue
            stack.extend(current.decorator_list)
            continue
        if isinstance(current, (ast.Lambda, *_COMPREHENSIONS)) and current is not node:
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, (ast.Store, ast.Del)):
            found.add(current.id)
        elif isinstance(current, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in current.names if a.name != "*")
        elif isinstance(current, ast.ExceptHandler) and current.name:
            found.add(current.name)
        elif isinstance(current, (ast.MatchAs, ast.MatchStar)) and current.name:
            found.add(current.name)
        stack.extend(ast.iter_child_nodes(current))
    return found


def reads(node: ast.AST) -> set[str]:
    """Names an expression or simple statement reads from its scope (lambda and comprehension locals excluded)."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, ast.Lambda):
        defaults = set().union(*(reads(d) for d in node.args.defaults + [d for d in node.args.kw_defaults if d]))
        return defaults | (reads(node.body) - _arg_names(node.args))
    if isinstance(node, _COMPREHENSIONS):
        targets = set().union(*(stores(g.target) for g in node.generators))
        parts = [g.iter for g in node.generators] + [i for g in node.generators for i in g.ifs]
        parts += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        walrus = {n.target.id for p in parts for n in ast.walk(p) if isinstance(n, ast.NamedExpr)}
        return set().union(*(reads(p) for p in parts)) - targets - walrus
    found = set()
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        found.add(node.target.id)
    for child in ast.iter_child_nodes(node):
        found |= reads(child)
    return found


class _Scope:
    def __init__(self, local: set[str], visible: set[str], problems: list[tuple[str, int]], function: bool):
        self.local = local          # names this scope binds anywhere (function scopes only)
        self.visible = visible      # names resolvable outside this scope (enclosing, module, builtins)
        self.problems = problems
        self.function = function

    def read(self, names: set[str], defined: set[str], line: int) -> None:
        for name in sorted(names):
            if name in defined:
                continue
            if self.function and name in self.local:
                self.problems.append((name, line))       # UnboundLocalError at the first call
            elif name not in self.visible:
                self.problems.append((name, line))       # NameError


def _function_locals(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    bound, declared = set(_arg_names(function.args)), set()
    for statement in function.body:
        for node in ast.walk(statement):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                declared.update(node.names)
        bound |= _body_stores(statement)
    return bound - declared


def _body_stores(statement: ast.stmt) -> set[str]:
    """Every name a statement binds in the current scope, compound statements' bodies included."""
    found = stores(statement) if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
        else {statement.name}
    return found


def _walk_body(body: list[ast.stmt], defined: set[str], scope: _Scope) -> set[str]:
    """Checks a statement list in order; returns the names defined after it."""
    defined = set(defined)
    for statement in body:
        defined = _walk_statement(statement, defined, scope)
    return defined


def _walk_statement(statement: ast.stmt, defined: set[str], scope: _Scope) -> set[str]:
    line = getattr(statement, "lineno", 0)
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        outside = statement.decorator_list + statement.args.defaults + [d for d in statement.args.kw_defaults if d]
        scope.read(set().union(*(reads(n) for n in outside)), defined, line)
        defined = defined | {statement.name}
        local = _function_locals(statement)
        enclosing = scope.visible | (scope.local if scope.function else defined) | {statement.name}
        inner = _Scope(local, (enclosing | defined) - local, scope.problems, function=True)
        _walk_body(statement.body, _arg_names(statement.args), inner)
        return defined
    if isinstance(statement, ast.ClassDef):
        outside = statement.decorator_list + statement.bases + [k.value for k in statement.keywords]
        scope.read(set().union(*(reads(n) for n in outside)), defined, line)
        # a class body runs in order; its methods see the enclosing scopes, not the class's own names
        class_scope = _Scope(set(), scope.visible | (scope.local if scope.function else set()), scope.problems,
                             function=False)
        _walk_body(statement.body, defined, class_scope)
        return defined | {statement.name}
    if isinstance(statement, (ast.If, ast.While)):
        scope.read(reads(statement.test), defined, line)
        defined = defined | stores(statement.test)  # `while line := ...` binds before the body
        body, orelse = _walk_body(statement.body, defined, scope), _walk_body(statement.orelse, defined, scope)
        if isinstance(statement, ast.While):
            return body | orelse
        # after an if/else a name is bound only if every branch that falls through binds it
        through = [after for branch, after in ((statement.body, body), (statement.orelse, orelse))
                   if not (branch and isinstance(branch[-1], _LEAVES))]
        return set.intersection(*through) if through else body | orelse
    if isinstance(statement, (ast.For, ast.AsyncFor)):
        scope.read(reads(statement.iter), defined, line)
        after = _walk_body(statement.body, defined | stores(statement.target), scope)
        return after | _walk_body(statement.orelse, defined, scope)
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        for item in statement.items:
            scope.read(reads(item.context_expr), defined, line)
            if item.optional_vars is not None:
                defined = defined | stores(item.optional_vars)
        return _walk_body(statement.body, defined, scope)
    if isinstance(statement, (ast.Try, getattr(ast, "TryStar", ast.Try))):
        after = _walk_body(statement.body, defined, scope)
        for handler in statement.handlers:
            if handler.type is not None:
                scope.read(reads(handler.type), defined, handler.lineno)
            after |= _walk_body(handler.body, defined | ({handler.name} if handler.name else set()), scope)
        after |= _walk_body(statement.orelse, after, scope)
        return _walk_body(statement.finalbody, after, scope)
    if isinstance(statement, ast.Match):
        scope.read(reads(statement.subject), defined, line)
        after = set(defined)
        for case in statement.cases:
            bound = defined | stores(case.pattern)
            if case.guard is not None:
                scope.read(reads(case.guard), bound, line)
            after |= _walk_body(case.body, bound, scope)
        return after
    if isinstance(statement, (ast.Global, ast.Nonlocal)):
        return defined | set(statement.names)
    scope.read(reads(statement), defined, line)
    return defined | stores(statement)


def module_names(tree: ast.Module) -> set[str]:
    """Every name bound at module level, in any statement (function bodies may read them all)."""
    return set().union(*(_body_stores(s) for s in tree.body)) if tree.body else set()


def undefined_names(tree: ast.Module, outer: set[str] = frozenset()) -> set[str]:
    """Names read before or without a binding, for a module or an EVOLVE block parsed on its own.

    `outer` holds names the surrounding program binds (the imports and definitions outside the block).
    """
    problems: list[tuple[str, int]] = []
    visible = set(outer) | BUILTINS | module_names(tree)
    _walk_body(tree.body, set(outer) | BUILTINS, _Scope(set(), visible, problems, function=False))
    return {name for name, _ in problems}


def names_defined_before(function: ast.FunctionDef, target: ast.AST) -> list[str]:
    """Names certainly usable at `target` inside `function`: parameters, then names bound by statements
    that precede it (in its own body or an enclosing one), in order of first binding."""
    names = [a for a in sorted(_arg_names(function.args)) if a not in ("self", "cls")]

    def visit(body: list[ast.stmt]) -> bool:
        for statement in body:
            contains = any(node is target for node in ast.walk(statement))
            if contains:
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(statement, field, None)
                    if isinstance(inner, list) and any(n is target for s in inner for n in ast.walk(s)):
                        if isinstance(statement, (ast.For, ast.AsyncFor)) and field == "body":
                            names.extend(sorted(stores(statement.target) - set(names)))
                        return visit(inner)
                return True
            if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    and not isinstance(statement, (ast.If, ast.For, ast.While, ast.Try, ast.With)):
                names.extend(sorted(stores(statement) - set(names)))
        return False

    visit(function.body)
    return names
