"""scikit-learn's bundled digits: the embedded default dataset, no files needed.

1,797 8x8 grey images with values 0..16, rescaled to 0..255 so every dataset
shares the uint8 convention. scikit-learn ships no test split, so a fixed
stratified 20% is held out (always the same images, whatever the run seed).
"""

from __future__ import annotations

import numpy as np

from neronet.data.dataset import Dataset
from neronet.data.registry import DATASETS, DatasetLoader, Source
from neronet.data.splits import hold_out

TEST_SHARE = 0.2
SPLIT_SEED = 0
_MAX_VALUE = 16


@DATASETS.register("digits")
class Digits(DatasetLoader):
    """The digits dataset with a deterministic 80/20 stratified train/test split."""

    takes_path = False

    def load(self, source: Source) -> Dataset:
        # Imported here: scikit-learn takes about a second to import and only digits needs it.
        from sklearn.datasets import load_digits as sklearn_digits

        bunch = sklearn_digits()
        x = np.rint(bunch.images * (255 / _MAX_VALUE)).astype(np.uint8)[:, None]
        full = Dataset(
            name="digits",
            x_train=np.ascontiguousarray(x),
            y_train=bunch.target.astype(np.int64),
            classes=[str(d) for d in range(10)],
        )
        return hold_out(full, TEST_SHARE, SPLIT_SEED)
