"""Constants inlined across the deployed modules (a build step; sources are unchanged).

MicroPython's `const()` folds a constant only inside the module that defines it: a module
that imports `from firmware.core.events import RFID` (or reads `E.RFID`) looks the name up
at run time, and the name is one more interned string (qstr) on the device, never freed,
held in the globals of the modules that bind it. Past the 1,261st such name a board
allocates a 9 KB qstr pool (bench/bench_build.py); inlining took the app from 1,288 names
to about 1,180.

inline(texts) rewrites the deployed sources. A constant: a name bound once in its module,
at module level, to an int or a str (`X = 5`, `X = const(5)`, `A, B = (1, "b")`), or to
another constant (`_K = E.KIND`). Each read of it (by name, through a from-import, a
re-export, a module alias `E.X`, or a module `__getattr__` that forwards to the module
defining it) is replaced by its value; a str longer than the compiler interns (10
characters) only where one module reads it (moved there, not copied). Then what nothing
reads any more goes: the assignment, the name from its import. Every edit keeps each line
where it was (tracebacks, dev builds). Left alone, as the rewrite could change behaviour:
a name bound anywhere else (a `global`, an argument, a loop variable, a store to the
module's attribute from outside), read by getattr/hasattr with that name spelled out, or
read through an attribute of something that is not a module alias (kept defined); a
module read by getattr with a computed name keeps all its names.
"""


from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Callable
from typing import Any

INTERN_LEN = 10      # MicroPython's MICROPY_ALLOC_PARSE_INTERN_STRING_LEN (py/mpconfig.h)
Key = tuple[str, str]   # (module, name)
Edit = tuple[int, int, str]   # (start byte, end byte, replacement)
_BY_NAME = ("getattr", "hasattr", "setattr", "delattr")


def module_name(rel: str) -> str:
    """firmware/core/events.py -> firmware.core.events (an __init__.py: its package)."""
    mod = rel[:-3].replace("/", ".")
    return mod[: -len(".__init__")] if mod.endswith(".__init__") else mod


def _literal(node: ast.expr) -> Any:
    """The value of `VALUE` or `const(VALUE)` if it is an int or a str, else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "const" and len(node.args) == 1 and not node.keywords):
        node = node.args[0]
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return value if not isinstance(value, str) or value.isascii() else None


def _interned(value: Any) -> bool:
    """True if the compiler shares `value` (an int, or a str it interns): inlining it
    in many modules costs nothing; a longer str would be one object per module."""
    return isinstance(value, int) or len(value) <= INTERN_LEN


class _Module:
    """One parsed module: its constants, imports and the names it binds."""

    def __init__(self, rel: str, text: str) -> None:
        self.rel, self.text, self.name = rel, text, module_name(rel)
        self.tree = ast.parse(text)
        self.is_pkg = rel.endswith("__init__.py")
        self.defs: dict[str, tuple[Any, ast.stmt]] = {}     # name -> (value, its Assign)
        self.derived: list[tuple[str, ast.expr, ast.stmt]] = []   # NAME = other.NAME
        self.top_bound: dict[str, int] = defaultdict(int)   # module-level bindings
        self.bound: dict[str, int] = defaultdict(int)       # bindings in any scope
        self.from_imports: list[ast.ImportFrom] = []
        self.imported: dict[str, str] = {}   # alias -> what it imports ("pkg.mod[.name]")
        self.dynamic: list[tuple[str, bool]] = []   # getattr(alias, <not a literal>),
        #                                             inside a module __getattr__?
        self.strings: set[str] = set()      # names read by getattr(x, "NAME") and kin
        self._starts = [0]      # byte offset of each line (ast columns count UTF-8 bytes)
        for line in text.encode("utf-8").splitlines(keepends=True):
            self._starts.append(self._starts[-1] + len(line))
        self._scan()

    def span(self, node: ast.AST, repl: str) -> Edit:
        """An edit replacing `node`'s text."""
        return (self._starts[node.lineno - 1] + node.col_offset,
                self._starts[node.end_lineno - 1] + node.end_col_offset, repl)

    def _scan(self) -> None:
        for node in self.tree.body:
            pairs = _pairs(node) if isinstance(node, ast.Assign) else []
            for target, value in pairs:
                lit = _literal(value)
                if lit is not None:
                    self.defs[target] = (lit, node)
                elif isinstance(value, (ast.Name, ast.Attribute)):
                    self.derived.append((target, value, node))
            for name in _top_names(node):
                self.top_bound[name] += 1
        forwarders = {id(n) for f in self.tree.body if isinstance(f, ast.FunctionDef)
                      and f.name == "__getattr__" for n in ast.walk(f)}
        for node in ast.walk(self.tree):
            self._binding(node, id(node) in forwarders)

    def _binding(self, node: ast.AST, in_getattr: bool) -> None:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            self.bound[node.id] += 1
        elif isinstance(node, ast.arg):
            self.bound[node.arg] += 1
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for n in node.names:
                self.bound[n] += 2
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bound[node.name] += 1
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self.bound[node.name] += 1
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in _BY_NAME and len(node.args) >= 2):
            if isinstance(node.args[1], ast.Constant):
                self.strings.add(node.args[1].value)
            elif isinstance(node.args[0], ast.Name):
                self.dynamic.append((node.args[0].id, in_getattr))
        elif isinstance(node, ast.Import):
            for a in node.names:
                self.bound[a.asname or a.name.split(".")[0]] += 1
                if a.asname:
                    self.imported[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            self.from_imports.append(node)
            src = self.source(node)
            for a in node.names:
                self.bound[a.asname or a.name] += 1
                self.imported.setdefault(a.asname or a.name, f"{src}.{a.name}")

    def source(self, node: ast.ImportFrom) -> str:
        """The absolute module a from-import reads."""
        if not node.level:
            return node.module or ""
        parts = self.name.split(".")
        base = parts if self.is_pkg else parts[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))


