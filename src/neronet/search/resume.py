"""What may differ when a run is opened again, and what every run records about itself."""

from __future__ import annotations

import json
from typing import Any

from neronet.config import NeroConfig
from neronet.errors import StoreError
from neronet.grammar import same_rules
from neronet.store import RunStore


def resume_changes(store: RunStore, config: NeroConfig, grammar_text: str) -> list[str]:
    """What differs from the stored run that a resume must not change silently: the
    grammar, the config's search-relevant keys (empty: nothing)."""
    changed = []
    if not same_rules(store.grammar()[0], grammar_text):
        changed.append("the grammar")
    # the stored config under today's schema: settings added since it was written
    # take their defaults, which reproduce what the older release did
    stored = store.config().search_relevant()
    stored = json.loads(json.dumps(stored))
    current = json.loads(json.dumps(config.search_relevant()))
    if stored != current:
        keys = sorted(diff_keys(stored, current))
        changed.append("config keys " + ", ".join(keys[:5]))
    return changed


def check_resumable(
    store: RunStore,
    config: NeroConfig,
    grammar_text: str,
    changed: list[str],
    allow_changed: bool,
) -> None:
    """Refuse to resume with ``changed`` (:func:`resume_changes`) unless ``allow_changed``
    (then the run becomes the changed one: status, resume checks and reports see it)."""
    if not changed:
        return
    what = " and ".join(changed)
    if not allow_changed:
        raise StoreError(
            f"cannot resume '{store.directory}': {what} changed since the run started; "
            "restore them or pass --allow-changed to continue anyway"
        )
    store.log_event("resume-changed", f"resumed although {what} changed (--allow-changed)")
    # From now on the run is the changed one: status, resume checks and reports see it.
    store.set_meta("config", config.model_dump(mode="json"))
    store.set_meta("grammar", grammar_text)
    store.set_meta("finished", False)


def diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like trees."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += diff_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(root)"]
