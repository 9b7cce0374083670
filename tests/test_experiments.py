"""Tests of sedl.experiments: aggregation by hand, order, determinism, bad input."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sedl import experiments, models, train


def noisy_trial(*, seed, level):
    rng = np.random.default_rng(seed)
    return {"acc": level + 0.01 * rng.standard_normal(), "cost": 2.0 * level}


def test_run_is_tidy_and_ordered():
    runs = experiments.run(noisy_trial, {"low": {"level": 0.5}, "high": {"level": 0.9}},
                           seeds=[3, 1, 2])
    assert list(runs.columns) == ["config", "seed", "acc", "cost"]
    assert runs["config"].tolist() == ["low"] * 3 + ["high"] * 3
    assert runs["seed"].tolist() == [3, 1, 2] * 2
    levels = {"low": 0.5, "high": 0.9}
    for _, row in runs.iterrows():
        assert row["acc"] == noisy_trial(seed=row["seed"], level=levels[row["config"]])["acc"]


def test_summary_against_hand_computation():
    runs = experiments.run(noisy_trial, {"low": {"level": 0.5}, "high": {"level": 0.9}},
                           seeds=[0, 1, 2, 3])
    summary = experiments.summarize(runs)
    assert summary.index.tolist() == ["low", "high"]
    for name, level in [("low", 0.5), ("high", 0.9)]:
        values = [noisy_trial(seed=s, level=level)["acc"] for s in range(4)]
        mean = sum(values) / 4
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)  # sample std, n - 1
        assert summary.loc[name, "acc_mean"] == pytest.approx(mean, abs=1e-12)
        assert summary.loc[name, "acc_std"] == pytest.approx(std, abs=1e-12)
        assert summary.loc[name, "cost_std"] == pytest.approx(0.0, abs=1e-12)
        assert summary.loc[name, "n"] == 4 and summary.loc[name, "seeds"] == "0, 1, 2, 3"
    population = experiments.summarize(runs, metrics=["acc"], ddof=0)
    assert list(population.columns) == ["acc_mean", "acc_std", "n", "seeds"]
    assert population.loc["low", "acc_std"] == pytest.approx(runs["acc"][:4].std(ddof=0))


def test_single_seed_has_zero_std_and_mean_std_strings():
    runs = experiments.run(noisy_trial, {"a": {"level": 0.25}}, seeds=[7])
    summary = experiments.summarize(runs, metrics=["cost"])
    assert summary.loc["a", "cost_std"] == 0.0
    assert experiments.mean_std(summary, "cost", decimals=2).tolist() == ["0.50 ± 0.00"]


def test_real_training_trial_is_deterministic():
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(40) % 2

    def trial(*, seed, width):
        model = models.build(seed=seed, width=width, image_size=8, num_classes=2, hidden=8)
        train.fit(model, (x, y), epochs=1, batch_size=20, seed=seed)
        return train.evaluate(model, x, y)

    first = experiments.run(trial, {"w2": {"width": 2}}, seeds=[0, 1])
    pd.testing.assert_frame_equal(first, experiments.run(trial, {"w2": {"width": 2}}, seeds=[0, 1]))
    assert first["loss"].nunique() == 2


@pytest.mark.parametrize("kwargs, error, message", [
    ({"trial": "not callable"}, TypeError, "trial: expected a callable"),
    ({"configs": {}}, TypeError, "configs: expected a non-empty mapping"),
    ({"configs": [("a", {})]}, TypeError, "configs: expected a non-empty mapping"),
    ({"configs": {"": {"level": 1}}}, ValueError, "configs: expected non-empty str names"),
    ({"configs": {"a": 1}}, TypeError, r"configs\['a'\]: expected a dict"),
    ({"configs": {"a": {"level": 1, "seed": 2}}}, ValueError, r"configs\['a'\]: expected no 'seed'"),
    ({"seeds": []}, TypeError, "seeds: expected a non-empty sequence"),
    ({"seeds": 3}, TypeError, "seeds: expected a non-empty sequence"),
    ({"seeds": [0, -1]}, ValueError, "seeds: expected an int >= 0"),
    ({"seeds": [0, 0]}, ValueError, "seeds: expected distinct seeds"),
    ({"trial": lambda *, seed, level: level}, TypeError, r"trial\(config 'a', seed 0\): expected"),
    ({"trial": lambda *, seed, level: {"acc": "high"}}, TypeError, "expected metric names"),
    ({"trial": lambda *, seed, level: {"seed": 1.0}}, TypeError, "expected metric names"),
    ({"trial": lambda *, seed, level: {f"m{seed}": 1.0}}, ValueError, "trial: expected the same metrics"),
])
def test_run_bad_input(kwargs, error, message):
    args = {"trial": noisy_trial, "configs": {"a": {"level": 0.1}}, "seeds": [0, 1]} | kwargs
    with pytest.raises(error, match=message):
        experiments.run(args["trial"], args["configs"], seeds=args["seeds"])


RUNS = pd.DataFrame({"config": ["a", "a"], "seed": [0, 1], "acc": [0.8, 0.9]})


@pytest.mark.parametrize("args, kind, message", [
    ({"runs": RUNS.to_dict()}, TypeError, "runs: expected a pandas.DataFrame, got dict"),
    ({"runs": RUNS.drop(columns="seed")}, ValueError, "runs: expected a non-empty table with columns"),
    ({"runs": RUNS.iloc[:0]}, ValueError, "runs: expected a non-empty table .* and 0 rows"),
    ({"metrics": ["loss"]}, ValueError, r"metrics: expected names among \['acc'\], got \['loss'\]"),
    ({"metrics": []}, ValueError, "metrics: expected names among"),
    ({"metrics": "acc"}, TypeError, "metrics: expected a list or tuple of str, got str"),
    ({"metrics": [1]}, TypeError, r"metrics\[0\]: expected a str, got int"),
    ({"ddof": 2}, ValueError, "ddof: expected an int <= 1, got 2"),
    ({"ddof": 1.0}, TypeError, "ddof: expected an int, got float"),
])
def test_summarize_bad_input(args, kind, message):
    args = {"runs": RUNS} | args
    with pytest.raises(kind, match=message):
        experiments.summarize(args.pop("runs"), **args)


SUMMARY = pd.DataFrame({"acc_mean": [0.85], "acc_std": [0.07]}, index=["a"])


@pytest.mark.parametrize("args, kind, message", [
    ({"summary": SUMMARY.to_dict()}, TypeError, "summary: expected a pandas.DataFrame, got dict"),
    ({"metric": "loss"}, ValueError, "metric: expected a metric with _mean and _std columns .*'loss'"),
    ({"metric": 3}, TypeError, "metric: expected a str, got int"),
    ({"scale": "100"}, TypeError, "scale: expected a number, got str"),
    ({"scale": float("inf")}, ValueError, "scale: expected a finite number, got inf"),
    ({"scale": float("nan")}, ValueError, "scale: expected a number, got nan"),
    ({"decimals": -1}, ValueError, "decimals: expected an int >= 0, got -1"),
    ({"decimals": 1.5}, TypeError, "decimals: expected an int, got float"),
    ({"decimals": 10**12}, ValueError, "decimals: expected an int <= 17"),
])
def test_mean_std_bad_input(args, kind, message):
    args = {"summary": SUMMARY, "metric": "acc"} | args
    with pytest.raises(kind, match=message):
        experiments.mean_std(args.pop("summary"), args.pop("metric"), **args)


def test_select_best_against_hand_computation():
    correct = np.random.default_rng(5).random((6, 20)) < 0.6
    result = experiments.select_best(correct, n_select=8, n_candidates=4, seed=3)
    rng = np.random.default_rng(3)  # the same two draws, by hand
    candidates = rng.choice(6, size=4, replace=False)
    order = rng.permutation(20)
    chosen, fresh = order[:8], order[8:]
    scores = [correct[c, chosen].mean() for c in candidates]
    winner = candidates[int(np.argmax(scores))]
    assert result["selected"] == max(scores)
    assert result["fresh"] == correct[winner, fresh].mean()
    assert result["gap"] == result["selected"] - result["fresh"]
    assert result["oracle"] == max(correct[c, fresh].mean() for c in candidates)


def test_select_best_bias_only_with_a_choice():
    coins = np.random.default_rng(0).random((100, 400)) < 0.5  # candidates at chance
    one = [experiments.select_best(coins, n_select=100, n_candidates=1, seed=s)["gap"] for s in range(200)]
    many = [experiments.select_best(coins, n_select=100, seed=s)["gap"] for s in range(200)]
    assert abs(np.mean(one)) < 0.01  # a single look is unbiased
    assert np.mean(many) > 0.1  # the best of 100 coins looks far better than chance
    result = experiments.select_best(coins, n_select=100, seed=0)
    assert result["oracle"] >= result["fresh"]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"correct": np.ones((2, 5))}, ValueError, "correct: expected a non-empty boolean array"),
    ({"correct": np.ones(5, dtype=bool)}, ValueError, r"correct: expected .* got bool array of shape \(5,\)"),
    ({"correct": np.ones((0, 5), dtype=bool)}, ValueError, "correct: expected a non-empty"),
    ({"n_select": 5}, ValueError, "n_select: expected an int <= 4"),
    ({"n_select": 0}, ValueError, "n_select: expected an int >= 1"),
    ({"n_select": 2.0}, TypeError, "n_select: expected an int"),
    ({"n_candidates": 3}, ValueError, "n_candidates: expected an int <= 2"),
    ({"seed": -2}, ValueError, "seed: expected an int >= 0"),
])
def test_select_best_bad_input(kwargs, error, message):
    args = {"correct": np.ones((2, 5), dtype=bool), "n_select": 2, "n_candidates": None, "seed": 0} | kwargs
    with pytest.raises(error, match=message):
        experiments.select_best(args["correct"], n_select=args["n_select"],
                                n_candidates=args["n_candidates"], seed=args["seed"])
