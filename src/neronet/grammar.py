"""DENSER grammars: parsing, DSGE derivation and decoding, real-valued terminals.

A grammar file is a list of rules in the Fast-DENSER syntax::

    # comment
    <features> ::= <macro-node> | <macro-node> | <transition-block>
    <pool-type> ::= pool-type:avg
                  | pool-type:max            # a line starting with '|' continues the rule
    <learning> ::= learning:adam [lr,int_power10,1,-6,-1] [beta1,float,1,0.5,1]

Symbols are non-terminals ``<name>``, terminals ``key:value`` (the value is read
as a bool, int, float or string; nothing is ever ``eval``-ed) and real-valued
terminals ``[name,type,count,min,max]`` with ``type`` one of ``int``, ``float``,
``int_power2`` and ``int_power10``. The power types draw an integer exponent k
in [min, max] and express 2^k / 10^k; the genotype keeps the exponent so that
mutation works in exponent space. Float values live in [min, max), the range of
a uniform draw, so that a bound such as Adam's beta = 1 is never produced.
Repeating an alternative is how it is made more likely.

The genotype of one unit is a DSGE :class:`Derivation`: for every non-terminal,
the list of codons consumed in depth-first order, each codon being a production
index plus the genes of that production's real-valued terminals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from neronet.errors import GrammarError

Value = int | float | str | bool
Term = tuple[str, Value]
Number = int | float
REAL_TYPES = ("int", "float", "int_power2", "int_power10")
_POWER_BASE = {"int_power2": 2, "int_power10": 10}
# Parse-time limits. Derivation, decoding and the search's start-up check walk
# the grammar recursively and draw every gene of a real-valued terminal, so a
# grammar beyond these limits would exhaust the stack, hang or overflow later,
# far from the line that causes it; real grammars stay far below them.
MAX_DEPTH = 100  # nested rules to the shallowest terminal string; also caps max_depth
MAX_COUNT = 1000  # genes of one real-valued terminal
MAX_MAGNITUDE = 10**18  # |bound| of a real-valued terminal, |value| of a power (int64-safe)


def parse_value(text: str) -> Value:
    """Read a terminal's value: True/False, an int, a float, else the string itself."""
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", text):
        return float(text)
    return text


def parse_terms(text: str) -> list[Term]:
    """Read whitespace-separated ``key:value`` terms (how seeds are written by hand)."""
    terms = []
    for token in text.split():
        key, sep, raw = token.partition(":")
        if not sep or not key or not raw:
            raise ValueError(f"term {token!r} must look like key:value")
        terms.append((key, parse_value(raw)))
    return terms


def _same_value(a: Value, b: Value) -> bool:
    """Equality that keeps True apart from 1 and 1 apart from 1.0."""
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class NonTerminal:
    name: str


@dataclass(frozen=True)
class Terminal:
    key: str
    value: Value


