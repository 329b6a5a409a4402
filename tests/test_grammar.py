"""Grammar parsing, validation, DSGE derivation / decoding, real-valued terminals."""

from __future__ import annotations

import inspect
import json
import math
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from neronet.cli import main
from neronet.errors import GrammarError
from neronet.grammar import (
    MAX_DEPTH,
    Codon,
    Derivation,
    Grammar,
    NonTerminal,
    RealTerminal,
    Terminal,
    parse_terms,
    parse_value,
)

NERO_STARTS = ("stem", "features", "last-transition", "classification", "softmax", "learning")
FAST_DENSER_STARTS = ("features", "classification", "softmax", "learning")

GOOD = """
# a comment line

<start> ::= <a> x:1 | <a> <a>   # trailing comment
<a> ::= flag:True y:0.5
      | name:relu [lr,int_power10,1,-3,-1] [n,int,2,1,4]
      | [p,float,1,0.5,1] [b,int_power2,1,5,9]
"""


def test_parse_good_grammar_builds_typed_symbols() -> None:
    g = Grammar.parse(GOOD, "good.grammar")
    assert list(g.rules) == ["start", "a"]
    assert g.rules["start"][0] == (NonTerminal("a"), Terminal("x", 1))
    assert g.rules["a"][0] == (Terminal("flag", True), Terminal("y", 0.5))
    assert g.rules["a"][1][1] == RealTerminal("lr", "int_power10", 1, -3, -1)
    assert g.rules["a"][1][2] == RealTerminal("n", "int", 2, 1, 4)
    assert g.rules["a"][2][0] == RealTerminal("p", "float", 1, 0.5, 1.0)
    assert g.lines == {"start": 4, "a": 5}


def test_parse_value_types_without_eval() -> None:
    assert parse_value("True") is True and parse_value("false") is False
    assert parse_value("-3") == -3 and isinstance(parse_value("-3"), int)
    assert parse_value("1e-3") == 0.001 and isinstance(parse_value("2.0"), float)
    assert parse_value("__import__('os')") == "__import__('os')"
    assert parse_terms("a:1 b:same") == [("a", 1), ("b", "same")]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("<s> ::= x:1\n\n<t> ::= <missing>", 3, "undefined non-terminal '<missing>'"),
        ("<s> ::= [lr,int,1,2]", 1, "malformed"),
        ("<s> ::= [lr,int,1,5,2]", 1, "min 5 > max 2"),
        ("<s> ::= x:1\n<t> ::= [lr,double,1,0,1]", 2, "unknown type 'double'"),
        ("<s> ::= [lr,int,1,0.5,2]", 1, "integer min and max"),
        ("<s> ::= [lr,int,0,1,2]", 1, "count"),
        ("<s> ::= [lr,int,1,1,2", 1, "cannot read"),
        ("<s> ::= x:1 <s>", 1, "cannot derive a finite string"),
        ("# left recursion\n<s> ::= <s> x:1", 2, "cannot derive a finite string"),
        ("<s> ::= x:1\n<a> ::= <b>\n<b> ::= y:1 <a>", 2, "cannot derive a finite string"),
        ("<s> ::= x:1 | | y:2", 1, "empty alternative"),
        ("<s> ::= nokey", 1, "must look like key:value"),
        ("<s> ::= x:1\nthis is not a rule", 2, "expected '<name> ::= alternatives'"),
        ("<s> ::= x:1\n<s> ::= y:2", 2, "already defined at line 1"),
        ("| x:1", 1, "expected '<name> ::= alternatives'"),
    ],
)
def test_bad_grammars_raise_one_line_error_naming_the_line(
    text: str, line: int, fragment: str
) -> None:
    with pytest.raises(GrammarError) as info:
        Grammar.parse(text, "bad.grammar")
    message = str(info.value)
    assert message.startswith(f"bad.grammar:{line}: ")
    assert fragment in message
    assert "\n" not in message and ";" in message


def test_recursion_with_base_case_is_accepted() -> None:
    Grammar.parse("<s> ::= <s> x:1 | x:2")


def test_check_start_rejects_unknown_symbol() -> None:
    g = Grammar.parse(GOOD, "good.grammar")
    g.check_start("a")
    with pytest.raises(GrammarError, match="no rule for '<nope>'"):
        g.check_start("nope")
    with pytest.raises(GrammarError):
        g.derive("nope", np.random.default_rng(0), 5)


@pytest.mark.parametrize(
    ("name", "starts"),
    [("nero-net.grammar", NERO_STARTS), ("fast-denser.grammar", FAST_DENSER_STARTS)],
)
def test_shipped_grammars_derive_and_decode(name: str, starts: tuple[str, ...]) -> None:
    g = Grammar.shipped(name)
    rng = np.random.default_rng(0)
    for start in starts:
        seen = set()
        for _ in range(30):
            terms = g.decode(start, g.derive(start, rng, 10))
            assert terms and all(isinstance(k, str) for k, _ in terms)
            seen.add(tuple(k for k, _ in terms))
        if start in ("features", "learning"):
            assert len(seen) > 1, "alternatives are actually drawn"


