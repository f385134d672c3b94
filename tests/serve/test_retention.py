"""Work-folder retention: the run date decides which exports are old, never the clock."""

from __future__ import annotations

from datetime import date

from pipeline.core.config import Settings
from pipeline.serve.retention import prune_work_folders


def test_folders_older_than_the_retention_go_and_others_stay(tmp_path) -> None:
    settings = Settings(home=tmp_path, work={"retention_days": 7})
    for root in ("train", "score", "embeddings"):
        for day in ("2026-11-01", "2026-11-19", "2026-11-20", "2026-11-27", "2026-12-30"):
            (tmp_path / root / day).mkdir(parents=True)
            (tmp_path / root / day / "users.parquet").write_bytes(b"x")
    (tmp_path / "train" / "notes").mkdir()  # not a run date's folder: not ours
    (tmp_path / "landing" / "2026-01-01").mkdir(parents=True)  # not a work folder

    pruned = prune_work_folders(settings, date(2026, 11, 27))

    assert sorted(pruned) == sorted(
        str(tmp_path / root / day)
        for root in ("train", "score", "embeddings")
        for day in ("2026-11-01", "2026-11-19")
    )
    left = sorted(p.name for p in (tmp_path / "train").iterdir())
    assert left == ["2026-11-20", "2026-11-27", "2026-12-30", "notes"]
    assert (tmp_path / "landing" / "2026-01-01").is_dir()
    assert prune_work_folders(settings, date(2026, 11, 27)) == []