@dataclass(frozen=True)
class RealTerminal:
    """``[name,type,count,min,max]``: genes are exponents for the power types."""

    name: str
    type: str
    count: int
    min: Number
    max: Number

    @property
    def top(self) -> Number:
        """Largest gene: max for integer types, just below max for floats."""
        if self.type != "float" or self.min == self.max:
            return self.max
        return float(np.nextafter(self.max, self.min))

    def sample(self, rng: np.random.Generator) -> Number:
        if self.type == "float":
            return self.clip(float(rng.uniform(self.min, self.max)))
        return int(rng.integers(self.min, self.max + 1))

    def clip(self, gene: Number) -> Number:
        low = max(gene, self.min)
        return float(min(low, self.top)) if self.type == "float" else int(min(low, self.top))

    def contains(self, gene: object) -> bool:
        if isinstance(gene, bool):
            return False
        if self.type == "float":
            ok = isinstance(gene, float | int) and self.min <= gene <= self.top
            return bool(ok)
        return isinstance(gene, int) and self.min <= gene <= self.max

    def express(self, gene: Number) -> Number:
        """The phenotype value of a gene (2^k or 10^k for the power types)."""
        base = _POWER_BASE.get(self.type)
        if base is None:
            return gene
        return base**gene if gene >= 0 else float(base) ** gene

    def gene_of(self, value: Value) -> Number | None:
        """The gene expressing ``value``, or None when this terminal cannot produce it."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        base = _POWER_BASE.get(self.type)
        if base is None:
            gene: Number = float(value) if self.type == "float" else value
        elif value <= 0:
            return None
        else:
            gene = round(math.log(value, base))
            if not math.isclose(self.express(gene), value, rel_tol=1e-9):
                return None
        return gene if self.contains(gene) else None


Symbol = NonTerminal | Terminal | RealTerminal
Production = tuple[Symbol, ...]


@dataclass(frozen=True)
class Codon:
    """One expansion: the production chosen and the genes of its real-valued terminals."""

    choice: int
    values: tuple[tuple[Number, ...], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"choice": self.choice}
        if self.values:
            data["values"] = [list(v) for v in self.values]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Codon:
        values = tuple(tuple(v) for v in data.get("values", ()))
        return cls(choice=int(data["choice"]), values=values)


@dataclass(frozen=True)
class Derivation:
    """DSGE genotype of one unit: per non-terminal, its codons in derivation order.

    Immutable in use: every operation returns a new Derivation, so two units never
    share state that one could change under the other.
    """

    codons: dict[str, tuple[Codon, ...]] = field(default_factory=dict)

    def codon(self, nt: str, index: int) -> Codon:
        return self.codons[nt][index]

    def replace(self, nt: str, index: int, codon: Codon) -> Derivation:
        changed = dict(self.codons)
        row = list(changed[nt])
        row[index] = codon
        changed[nt] = tuple(row)
        return Derivation(changed)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {nt: [c.to_dict() for c in self.codons[nt]] for nt in sorted(self.codons)}

    @classmethod
    def from_dict(cls, data: dict[str, list[dict[str, Any]]]) -> Derivation:
        return cls({nt: tuple(Codon.from_dict(c) for c in row) for nt, row in data.items()})


@dataclass(frozen=True)
class Occurrence:
    """A non-terminal expanded in a derivation: which codon it used and where.

    ``before`` / ``after`` count, per non-terminal, the codons consumed before
    this expansion and after its whole subtree: the subtree's codons are the
    slices ``codons[nt][before[nt]:after[nt]]``, contiguous because DSGE
    consumes each list in order.
    """

    nt: str
    index: int
    depth: int
    before: dict[str, int]
    after: dict[str, int]


@dataclass
class _Walk:
    codons: dict[str, list[Codon]] = field(default_factory=dict)
    terms: list[Term] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # per term: the rule that wrote it
    occurrences: list[Occurrence] = field(default_factory=list)


_RULE = re.compile(r"<([^<>\s]+)>\s*::=(.*)")
_TOKEN = re.compile(r"\s*(?:<([^<>\s]+)>|(\[[^\[\]]*\])|([^\s<>\[\]]+))")


def rule_text(line: str) -> str:
    """A grammar line without its comment and surrounding blanks (what the parser reads)."""
    return line.split("#", 1)[0].strip()


def same_rules(a: str, b: str) -> bool:
    """Whether two grammar texts differ only in comments, blank lines and indentation
    (so a documentation edit never stops a run from resuming)."""

    def rules(text: str) -> list[str]:
        return [body for body in map(rule_text, text.splitlines()) if body]

    return rules(a) == rules(b)


class Grammar:
    """A parsed, validated grammar; see the module docstring for the syntax."""

    def __init__(
        self, source: str, rules: dict[str, tuple[Production, ...]], lines: dict[str, int]
    ) -> None:
        self.source = source
        self.rules = rules
        self.lines = lines
        heights = _heights(rules)
        # per production: height of its tallest child in the shallowest completion
        self._reach = {
            nt: tuple(
                int(max((heights[s.name] for s in p if isinstance(s, NonTerminal)), default=0))
                for p in productions
            )
            for nt, productions in rules.items()
        }

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, text: str, source: str = "<grammar>") -> Grammar:
        """Parse and validate grammar text; raise a one-line GrammarError naming the line."""
        raw: dict[str, list[tuple[str, int]]] = {}
        lines: dict[str, int] = {}
        current: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            body = rule_text(line)
            if not body:
                continue
            match = _RULE.fullmatch(body)
            if match:
                current = match.group(1)
                if current in lines:
                    raise GrammarError(
                        f"{source}:{number}: '<{current}>' is already defined at line "
                        f"{lines[current]}; merge the alternatives into one rule"
                    )
                lines[current] = number
                raw[current] = [(alt, number) for alt in match.group(2).split("|")]
            elif body.startswith("|") and current is not None:
                raw[current].extend((alt, number) for alt in body[1:].split("|"))
            else:
                raise GrammarError(
                    f"{source}:{number}: expected '<name> ::= alternatives' or a line "
                    "starting with '|'; fix the rule syntax"
                )
        if not raw:
            raise GrammarError(f"{source}:1: the grammar has no rules; add '<name> ::= ...' rules")
        rules = {
            nt: tuple(_parse_alternative(alt, source, number) for alt, number in alts)
            for nt, alts in raw.items()
        }
        for nt, alts in raw.items():
            for production, (_, number) in zip(rules[nt], alts, strict=True):
                for sym in production:
                    if isinstance(sym, NonTerminal) and sym.name not in rules:
                        raise GrammarError(
                            f"{source}:{number}: undefined non-terminal '<{sym.name}>'; "
                            f"define it with '<{sym.name}> ::= ...' or fix the name"
                        )
        _check_finite(rules, lines, source)
        return cls(source, rules, lines)

    @classmethod
    def shipped(cls, name: str) -> Grammar:
        """A grammar shipped in ``neronet/grammars`` (e.g. ``"nero-net.grammar"``)."""
        ref = resources.files("neronet").joinpath("grammars", name)
        if not ref.is_file():
            raise GrammarError(f"{name}: no such shipped grammar; use nero-net.grammar")
        return cls.parse(ref.read_text(), name)

    def check_start(self, start: str) -> None:
        """Raise GrammarError unless ``start`` (a module or learning name) has a rule."""
        if start not in self.rules:
            raise GrammarError(
                f"{self.source}: no rule for '<{start}>'; define '<{start}> ::= ...' "
                "in the grammar or fix the module name"
            )

    def writes(self, key: str) -> bool:
        """Whether any production writes ``key`` (a ``key:value`` or a real-valued terminal)."""
        return any(
            (isinstance(s, Terminal) and s.key == key)
            or (isinstance(s, RealTerminal) and s.name == key)
            for productions in self.rules.values()
            for production in productions
            for s in production
        )

    # ------------------------------------------------------------------ depth
    def allowed(self, nt: str, depth: int, max_depth: int) -> list[int]:
        """Production indices of ``nt`` usable at ``depth`` (the start symbol is depth 1).

        A production is usable when its subtree can still close within
        ``max_depth``; when none can (a limit below what the grammar needs),
        the productions that terminate soonest are used, so derivation always ends.
        """
        reach = self._reach[nt]
        fits = [i for i, r in enumerate(reach) if depth + r <= max_depth]
        return fits or [i for i, r in enumerate(reach) if r == min(reach)]

    def reals(self, nt: str, choice: int) -> list[RealTerminal]:
        return [s for s in self.rules[nt][choice] if isinstance(s, RealTerminal)]

    # ------------------------------------------------------------------ DSGE
    def _random_codon(self, nt: str, depth: int, max_depth: int, rng: np.random.Generator) -> Codon:
        options = self.allowed(nt, depth, max_depth)
        return self._fresh_codon(nt, options[int(rng.integers(len(options)))], rng)

    def _fresh_codon(self, nt: str, choice: int, rng: np.random.Generator) -> Codon:
        genes = tuple(tuple(t.sample(rng) for _ in range(t.count)) for t in self.reals(nt, choice))
        return Codon(choice, genes)

    def _walk(self, start: str, depth: int, draw: Callable[[str, int], Codon]) -> _Walk:
        walk = _Walk()
        self._visit(start, depth, draw, walk)
        return walk

    def _visit(self, nt: str, depth: int, draw: Callable[[str, int], Codon], walk: _Walk) -> None:
        before = {k: len(v) for k, v in walk.codons.items()}
        slot = len(walk.occurrences)
        walk.occurrences.append(Occurrence(nt, before.get(nt, 0), depth, before, {}))
        codon = draw(nt, depth)
        walk.codons.setdefault(nt, []).append(codon)
        genes = iter(codon.values)
        for sym in self.rules[nt][codon.choice]:
            if isinstance(sym, NonTerminal):
                self._visit(sym.name, depth + 1, draw, walk)
            elif isinstance(sym, Terminal):
                walk.terms.append((sym.key, sym.value))
                walk.rules.append(nt)
            else:
                values = next(genes)
                walk.terms.extend((sym.name, sym.express(g)) for g in values)
                walk.rules.extend([nt] * len(values))
        after = {k: len(v) for k, v in walk.codons.items()}
        occ = walk.occurrences[slot]
        walk.occurrences[slot] = Occurrence(nt, occ.index, depth, before, after)

    def derive(self, start: str, rng: np.random.Generator, max_depth: int) -> Derivation:
        """A random derivation of ``start`` whose tree respects ``max_depth``."""
        self.check_start(start)
        walk = self._walk(start, 1, lambda nt, d: self._random_codon(nt, d, max_depth, rng))
        return _freeze(walk)

    def _replay(self, start: str, derivation: Derivation) -> _Walk:
        """Walk an existing derivation; ValueError if it does not fit this grammar."""
        cursor: dict[str, int] = {}

        def draw(nt: str, depth: int) -> Codon:
            row = derivation.codons.get(nt, ())
            i = cursor.get(nt, 0)
            if i >= len(row):
                raise ValueError(f"derivation of '<{start}>' lacks codon {i} of '<{nt}>'")
            codon = row[i]
            cursor[nt] = i + 1
            self._check_codon(nt, codon)
            return codon

        self.check_start(start)
        walk = self._walk(start, 1, draw)
        for nt, row in derivation.codons.items():
            if cursor.get(nt, 0) != len(row):
                raise ValueError(f"derivation of '<{start}>' has unused codons of '<{nt}>'")
        return walk

    def _check_codon(self, nt: str, codon: Codon) -> None:
        if not 0 <= codon.choice < len(self.rules[nt]):
            raise ValueError(f"'<{nt}>' has no production {codon.choice}")
        reals = self.reals(nt, codon.choice)
        if len(codon.values) != len(reals):
            raise ValueError(f"'<{nt}>' production {codon.choice} needs {len(reals)} gene lists")
        for term, genes in zip(reals, codon.values, strict=True):
            if len(genes) != term.count or not all(term.contains(g) for g in genes):
                raise ValueError(f"genes {list(genes)} do not fit [{term.name},{term.type}]")

    def decode(self, start: str, derivation: Derivation) -> list[Term]:
        """The flat ``(key, value)`` terms of a derivation (power genes expressed)."""
        return self._replay(start, derivation).terms

    def decode_traced(self, start: str, derivation: Derivation) -> list[tuple[str, Term]]:
        """The terms of :meth:`decode`, each with the rule (non-terminal) whose production
        wrote it, so that a term the phenotype cannot use is reported where to fix it."""
        walk = self._replay(start, derivation)
        return list(zip(walk.rules, walk.terms, strict=True))

    def occurrences(self, start: str, derivation: Derivation) -> list[Occurrence]:
        """Every non-terminal expansion of a derivation, in depth-first order."""
        return self._replay(start, derivation).occurrences

    def regrow(
        self,
        start: str,
        derivation: Derivation,
        occurrence: Occurrence,
        choice: int,
        rng: np.random.Generator,
        max_depth: int,
    ) -> Derivation:
        """Switch ``occurrence`` to production ``choice`` and derive its subtree afresh.

        Codons outside the subtree are kept in place, so the rest of the unit
        decodes exactly as before.
        """
        first = [self._fresh_codon(occurrence.nt, choice, rng)]

        def draw(nt: str, depth: int) -> Codon:
            return first.pop() if first else self._random_codon(nt, depth, max_depth, rng)

        sub = self._walk(occurrence.nt, occurrence.depth, draw)
        spliced: dict[str, tuple[Codon, ...]] = {}
        for nt in sorted({*derivation.codons, *sub.codons}):
            old = derivation.codons.get(nt, ())
            row = (
                old[: occurrence.before.get(nt, 0)]
                + tuple(sub.codons.get(nt, ()))
                + old[occurrence.after.get(nt, 0) :]
            )
            if row:
                spliced[nt] = row
        return Derivation(spliced)

    def derivation_of(self, start: str, terms: Sequence[Term]) -> Derivation:
        """The derivation of ``start`` that decodes to exactly ``terms`` (first match).

        Lets hand-written genotypes (seeds) be stated as readable terms instead of
        production indices.
        """
        self.check_start(start)
        limit = (len(terms) + 1) * len(self.rules)
        for found, end in self._match(start, list(terms), 0, 1, limit):
            if end == len(terms):
                walk = _Walk()
                for nt, codon in found:
                    walk.codons.setdefault(nt, []).append(codon)
                return _freeze(walk)
        raise GrammarError(
            f"{self.source}:{self.lines[start]}: the given terms cannot be derived from "
            f"'<{start}>'; write them in the order and vocabulary of the grammar"
        )

    def _match(
        self, nt: str, terms: list[Term], pos: int, depth: int, limit: int
    ) -> Iterator[tuple[list[tuple[str, Codon]], int]]:
        if depth > limit:
            return
        for choice, production in enumerate(self.rules[nt]):
            for children, genes, end in self._match_seq(production, terms, pos, depth, limit):
                yield [(nt, Codon(choice, tuple(genes))), *children], end

    def _match_seq(
        self, symbols: Production, terms: list[Term], pos: int, depth: int, limit: int
    ) -> Iterator[tuple[list[tuple[str, Codon]], list[tuple[Number, ...]], int]]:
        if not symbols:
            yield [], [], pos
            return
        sym, rest = symbols[0], symbols[1:]
        if isinstance(sym, NonTerminal):
            for found, mid in self._match(sym.name, terms, pos, depth + 1, limit):
                for more, genes, end in self._match_seq(rest, terms, mid, depth, limit):
                    yield found + more, genes, end
        elif isinstance(sym, Terminal):
            if (
                pos < len(terms)
                and terms[pos][0] == sym.key
                and _same_value(terms[pos][1], sym.value)
            ):
                yield from self._match_seq(rest, terms, pos + 1, depth, limit)
        else:
            window = terms[pos : pos + sym.count]
            genes = [sym.gene_of(v) for k, v in window if k == sym.name]
            if len(genes) == sym.count and None not in genes:
                for found, more, end in self._match_seq(rest, terms, pos + sym.count, depth, limit):
                    yield found, [tuple(g for g in genes if g is not None), *more], end


def _freeze(walk: _Walk) -> Derivation:
    return Derivation({nt: tuple(row) for nt, row in walk.codons.items()})


def _parse_alternative(text: str, source: str, number: int) -> Production:
    symbols: list[Symbol] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            bad = text[pos:].strip()
            raise GrammarError(
                f"{source}:{number}: cannot read {bad!r}; close every '<...>' and '[...]'"
            )
        nt, real, term = match.groups()
        if nt is not None:
            symbols.append(NonTerminal(nt))
        elif real is not None:
            symbols.append(_parse_real(real, source, number))
        else:
            key, sep, raw = term.partition(":")
            if not sep or not key or not raw:
                raise GrammarError(
                    f"{source}:{number}: terminal {term!r} must look like key:value; fix it"
                )
            symbols.append(Terminal(key, _read_value(raw, f"{source}:{number}")))
        pos = match.end()
    if not symbols:
        raise GrammarError(f"{source}:{number}: empty alternative; remove the extra '|'")
    return tuple(symbols)


def _parse_real(text: str, source: str, number: int) -> RealTerminal:
    where = f"{source}:{number}: {text}"
    fields = [f.strip() for f in text[1:-1].split(",")]
    if len(fields) != 5 or not fields[0]:
        raise GrammarError(f"{where} is malformed; write [name,type,count,min,max]")
    name, kind, count, low, high = fields
    if kind not in REAL_TYPES:
        raise GrammarError(f"{where} has unknown type '{kind}'; use one of {', '.join(REAL_TYPES)}")
    if not re.fullmatch(r"\d{1,9}", count) or not 1 <= int(count) <= MAX_COUNT:
        raise GrammarError(f"{where} has count '{count}'; use an integer in 1..{MAX_COUNT}")
    bounds = [_read_value(low, where), _read_value(high, where)]
    if kind == "float":
        if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds):
            raise GrammarError(f"{where} needs numeric min and max; fix the bounds")
        bounds = [float(b) for b in bounds]
    elif not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
        raise GrammarError(f"{where} needs integer min and max for type {kind}; fix the bounds")
    if bounds[0] > bounds[1]:
        raise GrammarError(f"{where} has min {low} > max {high}; swap them")
    for bound in bounds:
        if _beyond_limit(kind, bound):
            shown = f"{_POWER_BASE[kind]}^{bound}" if kind in _POWER_BASE else bound
            raise GrammarError(
                f"{where} reaches {shown}, beyond the limit of 1e18 in magnitude; narrow the range"
            )
    return RealTerminal(name, kind, int(count), bounds[0], bounds[1])


def _beyond_limit(kind: str, bound: Number) -> bool:
    """Whether a bound (an exponent for the power types) exceeds MAX_MAGNITUDE.

    For the power types, 10^-k is as out of range as 10^k: it underflows to 0.
    The exponent is tested first so that no huge power is ever computed.
    """
    base = _POWER_BASE.get(kind)
    if base is None:
        return abs(bound) > MAX_MAGNITUDE
    return abs(bound) > 64 or base ** abs(bound) > MAX_MAGNITUDE


def _read_value(raw: str, where: str) -> Value:
    """parse_value, with numbers too long for Python's int() as a one-line error."""
    try:
        return parse_value(raw)
    except ValueError:
        raise GrammarError(f"{where}: the number {raw[:20]}... is too long; shorten it") from None


