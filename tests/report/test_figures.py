"""Figures: each returns a labelled Axes and saves to PNG and SVG."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from radscore.errors import DataError
from radscore.report import figures
from radscore.stats import NetBenefitResult, cox_multivariate, roc_auc_ci, survival_net_benefit


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 2, n)
    score = y + rng.normal(scale=0.9, size=n)
    prob = 1 / (1 + np.exp(-score))
    risk = rng.normal(size=n) - y
    t = rng.exponential(20 * np.exp(-risk))
    c = rng.uniform(5, 60, n)
    return pd.DataFrame({"y": y, "score": score, "prob": prob, "other": rng.uniform(size=n),
                         "time": np.minimum(t, c), "event": (t <= c).astype(int), "risk": risk,
                         "group": np.where(score > 0.5, "high", "low"), "age": rng.normal(60, 10, n)})


def _check(ax, tmp_path, name):
    import matplotlib.axes

    assert isinstance(ax, matplotlib.axes.Axes)
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip()
    assert ax.lines or ax.patches or ax.collections
    for fmt in ("png", "svg"):
        buf = io.BytesIO()
        ax.figure.savefig(buf, format=fmt, bbox_inches="tight")
        data = buf.getvalue()
        assert len(data) > 1000
        (tmp_path / f"{name}.{fmt}").write_bytes(data)
    assert data.lstrip().startswith(b"<?xml") and b"<svg" in data


def test_roc_legend_carries_auc_and_ci(cohort, tmp_path):
    ax = figures.plot_roc(cohort["y"], {"Radscore": cohort["score"], "Other": cohort["other"]})
    _check(ax, tmp_path, "roc")
    r = roc_auc_ci(cohort["y"], cohort["score"])
    text = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(f"AUC {r.auc:.2f} (95% CI {r.ci_low:.2f}-{r.ci_high:.2f})" in t for t in text)
    assert len(text) == 3


def test_pr(cohort, tmp_path):
    _check(figures.plot_pr(cohort["y"], cohort["score"]), tmp_path, "pr")


def test_calibration(cohort, tmp_path):
    _check(figures.plot_calibration(cohort["y"], cohort["prob"], bins=5), tmp_path, "cal")


def test_calibration_bins_with_no_or_only_events_draw():
    # Wilson's interval at 0/7 starts at 2.8e-17, above the proportion by rounding: the error
    # bar must not come out negative (it did: "'yerr' must not contain negative values")
    y = np.array([0] * 7 + [1] * 7 + [0, 1] * 4)
    p = np.r_[np.full(7, 0.05), np.full(7, 0.95), np.linspace(0.3, 0.7, 8)]
    ax = figures.plot_calibration(y, {"model": p}, bins=3)
    assert ax.get_lines()


def test_dca(cohort, tmp_path):
    ax = figures.plot_dca(cohort["y"], {"Radscore": cohort["prob"]}, np.arange(0, 0.9, 0.01))
    _check(ax, tmp_path, "dca")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Radscore", "Treat all", "Treat none"]


def test_survival_dca(cohort, tmp_path):
    risk_12 = 1 - np.exp(-12 / 20 * np.exp(cohort["risk"]))  # the simulated hazard's risk by 12
    res = survival_net_benefit(cohort["time"], cohort["event"], {"Cox": risk_12}, 12.0, np.arange(0, 0.9, 0.01))
    ax = figures.plot_survival_dca(res, labels={"Cox": "Cox, risk by 12"})
    _check(ax, tmp_path, "survival_dca")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Cox, risk by 12", "Treat all", "Treat none"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), res.table["Cox"])


def test_survival_dca_draws_the_result_it_is_given():
    # a result made by hand, with no data behind it to recompute from: drawn as it is, NaN as a gap
    table = pd.DataFrame({"threshold": [0.1, 0.2, 0.3], "m": [0.2, np.nan, 0.05], "all": [0.1, 0.0, -0.1],
                          "none": [0.0, 0.0, 0.0]})
    ax = figures.plot_survival_dca(NetBenefitResult(table=table, models=("m",), n=10, n_pos=3, horizon=12.0))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["m", "Treat all", "Treat none"]
    for line, column in zip(ax.lines, ["m", "all", "none"]):
        np.testing.assert_array_equal(line.get_xdata(), table["threshold"])
        np.testing.assert_array_equal(line.get_ydata(), table[column])  # NaN where NaN


def test_km_with_risk_table(cohort, tmp_path):
    ax = figures.plot_km(cohort["time"], cohort["event"], cohort["group"], risk_times=[0, 10, 20, 30])
    _check(ax, tmp_path, "km")
    texts = [t.get_text() for t in ax.texts]
    assert "Number at risk" in texts
    n_high = int((cohort["group"] == "high").sum())
    assert str(n_high) in texts  # everyone at risk at time 0
    assert any(t.startswith("Log-rank p") for t in texts)


def test_forest(cohort, tmp_path):
    res = cox_multivariate(cohort, "time", "event", ["risk", "age", "group"])
    ax = figures.plot_forest(res.table)
    _check(ax, tmp_path, "forest")
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["risk", "age", "group [low]"]
    with pytest.raises(DataError, match="columns"):
        figures.plot_forest(pd.DataFrame({"x": [1]}))


@pytest.mark.parametrize("kind", ["box", "violin"])
def test_score_by_group(cohort, tmp_path, kind):
    ax = figures.plot_score_by_group(cohort["score"], np.where(cohort["y"] == 1, "R", "NR"), kind=kind)
    _check(ax, tmp_path, f"box_{kind}")
    assert ax.get_title().startswith("Mann-Whitney p")


def test_waterfall(cohort, tmp_path):
    ax = figures.plot_waterfall(cohort["score"], cohort["y"], cutoff=0.5)
    _check(ax, tmp_path, "waterfall")
    heights = [p.get_height() for p in ax.patches[: len(cohort)]]
    assert heights == sorted(heights, reverse=True)


def test_draws_on_given_axes(cohort):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert figures.plot_roc(cohort["y"], cohort["score"], ax=ax) is ax


def test_same_input_same_svg_bytes(cohort):
    for fmt in ("svg", "png"):
        a = figures.figure_bytes(figures.plot_roc(cohort["y"], cohort["score"]).figure, fmt)
        b = figures.figure_bytes(figures.plot_roc(cohort["y"], cohort["score"]).figure, fmt)
        assert a == b, fmt
