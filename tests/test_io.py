"""rewild.io helpers that every stage relies on: the provenance sidecar of derived tables."""

from __future__ import annotations

import hashlib
import json

from rewild import io as rio


def test_derived_provenance_names_every_file_and_hashes_small_ones(tmp_path, monkeypatch):
    small, big, table = tmp_path / "a.json", tmp_path / "gen.parquet", tmp_path / "t.csv"
    small.write_text('{"score": 1}')
    big.write_bytes(b"x" * 2048)
    table.write_text("model,score\nm,1\n")
    monkeypatch.setattr(rio, "HASHED_INPUT_LIMIT", 1024)  # `big` stands for a generations parquet of GBs
    params = {"k": 4, "seed": 7, "tasks": {"t": {"metric": "acc"}}}
    rec = rio.write_derived_provenance(tmp_path / "p.json", [small, big], [table], params, started="2026-01-01")
    assert json.loads((tmp_path / "p.json").read_text()) == json.loads(json.dumps(rec, default=str))
    assert rec["inputs"][str(small)] == {"bytes": small.stat().st_size,
                                         "sha256": hashlib.sha256(small.read_bytes()).hexdigest()}
    assert rec["inputs"][str(big)] == {"bytes": 2048, "sha256": None}
    assert rec["outputs"][str(table)]["sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    prov = rec["provenance"]
    assert prov["seeds"] == {"seed": 7} and prov["started"] == "2026-01-01" and prov["ended"] >= "2026"
    other = rio.write_derived_provenance(tmp_path / "q.json", [small], [table], {**params, "k": 5}, started="x")
    assert other["provenance"]["config_hash"] != prov["config_hash"]  # a changed setting shows in the hash
