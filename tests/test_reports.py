"""Reports from a hand-built RunStore: files, figures, summary text, unfinished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.image import imread
from matplotlib.lines import Line2D

from neronet.config import NeroConfig
from neronet.errors import StoreError
from neronet.evaluation.objectives import weighted_hrs
from neronet.reports.architecture import _skips, architecture_figure, node_detail, node_title
from neronet.reports.data import load_run
from neronet.reports.plots import accuracy_figure, fitness_figure
from neronet.reports.run_report import write_report
from neronet.spec import INPUT, LayerSpec, NetworkSpec, NodeSpec
from neronet.store import GenerationRow, RunStore

TAU = 0.8


def _conv(filters: int, kernel: int = 3, stride: int = 1) -> LayerSpec:
    return LayerSpec(
        "conv",
        {"filters": filters, "kernel": kernel, "stride": stride, "padding": "same", "bias": False},
    )


def _macro(filters: int, inputs: tuple[int, ...]) -> NodeSpec:
    relu = LayerSpec("act", {"fn": "relu"})
    bn = LayerSpec("bn")
    layers = (bn, relu, _conv(4 * filters, 1), bn, relu, _conv(filters))
    return NodeSpec("macro-node", inputs, layers, module="features")


def _transition(filters: int, inputs: tuple[int, ...], op: str = "max") -> NodeSpec:
    pool = LayerSpec("pool", {"op": op, "kernel": 2, "stride": 2, "padding": "valid"})
    layers = (_conv(filters), LayerSpec("bn"), LayerSpec("act", {"fn": "silu"}), pool)
    return NodeSpec("transition-block", inputs, layers, module="features")


def _head(inputs: tuple[int, ...], classes: int = 10) -> tuple[NodeSpec, ...]:
    fc = NodeSpec(
        "fc",
        inputs,
        (LayerSpec("fc", {"units": 256, "bias": True}), LayerSpec("act", {"fn": "relu"})),
        module="classification",
    )
    logits = LayerSpec("fc", {"units": classes, "bias": True})
    out = NodeSpec("softmax", (inputs[0] + 1,), (logits,), module="softmax")
    return fc, out


def small_spec() -> NetworkSpec:
    """Stem, three macro-nodes with skips (one from the input), a transition, a head."""
    nodes = (
        NodeSpec("stem", (INPUT,), (_conv(32), LayerSpec("bn"), LayerSpec("act", {"fn": "relu"}))),
        _macro(64, (0,)),
        _macro(64, (1,)),
        _macro(32, (0, 2, INPUT)),  # skips from the stem and from the input
        _transition(48, (3,)),
        NodeSpec("last-transition", (4,), (LayerSpec("gpool", {"op": "avg"}),)),
        *_head((5,)),
    )
    return NetworkSpec((1, 8, 8), 10, nodes)


def individual(
    id: int,
    generation: int,
    *,
    clean: float | None = 0.5,
    adversarial: float | None = 0.2,
    status: str = "ok",
    warmup: bool = True,
    parent_id: int | None = None,
    cache_of: int | None = None,
    spec: NetworkSpec | None = None,
) -> dict[str, Any]:
    """A complete individuals-table row (every column), as the runner would write it."""
    ok = status == "ok"
    trained = cache_of is None and status != "invalid"
    clean = clean if ok else None
    adversarial = adversarial if ok else None
    fitness = 0.0 if not ok else (clean if warmup else weighted_hrs(clean, adversarial, beta=4.0))
    spec = spec or small_spec()
    return {
        "id": id,
        "key": f"g{generation}/{'i' if generation == 0 else 'o'}{id}",
        "generation": generation,
        "parent_id": parent_id,
        "mutations": ["seed"] if generation == 0 else ["add_unit", "dsge_layer"],
        "genotype": "{}",
        "spec_hash": spec.digest(),
        "learning_hash": "l" * 16,
        "train_time": 600.0,
        "status": status,
        "reason": None if ok else f"{status} for a test",
        "fitness": fitness,
        "metrics": {}
        if not ok
        else {
            "clean_accuracy": clean,
            **(
                {}
                if adversarial is None
                else {
                    "adversarial_accuracy": adversarial,
                    "overall_adversarial_accuracy": clean * adversarial,
                }
            ),
            "parameters": 123456,
        },
        "epochs": 7 if trained else 0,
        "train_seconds": 61.5 if trained else 0.0,
        "history": [{"epoch": 1, "loss": 1.0}],
        "record": {
            "spec": spec.to_dict(),
            "seconds": {"train": 61.5, "fgsm": 2.5} if trained and ok else {},
        },
        "cache_of": cache_of,
        "warm_start_from": None,
        "weights_path": None,
        "state_path": None,
    }


def create_run(path: Path, generations: int = 6) -> RunStore:
    config = NeroConfig.model_validate(
        {"seed": 7, "data": {"dataset": "digits"}, "search": {"generations": generations}}
    )
    return RunStore.create(
        path,
        {
            "config": config.model_dump(mode="json"),
            "seed": 7,
            "versions": {"neronet": "0.1.0"},
            "started_at": 1_700_000_000.0,
            "finished": False,
        },
    )


def add_generation(
    store: RunStore,
    generation: int,
    parent: int,
    best: float,
    mean: float,
    *,
    warmup: bool,
    switched: bool = False,
) -> None:
    info = {"warmup": warmup, "switched": switched}
    store.add_generation(
        GenerationRow(
            generation, (parent,), best, mean, info, 1_700_000_000.0 + 100 * (generation + 1)
        )
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """4 generations of 6: warm-up in 0-1 (mean reaches tau at the end of 1), HRS in 2-3."""
    path = tmp_path / "run"
    store = create_run(path)
    for row in (
        individual(0, 0, clean=0.70, adversarial=0.10),
        individual(1, 0, status="invalid"),
        individual(2, 0, clean=0.60, adversarial=0.15),
    ):
        store.add_individual(row)
    add_generation(store, 0, parent=0, best=0.70, mean=(0.70 + 0.0 + 0.60) / 3, warmup=True)
    store.add_individual(individual(3, 1, clean=0.85, adversarial=0.20, parent_id=0))
    store.add_individual(individual(4, 1, clean=0.88, adversarial=0.25, parent_id=0))
    add_generation(
        store, 1, parent=4, best=0.88, mean=(0.70 + 0.85 + 0.88) / 3, warmup=True, switched=True
    )
    store.add_individual(individual(5, 2, status="ill-fitted", warmup=False, parent_id=4))
    store.add_individual(
        individual(6, 2, clean=0.88, adversarial=0.25, warmup=False, parent_id=4, cache_of=4)
    )
    hrs = weighted_hrs(0.88, 0.25, beta=4.0)
    add_generation(store, 2, parent=4, best=hrs, mean=2 * hrs / 3, warmup=False)
    store.add_individual(individual(7, 3, clean=0.83, adversarial=0.41, warmup=False, parent_id=4))
    store.add_individual(individual(8, 3, clean=0.80, adversarial=0.30, warmup=False, parent_id=4))
    best = weighted_hrs(0.83, 0.41, beta=4.0)
    add_generation(store, 3, parent=7, best=best, mean=0.6, warmup=False)
    store.close()
    return path


def _assert_image(path: Path, min_height: int = 200) -> None:
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] >= min_height and image.shape[1] >= 300
    rgb = image[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05, f"{path.name} looks blank"
    assert len(np.unique(rgb.round(2), axis=0)) > 20, f"{path.name} has almost no colours"


def test_report_writes_every_file_with_real_images(run_dir: Path) -> None:
    out = write_report(run_dir)
    assert out == run_dir / "report"
    for name in ("fitness.png", "accuracy.png", "architecture.png", "summary.md", "summary.html"):
        assert (out / name).is_file(), name
    for name in ("fitness.png", "accuracy.png"):
        _assert_image(out / name)
    _assert_image(out / "architecture.png", min_height=800)


def test_summary_names_the_best_individual_and_run_facts(run_dir: Path, tmp_path: Path) -> None:
    out = write_report(run_dir, tmp_path / "elsewhere")
    md = (out / "summary.md").read_text()
    html = (out / "summary.html").read_text()
    best_fitness = f"{weighted_hrs(0.83, 0.41, beta=4.0):.4f}"
    for text in (md, html):
        assert "7 (g3/o7)" in text  # best id and key
        assert best_fitness in text and "weighted HRS" in text
        assert "83.00%" in text and "41.00%" in text  # clean, FGSM conditional
        assert f"{100 * 0.83 * 0.41:.2f}%" in text  # FGSM overall
        assert "123,456" in text
        assert "4 / 6" in text  # generations done / total
        assert "is unfinished" in text
        assert "digits" in text
        assert "end of generation 1" in text and "from generation 2" in text
    facts = dict(
        line.strip("| ").split(" | ")[:2]
        for line in md.splitlines()
        if line.startswith("| ") and line.count(" | ") == 1
    )
    assert facts["ok / ill-fitted / invalid"] == "7 / 1 / 1"
    assert facts["cache hits (duplicates not retrained)"] == "1"
    assert facts["individuals evaluated"] == "9"
    # 7 trained (neither the invalid one nor the cache hit) x 61.5 s
    assert facts["total training time"] == "7m 10s"
    generation_rows = [
        line
        for line in md.splitlines()
        if line.startswith("| ") and line.split(" | ")[0].strip("| ").isdigit()
    ]
    assert [row.split(" | ")[0].strip("| ") for row in generation_rows] == ["0", "1", "2", "3"]
    assert "switch to HRS" in generation_rows[1]
    assert "![" in md and "(fitness.png)" in md and "(architecture.png)" in md
    assert html.count('src="data:image/png;base64,') == 3
    assert not (run_dir / "report").exists()


def _verticals(ax: Axes) -> list[Line2D]:
    """The axvline markers: two points with one x (data lines have one point per generation)."""
    return [
        line for line in ax.lines if len(line.get_xdata()) == 2 and len(set(line.get_xdata())) == 1
    ]


def test_figures_mark_the_first_hrs_generation(run_dir: Path) -> None:
    data = load_run(run_dir)
    for fig in (fitness_figure(data), accuracy_figure(data)):
        ax = fig.axes[0]
        assert [line.get_xdata()[0] for line in _verticals(ax)] == [2]
        assert any("weighted HRS" in t.get_text() for t in ax.texts)
    best_line = fitness_figure(data).axes[0].lines[1]
    assert list(best_line.get_ydata()) == [g.row.best_fitness for g in data.generations]
    clean_line = accuracy_figure(data).axes[0].lines[1]
    assert list(clean_line.get_ydata()) == pytest.approx([70.0, 88.0, 88.0, 83.0])


def test_warmup_only_run_has_no_switch(tmp_path: Path) -> None:
    store = create_run(tmp_path / "run")
    store.add_individual(individual(0, 0, clean=0.4, adversarial=None))
    add_generation(store, 0, parent=0, best=0.4, mean=0.4, warmup=True)
    store.close()
    out = write_report(tmp_path / "run")
    ax = fitness_figure(load_run(tmp_path / "run")).axes[0]
    assert not _verticals(ax)
    md = (out / "summary.md").read_text()
    assert "still in warm-up" in md and "clean accuracy (warm-up)" in md and "1 of 6" in md
    _assert_image(out / "accuracy.png")


def test_run_without_finished_generation_gets_a_summary_only(tmp_path: Path) -> None:
    store = create_run(tmp_path / "run")
    store.add_individual(individual(0, 0))
    store.close()
    out = tmp_path / "run" / "report"
    out.mkdir()
    (out / "fitness.png").write_bytes(b"stale")
    write_report(tmp_path / "run")
    assert sorted(p.name for p in out.iterdir()) == ["summary.html", "summary.md"]
    md = (out / "summary.md").read_text()
    assert "No generation has finished yet (1 individuals" in md
    assert "0 / 6" in md and "Best individual" not in md


def _run_files(run_dir: Path) -> dict[str, bytes]:
    """The run's files, less SQLite's WAL index files, which any reader may create."""
    return {
        p.name: p.read_bytes()
        for p in run_dir.iterdir()
        if p.is_file() and not p.name.startswith("run.sqlite-")
    }


def test_report_leaves_the_run_untouched(run_dir: Path) -> None:
    before = _run_files(run_dir)
    write_report(run_dir, run_dir.parent / "out")
    assert _run_files(run_dir) == before
    assert not (run_dir / "report").exists()


def test_missing_run_dir_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a neronet run directory"):
        write_report(tmp_path / "nope")


def test_unwritable_report_dir_is_a_store_error(run_dir: Path) -> None:
    blocker = run_dir.parent / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write the report"):
        write_report(run_dir, blocker / "report")


def test_node_labels_name_block_and_key_parameters() -> None:
    nodes = small_spec().nodes
    assert node_title(nodes[1]) == "macro-node 64f relu"
    assert node_detail(nodes[1]) == "bn relu conv1x1/1->256 bn relu conv3x3/1->64"
    assert node_title(nodes[4]) == "transition-block 48f silu max-pool"
    assert node_title(nodes[5]) == "last-transition avg-gpool"
    assert node_title(nodes[6]) == "fc 256 relu"
    assert node_title(nodes[7]) == "softmax 10"


def test_skips_get_separate_lanes_with_short_ones_inside() -> None:
    skips = {(s.src_row, s.dst_row): s.lane for s in _skips(small_spec())}
    # Node 3 (row 4) takes the stem (row 1) and the input (row 0); node 2 -> 3 is sequential.
    assert skips == {(1, 4): 0, (0, 4): 1}


def test_large_architecture_scales_and_stays_drawable() -> None:
    rng = np.random.default_rng(0)
    nodes = [NodeSpec("stem", (INPUT,), (_conv(16),))]
    for k in range(1, 38):
        back = rng.choice(np.arange(max(0, k - 5), k), size=min(k, 2), replace=False)
        inputs = tuple(sorted({k - 1, *map(int, back)}))
        nodes.append(_transition(32, inputs, "avg") if k % 7 == 0 else _macro(64, inputs))
    spec = NetworkSpec((3, 32, 32), 10, (*nodes, *_head((len(nodes) - 1,))))
    fig = architecture_figure(spec, "large")
    assert fig.get_size_inches()[1] > 0.55 * len(spec.nodes)
    skips = _skips(spec)
    assert len(skips) > 30
    for a in skips:
        for b in skips:
            overlap = a is not b and a.src_row < b.dst_row and b.src_row < a.dst_row
            assert not (overlap and a.lane == b.lane)
            if overlap and b.src_row <= a.src_row and a.dst_row <= b.dst_row:
                assert a.lane < b.lane  # a lies inside b


def test_a_figure_is_replaced_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report killed while it renders (or two writing at once) never leaves half a
    picture where the last whole one was: the PNG is rendered aside, then renamed."""
    from matplotlib.figure import Figure

    from neronet.reports.plots import save

    path = tmp_path / "plot.png"
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    save(fig, path)
    whole = path.read_bytes()
    assert whole.startswith(b"\x89PNG") and imread(path).ndim == 3

    def cut_short(self: Figure, target: Any, **options: Any) -> None:
        if isinstance(target, (str, Path)):
            Path(target).write_bytes(b"\x89PNG half")
        else:
            target.write(b"\x89PNG half")
        raise KeyboardInterrupt  # the kill arrives mid-render

    monkeypatch.setattr(Figure, "savefig", cut_short)
    with pytest.raises(KeyboardInterrupt):
        save(fig, path)
    assert path.read_bytes() == whole and [p.name for p in tmp_path.iterdir()] == ["plot.png"]
