"""Tests of sedl.candidates: the kNN pool agrees with scikit-learn; bad input."""

import pytest
import torch

from sedl import candidates, data, experiments


def test_the_pool_is_reachable_from_experiments():
    """The pages call experiments.knn_pool: the split must keep that name working."""
    assert experiments.knn_pool is candidates.knn_pool and "knn_pool" in experiments.__all__


@pytest.fixture(scope="module")
def small_mnist():
    x, y = data.mnist("train")
    xv, yv = data.mnist("val")
    return (x[::4], y[::4]), (xv[::5], yv[::5])  # 1,000 training and 100 held-out images, all classes


def test_knn_pool_matches_scikit_learn(small_mnist):
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier

    (x, y), (xh, yh) = small_mnist
    correct, configs = candidates.knn_pool((x, y), (xh, yh), dims=(10, 30), ks=(1, 5),
                                           weightings=("uniform", "distance"))
    assert correct.shape == (8, 100) and correct.dtype == bool
    assert configs[["dims", "k", "weights"]].values.tolist()[:2] == [[10, 1, "uniform"], [10, 1, "distance"]]
    flat, flat_h = x.flatten(1).double().numpy(), xh.flatten(1).double().numpy()
    pca = PCA(30, svd_solver="covariance_eigh").fit(flat)  # the first 10 components are nested in it
    z, z_h = pca.transform(flat), pca.transform(flat_h)
    for row, right in zip(configs.itertuples(), correct, strict=True):
        knn = KNeighborsClassifier(row.k, weights=row.weights).fit(z[:, :row.dims], y.numpy())
        reference = knn.predict(z_h[:, :row.dims]) == yh.numpy()
        assert (reference == right).mean() >= 0.99  # equal up to ties between equidistant neighbours
        assert row.accuracy == pytest.approx(right.mean())


@pytest.mark.parametrize("args, kind, message", [
    ({"dims": (1000,)}, ValueError, "dims: expected an int <= 784, got 1000"),
    ({"dims": 10}, TypeError, "dims: expected a non-empty list or tuple, got int"),
    ({"dims": ()}, TypeError, "dims: expected a non-empty list or tuple, got tuple"),
    ({"dims": (2.5,)}, TypeError, "dims: expected an int, got float"),
    ({"ks": (0,)}, ValueError, "ks: expected an int >= 1, got 0"),
    ({"ks": (2000,)}, ValueError, "ks: expected an int <= 1000, got 2000"),
    ({"ks": None}, TypeError, "ks: expected a non-empty list or tuple, got NoneType"),
    ({"weightings": ("gaussian",)}, ValueError,
     "weightings: expected 'uniform' or 'distance', got 'gaussian'"),
    ({"weightings": "uniform"}, TypeError, "weightings: expected a non-empty list or tuple, got str"),
    ({"heldout": "short"}, TypeError, r"heldout: expected a pair \(images, labels\), got str"),
    ({"train": None}, TypeError, r"train: expected a pair \(images, labels\), got NoneType"),
    ({"train": [torch.zeros(4, 1, 28, 28)]}, TypeError, r"train: expected a pair \(images, labels\)"),
    # Callables build the bad pair from the good ones: (train, heldout) -> the argument.
    ({"heldout": lambda t, h: (h[0], h[1][:50])}, ValueError, r"heldout\[1\]: expected 100 labels"),
    ({"train": lambda t, h: (t[0] * 255, t[1])}, ValueError, r"train\[0\]: expected values in \[0, 1\]"),
    ({"train": lambda t, h: (t[0], t[1].float())}, TypeError, r"train\[1\]: expected an integer tensor"),
])
def test_knn_pool_bad_input(small_mnist, args, kind, message):
    good = {"train": small_mnist[0], "heldout": small_mnist[1], "dims": (10,), "ks": (1,)}
    args = good | {key: value(*small_mnist) if callable(value) else value for key, value in args.items()}
    with pytest.raises(kind, match=message):
        candidates.knn_pool(args.pop("train"), args.pop("heldout"), **args)