def test_power_types_store_exponents_and_express_powers() -> None:
    g = Grammar.shipped("nero-net.grammar")
    rng = np.random.default_rng(1)
    lrs, batches = set(), set()
    for _ in range(200):
        d = g.derive("learning", rng, 10)
        (codon,) = d.codons["schedule"]
        decay_k, batch_k, _ = (v[0] for v in codon.values)
        assert isinstance(batch_k, int) and 5 <= batch_k <= 9
        assert -6 <= decay_k <= -3
        terms = dict(g.decode("learning", d))
        assert terms["batch_size"] == 2**batch_k and isinstance(terms["batch_size"], int)
        assert math.isclose(terms["decay"], 10.0**decay_k)
        lrs.add(terms["lr"])
        batches.add(terms["batch_size"])
    assert lrs == {10.0**k for k in range(-6, 0)}
    assert batches == {32, 64, 128, 256, 512}


def test_float_genes_stay_in_half_open_range() -> None:
    t = RealTerminal("beta1", "float", 1, 0.5, 1.0)
    assert t.clip(5.0) < 1.0 and t.clip(5.0) == t.top
    assert t.clip(-1.0) == 0.5
    rng = np.random.default_rng(0)
    assert all(0.5 <= t.sample(rng) < 1.0 for _ in range(1000))


RECURSIVE = "<list> ::= item:a <list> | item:a <list> | item:b"


@pytest.mark.parametrize("max_depth", [1, 2, 4, 7])
def test_depth_limit_is_respected_and_reached(max_depth: int) -> None:
    g = Grammar.parse(RECURSIVE)
    rng = np.random.default_rng(max_depth)
    lengths = [len(g.decode("list", g.derive("list", rng, max_depth))) for _ in range(300)]
    assert max(lengths) == max_depth  # one term per level: the tree's height
    for _ in range(50):
        occurrences = g.occurrences("list", g.derive("list", rng, max_depth))
        assert max(o.depth for o in occurrences) <= max_depth


def test_too_small_depth_still_terminates_with_shortest_productions() -> None:
    g = Grammar.parse("<s> ::= <a> | <b> <b>\n<a> ::= <b>\n<b> ::= x:1 | <b> x:2")
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert g.decode("s", g.derive("s", rng, 1)) in ([("x", 1)], [("x", 1), ("x", 1)])


def test_derivation_json_round_trip_is_lossless() -> None:
    g = Grammar.shipped("nero-net.grammar")
    rng = np.random.default_rng(3)
    for start in NERO_STARTS:
        for _ in range(10):
            d = g.derive(start, rng, 10)
            back = Derivation.from_dict(json.loads(json.dumps(d.to_dict())))
            assert back == d
            assert g.decode(start, back) == g.decode(start, d)


def test_decode_rejects_derivations_that_do_not_fit() -> None:
    g = Grammar.parse(GOOD)
    d = g.derive("start", np.random.default_rng(0), 5)
    with pytest.raises(ValueError, match="no production"):
        g.decode("start", d.replace("start", 0, Codon(7)))
    extra = Derivation({**d.codons, "a": (*d.codons["a"], Codon(0))})
    with pytest.raises(ValueError, match="unused codons"):
        g.decode("start", extra)
    with pytest.raises(ValueError, match="lacks codon"):
        g.decode("start", Derivation({"start": d.codons["start"]}))
    bad_gene = Derivation({"start": (Codon(0),), "a": (Codon(2, ((2.0,), (5,))),)})
    with pytest.raises(ValueError, match="do not fit"):
        g.decode("start", bad_gene)


def test_regrow_rederives_only_the_chosen_subtree() -> None:
    g = Grammar.parse("<s> ::= <x> <y> <x>\n<x> ::= a:1 <z> | a:2\n<y> ::= b:1 | b:2\n<z> ::= c:1")
    d = Derivation({"s": (Codon(0),), "x": (Codon(1), Codon(1)), "y": (Codon(0),)})
    assert g.decode("s", d) == [("a", 2), ("b", 1), ("a", 2)]
    first_x = next(o for o in g.occurrences("s", d) if o.nt == "x")
    new = g.regrow("s", d, first_x, 0, np.random.default_rng(0), 5)
    assert g.decode("s", new) == [("a", 1), ("c", 1), ("b", 1), ("a", 2)]
    second_x = [o for o in g.occurrences("s", new) if o.nt == "x"][1]
    again = g.regrow("s", new, second_x, 0, np.random.default_rng(0), 5)
    assert g.decode("s", again) == [("a", 1), ("c", 1), ("b", 1), ("a", 1), ("c", 1)]


def test_derivation_of_inverts_decode() -> None:
    for name, starts in (
        ("nero-net.grammar", NERO_STARTS),
        ("fast-denser.grammar", FAST_DENSER_STARTS),
    ):
        g = Grammar.shipped(name)
        rng = np.random.default_rng(5)
        for start in starts:
            for _ in range(10):
                d = g.derive(start, rng, 10)
                terms = g.decode(start, d)
                assert g.decode(start, g.derivation_of(start, terms)) == terms