def _pairs(node: ast.Assign) -> list[tuple[str, ast.expr]]:
    """(name, value) of `A = v` and of `A, B = (v, w)`; [] for any other assignment."""
    if len(node.targets) != 1:
        return []
    target = node.targets[0]
    if isinstance(target, ast.Name):
        return [(target.id, node.value)]
    if (isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
            and len(target.elts) == len(node.value.elts)
            and all(isinstance(e, ast.Name) for e in target.elts)):
        return [(e.id, v) for e, v in zip(target.elts, node.value.elts, strict=True)]
    return []


def _top_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [name for t in node.targets for name in _target_names(t)]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.ImportFrom):
        return [a.asname or a.name for a in node.names]
    if isinstance(node, ast.Import):
        return [a.asname or a.name.split(".")[0] for a in node.names]
    return []


def _target_names(t: ast.expr) -> list[str]:
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, (ast.Tuple, ast.List)):
        return [n for e in t.elts for n in _target_names(e)]
    return []


class Inliner:
    """The whole deploy's constants, and each module rewritten with them inlined."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.mods = {m.name: m for m in (_Module(rel, t) for rel, t in texts.items())}
        strings = set().union(*(m.strings for m in self.mods.values()))
        stored = {n.attr for m in self.mods.values() for n in ast.walk(m.tree)
                  if isinstance(n, ast.Attribute) and not isinstance(n.ctx, ast.Load)}
        self.values = {(m.name, n): v for m in self.mods.values() for n, (v, _) in m.defs.items()
                       if m.bound[n] == 1 and m.top_bound[n] == 1
                       and n not in strings and n not in stored}
        self.names: dict[str, dict[str, Key]] = {}      # module -> alias -> (module, name)
        self.modules: dict[str, dict[str, str]] = {}    # module -> alias -> module
        self.forwards: dict[str, list[str]] = defaultdict(list)   # __getattr__ targets
        self.dynamic: set[str] = set()                  # read by getattr elsewhere
        for m in self.mods.values():
            self._aliases(m)
        self._derive(strings | stored)

    def _derive(self, blocked: set[str]) -> None:
        """`NAME = other.NAME` (or a tuple of such) bound once: a constant too, if what
        it reads is one the compiler shares (an int, a short str)."""
        changed = True
        while changed:
            changed = False
            for m in self.mods.values():
                for target, value, _ in m.derived:
                    key = self._key(m, value)
                    hit = self.lookup(key) if key else None
                    if (hit and _interned(hit[1]) and (m.name, target) not in self.values
                            and m.bound[target] == 1 and m.top_bound[target] == 1
                            and target not in blocked):
                        self.values[(m.name, target)] = hit[1]
                        changed = True

    def _aliases(self, m: _Module) -> None:
        names, modules = self.names.setdefault(m.name, {}), self.modules.setdefault(m.name, {})
        for alias, target in m.imported.items():
            if target in self.mods:
                if m.bound[alias] == 1:
                    modules[alias] = target
            elif target.rpartition(".")[0] in self.mods and m.bound[alias] == 1:
                names[alias] = tuple(target.rpartition(".")[::2])
        for alias, in_getattr in m.dynamic:
            target = m.imported.get(alias)
            if target in self.mods:
                (self.forwards[m.name].append(target) if in_getattr
                 else self.dynamic.add(target))

    def lookup(self, key: Key, depth: int = 0) -> tuple[Key, Any] | None:
        """(the defining (module, name), value) of the constant `key` names, or None;
        through re-exports and module __getattr__ forwarding."""
        if key in self.values:
            return key, self.values[key]
        mod, name = key
        if depth > 8 or mod not in self.mods:
            return None
        if name in self.names[mod]:
            return self.lookup(self.names[mod][name], depth + 1)
        if not self.mods[mod].top_bound[name]:
            for target in self.forwards.get(mod, ()):
                if self.mods[target].top_bound[name]:
                    return self.lookup((target, name), depth + 1)
        return None

    def _key(self, m: _Module, node: ast.AST) -> Key | None:
        """The (module, name) a Name or module-attribute read names, if it is one."""
        if isinstance(node, ast.Name):
            return (m.name, node.id)
        if isinstance(node.value, ast.Name) and node.value.id in self.modules[m.name]:
            return (self.modules[m.name][node.value.id], node.attr)
        return None

    def _reads(self) -> tuple[dict[str, list[tuple[ast.AST, Any]]], set[Key], set[str]]:
        """Per module the reads to replace; the (module, name)s read by name after the
        rewrite; the attribute names read off something that is not a module alias."""
        found: dict[str, list[tuple[ast.AST, Key, Any]]] = {}
        readers: dict[Key, set[str]] = defaultdict(set)
        still: set[Key] = set()
        attrs: set[str] = set()
        for name, m in self.mods.items():
            found[name] = []
            # inside an f-string a node's columns are not to be trusted (CPython < 3.12)
            # and a str put there could clash with its quotes: such reads stay
            fstr = {id(n) for f in ast.walk(m.tree) if isinstance(f, ast.JoinedStr)
                    for n in ast.walk(f)}
            for node in ast.walk(m.tree):
                if not isinstance(node, (ast.Name, ast.Attribute)) or \
                        not isinstance(node.ctx, ast.Load):
                    continue
                key = self._key(m, node)
                hit = self.lookup(key) if (key and node.lineno == node.end_lineno
                                           and id(node) not in fstr) else None
                if hit:
                    found[name].append((node, key, hit))
                    readers[hit[0]].add(name)
                elif key:
                    still.add(key)
                else:
                    attrs.add(node.attr)
        reads = {}
        for name, hits in found.items():
            reads[name] = []
            for node, key, (root, value) in hits:
                if _interned(value) or len(readers[root]) == 1:
                    reads[name].append((node, value))
                else:
                    still.add(key)
        return reads, still, attrs

    def _closure(self, still: set[Key]) -> set[Key]:
        """What the names still read keep alive: what they import or forward to."""
        todo = list(still)
        while todo:
            mod, name = todo.pop()
            nxt = [self.names[mod][name]] if name in self.names.get(mod, {}) else []
            nxt += [(t, name) for t in self.forwards.get(mod, ())]
            for k in nxt:
                if k not in still:
                    still.add(k)
                    todo.append(k)
        return still

    def rewrite(self) -> dict[str, str]:
        """Every module's text with the constants inlined (rel path -> text)."""
        reads, still, attrs = self._reads()
        for name, m in self.mods.items():     # imports of what is not a constant stay
            for node in m.from_imports:
                for a in node.names:
                    alias = a.asname or a.name
                    if alias not in self.names[name] or not self.lookup((name, alias)):
                        still.add((m.source(node), a.name))
        still = self._closure(still)

        def gone(mod: str, name: str) -> bool:
            return (mod, name) not in still and name not in attrs and mod not in self.dynamic

        out = {}
        for name, m in self.mods.items():
            drops = [m.span(node, _blank(node)) for node in self._dropped(m, gone)]
            ed = [e for e in (m.span(node, _text(value)) for node, value in reads[name])
                  if not any(s <= e[0] and e[1] <= end for s, end, _ in drops)] + drops
            for node in m.from_imports:
                keep = [a for a in node.names if not (
                    (a.asname or a.name) in self.names[name] and self.lookup(
                        (name, a.asname or a.name)) and gone(name, a.asname or a.name))]
                if len(keep) < len(node.names):
                    ed.append(m.span(node, _import_text(node, keep)))
            out[m.rel] = _apply(m.text, ed)
        return out

    def _dropped(self, m: _Module, gone: Callable[[str, str], bool]) -> list[ast.stmt]:
        """The module's constant assignments whose every name is inlined and unread."""
        stmts: dict[int, tuple[ast.stmt, list[str]]] = {}
        for target, node in [(n, s) for n, (_, s) in m.defs.items()] + \
                [(n, s) for n, _, s in m.derived]:
            stmts.setdefault(id(node), (node, []))[1].append(target)
        return [node for node, names in stmts.values()
                if len(names) == len(_top_names(node))
                and all((m.name, n) in self.values and gone(m.name, n) for n in names)]


def _text(value: Any) -> str:
    return f"({value!r})" if isinstance(value, int) else repr(value)


def _blank(node: ast.stmt) -> str:
    """A statement that does nothing, spanning as many lines as `node`."""
    n = node.end_lineno - node.lineno
    return "pass" if n == 0 else "(None" + "\n" * n + ")"


def _import_text(node: ast.ImportFrom, keep: list[ast.alias]) -> str:
    """`node` importing only `keep`, on as many lines."""
    if not keep:
        return _blank(node)
    names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in keep)
    n = node.end_lineno - node.lineno
    return f"from {'.' * node.level}{node.module or ''} import ({names}" + "\n" * n + ")"


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    data = text.encode("utf-8")
    out, pos = [], 0
    for s, e, repl in sorted(set(edits)):
        if s < pos:
            raise ValueError(f"overlapping inline edits at byte {s}")
        out += [data[pos:s], repl.encode("utf-8")]
        pos = e
    out.append(data[pos:])
    return b"".join(out).decode("utf-8")


def inline(texts: dict[str, str]) -> dict[str, str]:
    """The deployed sources (rel path -> text) with their constants inlined."""
    return Inliner(texts).rewrite()
