"""Generation efficiency tables (rewild.efficiency) as the paper comparison and archive verify read them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rewild import efficiency, paper


def _record(path: Path, dgm: str, shard: str, conversations: int, seconds: float) -> str:
    """One results/efficiency/{dgm}/{shard}.json as rewild.generate writes it (engine settings nested)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "dgm": dgm, "shard": shard, "n_conversations": conversations, "input_tokens": 812 * conversations,
        "output_tokens": 173 * conversations, "wall_seconds": seconds, "params_b": None,
        "engine": {"max_model_len": 2048, "tensor_parallel_size": 1},
    }))
    return str(path)


def test_one_generated_dgm_writes_a_header_only_correlation_table(tmp_path: Path) -> None:
    """config/mini.yaml generates with one DGM: nothing to correlate, yet the CSV is a table pandas reads (it was an
    empty file, and paper_comparison stopped with pandas' EmptyDataError)."""
    eff_dir = tmp_path / "results" / "efficiency" / "tiny-random"
    paths = [_record(eff_dir / "s00000.json", "tiny-random", "s00000", 12, 3.0),
             _record(eff_dir / "s00001.json", "tiny-random", "s00001", 5, 1.5)]
    table_csv, corr_csv = tmp_path / "efficiency.csv", tmp_path / "efficiency_correlations.csv"
    efficiency.run_efficiency(paths, {"tiny-random": {"params_b": None}}, table_csv, corr_csv, tmp_path / "eff.png")

    corr = pd.read_csv(corr_csv)
    assert list(corr.columns) == list(efficiency.CORRELATION_COLUMNS) and corr.empty
    ours = paper.ours_from_efficiency(pd.read_csv(table_csv), corr)
    assert ours["metric"].tolist() == ["tok_s"]  # the one DGM's throughput; no io-ratio spread, no correlations
    assert ours["value"].item() == pytest.approx((812 + 173) * 17 / 4.5)


def test_correlations_have_the_same_columns_with_two_dgms_or_more() -> None:
    table = pd.DataFrame({"context_x_params": [2048 * 7.0, 8192 * 70.0, 4096 * 8.0],
                          "sec_per_1k_conv": [40.0, 300.0, 55.0], "tok_s": [2500.0, 400.0, 2100.0]})
    corr = efficiency.efficiency_correlations(table).set_index("metric")
    assert list(corr.reset_index().columns) == list(efficiency.CORRELATION_COLUMNS)
    assert corr.loc["time", "spearman"] == pytest.approx(1.0) and corr.loc["tok_s", "spearman"] == pytest.approx(-1.0)
    assert efficiency.efficiency_correlations(table.iloc[:1]).empty