def test_derivation_of_rejects_terms_outside_the_grammar() -> None:
    g = Grammar.shipped("nero-net.grammar")
    with pytest.raises(GrammarError, match="cannot be derived"):
        g.derivation_of("learning", parse_terms("learning:sgd lr:0.3"))
    with pytest.raises(GrammarError, match="cannot be derived"):
        g.derivation_of("softmax", parse_terms("block:softmax layer:fc bias:1"))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<s> ::= [lr,int_power10,1,400,500]", "reaches 10^400, beyond the limit"),
        ("<s> ::= [lr,int_power10,1,-400,-1]", "reaches 10^-400, beyond the limit"),
        ("<s> ::= [lr,int_power2,1,0,99999999999999999]", "reaches 2^99999999999999999"),
        ("<s> ::= [x,float,1,0,1e400]", "reaches inf, beyond the limit"),
        ("<s> ::= [x,int,1,0,10000000000000000000]", "beyond the limit of 1e18"),
        ("<s> ::= [lr,int_power10,100000000,-6,-1]", "count '100000000'; use an integer in"),
        ("<s> ::= [lr,int_power10,1001,-6,-1]", "count '1001'"),
        ("<s> ::= x:" + "9" * 5000, "is too long"),
        ("<s> ::= [x,int,1,0," + "9" * 5000 + "]", "is too long"),
    ],
)
def test_parse_bounds_values_and_counts(text: str, fragment: str) -> None:
    """Values that would overflow or hang later (decode check, derivation) fail at parse."""
    with pytest.raises(GrammarError) as info:
        Grammar.parse(text, "bad.grammar")
    message = str(info.value)
    assert message.startswith("bad.grammar:1: ") and fragment in message
    assert "\n" not in message and ";" in message


def test_parse_accepts_limits_themselves() -> None:
    grammar = Grammar.parse("<s> ::= [lr,int_power10,1000,-18,18] [n,int,1,-1000000000000000000,0]")
    genes = grammar.derive("s", np.random.default_rng(0), 3)
    assert len(grammar.decode("s", genes)) == 1001


def test_deep_chain_of_rules_fails_fast_at_parse() -> None:
    """A 5,000-deep chain is refused by the depth limit, without recursion: it is refused
    the same with only 100 Python frames to spare (a check of the work, not of a clock)."""
    chain = "\n".join(f"<a{i}> ::= <a{i + 1}>" for i in range(5000)) + "\n<a5000> ::= x:1"
    spare = len(inspect.stack(0)) + 100
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(spare)
    try:
        with pytest.raises(GrammarError) as info:
            Grammar.parse(chain, "deep.grammar")
    finally:
        sys.setrecursionlimit(limit)
    message = str(info.value)
    assert message.startswith("deep.grammar:1: '<a0>' needs 5001 nested rules")
    assert f"limit of {MAX_DEPTH}" in message and "\n" not in message


def test_chain_at_the_depth_limit_derives() -> None:
    chain = "\n".join(f"<a{i}> ::= <a{i + 1}>" for i in range(MAX_DEPTH - 1))
    grammar = Grammar.parse(chain + f"\n<a{MAX_DEPTH - 1}> ::= x:1")
    derivation = grammar.derive("a0", np.random.default_rng(0), MAX_DEPTH)
    assert grammar.decode("a0", derivation) == [("x", 1)]


DEEP_CHAIN = "\n".join(f"<deep{i}> ::= <deep{i + 1}>" for i in range(5000)) + "\n<deep5000> ::= x:1"


@pytest.mark.parametrize(
    ("lr_term", "more_rules"),
    [
        ("[lr,int_power10,1,400,500]", ""),
        ("[lr,int_power10,100000000,-6,-1]", ""),
        ("<deep0>", DEEP_CHAIN),
    ],
)
def test_evolve_with_an_out_of_limits_grammar_is_one_line_and_creates_nothing(
    lr_term: str, more_rules: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quick = (resources.files("neronet") / "grammars" / "nero-net-quick.grammar").read_text()
    grammar = tmp_path / "bad.grammar"
    grammar.write_text(quick.replace("[lr,int_power10,1,-3,-1]", lr_term) + "\n" + more_rules)
    config = tmp_path / "cfg.yaml"
    config.write_text(f"data:\n  dataset: digits\nstructure:\n  grammar: {grammar}\n")
    run = tmp_path / "run"
    assert main(["evolve", "--config", str(config), "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"neronet: error: {grammar}:") and "\n" not in err
    assert not run.exists()


def test_comment_edits_are_not_grammar_changes() -> None:
    from neronet.grammar import same_rules

    text = "<a> ::= [x,int,1,1,3]  # the width\n"
    assert same_rules(text, "# a note\n\n  <a> ::= [x,int,1,1,3]\n")
    assert not same_rules(text, "<a> ::= [x,int,1,1,4]\n")
