"""AutoAttack at equal size: the size line from a survey (refused where the survey
measured otherwise), and the experiment's table against the statistics worked out
separately."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers_store import size_survey

from neronet.config import load_config
from neronet.errors import ConfigError, StoreError, StudyError
from neronet.reports.at_size import (
    COLUMN,
    SizeReference,
    at_size_section,
    at_size_table,
    read_size_reference,
)
from neronet.reports.experiment import RunResult, method_table
from neronet.reports.statistics import difference_at_size, holm, paired_difference, wilcoxon

CONFIG = Path(__file__).parents[1] / "src" / "neronet" / "configs" / "experiment-fashion-mnist.yaml"
LINE = [(10 ** (4 + i / 4), 0.1 + 0.02 * i + 0.01 * (-1) ** i) for i in range(12)]


def test_the_size_line_is_read_from_a_survey_that_measured_as_the_experiment_does(
    tmp_path: Path,
) -> None:
    config = load_config(str(CONFIG))
    survey = size_survey(tmp_path / "s", config, [*LINE, (5e4, math.nan)])
    reference = read_size_reference(survey, config)
    assert reference.source == str(survey)
    assert list(zip(reference.sizes, reference.values, strict=True)) == LINE  # no NaN row
    # fewer test images attacked, another search or seed: the same recipe
    other = load_config(str(CONFIG), ["attack.limit=50", "search.generations=2", "seed=4"])
    assert read_size_reference(survey, other).sizes == reference.sizes


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("attack.linf_eps=0.1", "attack.linf_eps"),
        ("posttrain.standard.epochs=3", "posttrain.standard"),
        ("data.train=1000", "data.train"),
    ],
)
def test_a_survey_measured_otherwise_is_refused_naming_what_differs(
    tmp_path: Path, override: str, key: str
) -> None:
    survey = size_survey(tmp_path / "s", load_config(str(CONFIG), [override]), LINE)
    with pytest.raises(ConfigError, match=rf"otherwise than this experiment .*\({key}\)"):
        read_size_reference(survey, load_config(str(CONFIG)))


def test_no_survey_or_too_small_a_one_is_refused(tmp_path: Path) -> None:
    config = load_config(str(CONFIG))
    with pytest.raises(StoreError, match="holds no survey"):
        read_size_reference(tmp_path, config)
    survey = size_survey(tmp_path / "s", config, LINE[:9])
    with pytest.raises(StudyError, match=r"holds 9 architectures .* at least 10"):
        read_size_reference(survey, config)


def _results(method: str, runs: list[tuple[float, int | None]]) -> list[RunResult]:
    return [
        RunResult(method, i, {"clean": 0.8, COLUMN: robust}, (), (), size)
        for i, (robust, size) in enumerate(runs)
    ]


def test_each_method_is_compared_with_the_first_at_equal_size() -> None:
    """The table's numbers are the statistics module's: the size ratio, the plain and the
    size-held paired difference with its interval, the Wilcoxon test of the size-held
    differences and Holm over the methods; runs without a known size are left out."""
    reference = SizeReference("s", tuple(s for s, _ in LINE), tuple(v for _, v in LINE))
    first = [(0.30, 100_000), (0.25, 50_000), (0.40, 200_000), (0.35, 80_000)] * 2
    big = [(v + 0.10, s * 10) for v, s in first]  # 10x larger, 10 points more
    big[3] = (big[3][0], None)
    same = [(v + 0.04 * (i % 3), s) for i, (v, s) in enumerate(first)]
    table = method_table(
        ["ref", "big", "same"],
        _results("ref", first) + _results("big", big) + _results("same", same),
    )
    slope = np.polyfit(np.log10(reference.sizes), reference.values, 1)[0]
    rows = {row[0]: row for row in at_size_table(table, reference, slope).rows}
    assert list(rows) == ["big", "same"]
    runs = [i for i in range(8) if i != 3]
    a, b = [big[i][0] for i in runs], [first[i][0] for i in runs]
    sa, sb = [float(big[i][1]) for i in runs], [float(first[i][1]) for i in runs]
    line = (reference.sizes, reference.values)
    held = difference_at_size(a, b, sa, sb, line)
    assert held.value == pytest.approx(0.10 - slope)  # a tenfold size: one slope's worth
    tests = [
        wilcoxon(
            [v - slope * math.log10(s) for v, s in zip(x, xs, strict=True)],
            [v - slope * math.log10(s) for v, s in zip(y, ys, strict=True)],
        )
        for x, y, xs, ys in (
            (a, b, sa, sb),
            (
                [v for v, _ in same],
                [v for v, _ in first],
                [s for _, s in same],
                [s for _, s in first],
            ),
        )
    ]
    assert rows["big"] == (
        "big",
        "7",
        "×10.00 (larger in 7 of 7)",
        f"{100 * paired_difference(a, b).value:+.2f}",
        f"{100 * held.value:+.2f}",
        f"[{100 * held.low:+.2f}, {100 * held.high:+.2f}]",
        f"{tests[0].pvalue:.3g}",
        f"{holm([t.pvalue for t in tests])[0]:.3g}",
    )
    assert rows["same"][2] == "×1.00 (larger in 0 of 8)"  # same sizes: nothing held
    assert rows["same"][3] == rows["same"][4] == "+3.50"
    section = at_size_section(table, reference)
    assert section.title == "AutoAttack at equal size, against ref"
    assert f"rises {100 * slope:.1f} points per tenfold parameters" in section.blocks[0]