def _heights(rules: dict[str, tuple[Production, ...]]) -> dict[str, float]:
    """Height of each non-terminal's shallowest complete derivation tree (inf: none).

    Computed level by level (Knuth's shortest-derivation algorithm): a production
    completes once every non-terminal in it has a height, one more than its
    tallest child's, and children complete in order of height, so the first
    production of a rule to complete is its shallowest. Linear in the grammar's
    size, so a long chain of rules is checked as fast as a short one.
    """
    productions = [
        (nt, {s.name for s in p if isinstance(s, NonTerminal)})
        for nt, alternatives in rules.items()
        for p in alternatives
    ]
    pending = [len(children) for _, children in productions]
    users: dict[str, list[int]] = {}
    for i, (_, children) in enumerate(productions):
        for child in children:
            users.setdefault(child, []).append(i)
    height = dict.fromkeys(rules, math.inf)
    frontier: list[str] = []
    for nt, children in productions:
        if not children and math.isinf(height[nt]):
            height[nt] = 1
            frontier.append(nt)
    level = 1
    while frontier:
        level += 1
        reached = []
        for child in frontier:
            for i in users.get(child, ()):
                pending[i] -= 1
                owner = productions[i][0]
                if pending[i] == 0 and math.isinf(height[owner]):
                    height[owner] = level
                    reached.append(owner)
        frontier = reached
    return height


def _check_finite(
    rules: dict[str, tuple[Production, ...]], lines: dict[str, int], source: str
) -> None:
    for nt, h in _heights(rules).items():
        if math.isinf(h):
            raise GrammarError(
                f"{source}:{lines[nt]}: '<{nt}>' cannot derive a finite string (every "
                "alternative recurses); add an alternative without recursion"
            )
        if h > MAX_DEPTH:
            raise GrammarError(
                f"{source}:{lines[nt]}: '<{nt}>' needs {h:.0f} nested rules to reach "
                f"terminals, more than the limit of {MAX_DEPTH}; shorten the chain of rules"
            )
