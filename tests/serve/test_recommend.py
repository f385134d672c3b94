"""`recsys recommend` and `recsys publish` on the small trained demo night."""

from __future__ import annotations

import shutil
import stat
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline.core.config import Settings
from pipeline.core.errors import RecsysError
from pipeline.core.run_date import resolve_run_date
from pipeline.serve.publish import publish
from pipeline.serve.recommend import recommend
from tests.conftest import Night

TOP_N = 10


def copy_home(night: Night, dest: Path) -> Settings:
    """A private copy of the trained home (warehouse, MLflow and its artifacts)."""
    shutil.copytree(night.settings.home, dest)
    return Settings(home=dest, landing=night.settings.landing_dir)


def rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def served(trained_night: Night, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    settings = copy_home(trained_night, tmp_path_factory.mktemp("served") / "home")
    return settings, recommend(settings, resolve_run_date(settings), TOP_N)


def test_every_active_user_gets_exactly_top_n_new_released_items(served: tuple) -> None:
    settings, summary = served
    (active,) = rows(settings, "select count(distinct user_id) from marts.fct_interactions")[0]
    assert summary["active_users"] == active
    per_user = rows(
        settings,
        "select user_id, count(*), list(rank order by rank) from marts.recommendations "
        "group by user_id",
    )
    assert len(per_user) == active
    assert {(n, tuple(r)) for _, n, r in per_user} == {(TOP_N, tuple(range(1, TOP_N + 1)))}
    (seen,) = rows(
        settings,
        "select count(*) from marts.recommendations r join marts.fct_interactions f "
        "using (user_id, item_id)",
    )[0]
    assert seen == 0
    (not_recommendable,) = rows(
        settings,
        "select count(*) from marts.recommendations r left join marts.dim_items i using (item_id) "
        "where i.item_id is null or not i.is_released",
    )[0]
    assert not_recommendable == 0
    (duplicates,) = rows(
        settings,
        "select count(*) from (select user_id, item_id from marts.recommendations "
        "group by all having count(*) > 1)",
    )[0]
    assert duplicates == 0


def test_cold_items_are_recommended_and_explanations_come_from_history(served: tuple) -> None:
    settings, summary = served
    (cold,) = rows(
        settings,
        "select count(distinct item_id) from marts.recommendations "
        "where item_id not in (select item_id from marts.fct_interactions)",
    )[0]
    assert cold > 0 and summary["cold_item_share"] > 0
    (unexplained,) = rows(
        settings,
        "select count(*) from marts.recommendations r where not exists (select 1 from "
        "marts.fct_interactions f where f.user_id = r.user_id and f.item_id = r.because_item_id)",
    )[0]
    assert unexplained == 0
    (versions,) = rows(settings, "select list(distinct model_version) from marts.recommendations")[
        0
    ]
    assert versions == [summary["model_version"]]


def test_similar_users_never_list_the_user_themself(served: tuple) -> None:
    settings, _ = served
    (selfish, total) = rows(
        settings,
        "select count(*) filter (where user_id = similar_user_id), count(*) from marts.similar_users",
    )[0]
    assert selfish == 0 and total > 0


def test_a_rerun_replaces_the_date_and_two_dates_coexist(served: tuple) -> None:
    settings, _ = served
    day = resolve_run_date(settings)
    query = "select * from marts.recommendations where run_date = ? order by user_id, rank"
    before = rows(settings, query, [day])
    recommend(settings, day, TOP_N)
    assert rows(settings, query, [day]) == before
    recommend(settings, day + timedelta(days=1), TOP_N)
    dates = rows(
        settings, "select run_date, count(*) from marts.recommendations group by 1 order by 1"
    )
    assert [(d, n) for d, n in dates] == [
        (day, len(before)),
        (day + timedelta(days=1), len(before)),
    ]
    # Retention: 30 days after the second night, the first one is gone.
    recommend(settings, day + timedelta(days=31), TOP_N)
    kept = [
        d
        for (d,) in rows(settings, "select distinct run_date from marts.recommendations order by 1")
    ]
    assert kept == [day + timedelta(days=1), day + timedelta(days=31)]


def test_a_failure_after_a_partial_write_leaves_the_previous_night(
    trained_night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = copy_home(trained_night, tmp_path / "home")
    day = resolve_run_date(settings)
    recommend(settings, day, TOP_N)
    query = "select * from marts.recommendations order by run_date, user_id, rank"
    before = rows(settings, query), rows(settings, "select * from marts.similar_users order by all")

    def crash(*args: object) -> None:
        raise RuntimeError("injected: the disk filled up after the recommendations were written")

    monkeypatch.setattr("pipeline.serve.recommend.insert_similar_users", crash)
    with pytest.raises(RuntimeError, match="injected"):
        recommend(settings, day, 5)  # a different top_n: the rows would differ
    after = rows(settings, query), rows(settings, "select * from marts.similar_users order by all")
    assert after == before


def test_without_a_champion_recommend_says_what_to_do(
    embedded_night: Night, tmp_path: Path
) -> None:
    from tests.conftest import night_home

    settings = night_home(embedded_night, tmp_path / "home")
    with pytest.raises(RecsysError, match=r"no `champion` version.*run `recsys train`"):
        recommend(settings, resolve_run_date(settings))


def test_publish_swaps_in_a_copy_while_a_reader_holds_the_old_one(served: tuple) -> None:
    settings, _ = served
    day = resolve_run_date(settings)
    first = publish(settings, day)
    assert first["tables"]["main.recommendations_latest"] > 0
    reader = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        old = reader.execute("select count(*) from analytics.recommendations_latest").fetchall()
        # The nightly writer goes on: a new night is scored and published under the reader.
        recommend(settings, day + timedelta(days=40), 3)
        publish(settings, day + timedelta(days=40))
        assert reader.execute("select count(*) from recommendations_latest").fetchall() == old
    finally:
        reader.close()
    fresh = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        (ranks,) = fresh.execute("select max(rank) from recommendations_latest").fetchall()[0]
        assert ranks == 3  # the new night, top 3
        stats = fresh.execute(
            "select run_date, users_served, catalogue_coverage, cold_item_share, "
            "mean_intra_list_diversity, model_version from recommendation_daily_stats order by 1"
        ).fetchall()
        assert len(stats) >= 2
        assert all(0 < s[2] <= 1 and 0 <= s[3] <= 1 and s[4] is not None for s in stats)
        titled = fresh.execute(
            "select count(*) from recommendations_latest where item_title is null "
            "or because_item_title is null"
        ).fetchall()[0][0]
        assert titled == 0
        (similar_self,) = fresh.execute(
            "select count(*) from similar_users_latest where user_id = similar_user_id"
        ).fetchall()[0]
        assert similar_self == 0
    finally:
        fresh.close()
    assert not list(settings.published_path.parent.glob(".publishing-*"))
    assert stat.S_IMODE(settings.published_path.stat().st_mode) == 0o444  # analysts only read


def test_dbt_docs_generate_documents_the_analyst_models(served: tuple) -> None:
    import json

    from pipeline.clean.dbt import run_dbt

    settings, _ = served
    day = resolve_run_date(settings)
    publish(settings, day)
    run_dbt(settings, ["docs", "generate"], day)
    catalog = json.loads((settings.dbt_target_dir / "catalog.json").read_text())
    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    for model in ("recommendations_latest", "recommendation_daily_stats", "similar_users_latest"):
        assert f"model.recsys.{model}" in catalog["nodes"]
        assert manifest["nodes"][f"model.recsys.{model}"]["description"]
    assert {
        "exposure.recsys.morning_recommendations_review",
        "exposure.recsys.people_like_you",
    } <= set(manifest["exposures"])


def test_an_older_run_date_sees_only_its_own_events_and_catalogue(
    served: tuple, tmp_path: Path
) -> None:
    from pipeline.learn.data.snapshot import Snapshot, export_snapshot

    settings, _ = served
    day = resolve_run_date(settings) - timedelta(days=3)
    snapshot = Snapshot.load(export_snapshot(settings, day, tmp_path / "older"))
    assert snapshot.events["event_s"].max() < snapshot.run_end
    later = snapshot.items["release_s"] >= snapshot.run_end
    assert later.any() and not snapshot.items.loc[later, "is_released"].any()


def test_a_champion_refuses_vectors_of_another_embedding_model(served: tuple) -> None:
    from pipeline.learn.data.snapshot import Snapshot
    from pipeline.serve.recommend import export_scoring_data
    from pipeline.train.registry import load_champion

    settings, _ = served
    bundle, _ = load_champion(settings)
    # exported again: a publish for a later date may have retired this date's work folder
    snapshot = Snapshot.load(export_scoring_data(settings, resolve_run_date(settings)))
    snapshot.embedding_model = "some-other-model@abc:mean"
    with pytest.raises(RecsysError, match="retrain"):
        bundle.served(snapshot, snapshot.events)


def test_the_served_pyfunc_scores_exactly_what_the_night_ranked(served: tuple) -> None:
    """`models:/recsys_mtl@champion` loaded as any MLflow client would: for a sample of users,
    its `score` of every unseen released item puts the night's ten rows on top, with the
    night's scores (the towers and every score term, not the towers alone)."""
    settings, _ = served
    day = resolve_run_date(settings)  # the champion's own night, written again (retention)
    recommend(settings, day, TOP_N)
    query = "select distinct user_id from marts.recommendations where run_date = ?"
    users = sorted(u for (u,) in rows(settings, query, [day]))
    assert_the_pyfunc_ranks_like_the_night(settings, day, users[:: max(1, len(users) // 40)][:40])


def assert_the_pyfunc_ranks_like_the_night(settings: Settings, day: date, users: list[str]) -> None:
    """For each of `users`: the champion pyfunc's scores of the night's rows (run date `day`,
    the night it was trained on) are the rows' scores, and no other unseen released item
    scores above the tenth."""
    import mlflow
    import numpy as np
    import pandas as pd

    from pipeline.train.registry import use_tracking

    use_tracking(settings)
    model = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}@champion")
    released = [
        i for (i,) in rows(settings, "select item_id from marts.dim_items where is_released")
    ]
    for user in users:
        night = rows(
            settings,
            "select item_id, score from marts.recommendations "
            "where user_id = ? and run_date = ? order by rank",
            [user, day],
        )
        seen = {
            i
            for (i,) in rows(
                settings, "select item_id from marts.fct_interactions where user_id = ?", [user]
            )
        }
        candidates = [i for i in released if i not in seen]
        frame = pd.DataFrame({"user_id": user, "item_id": candidates})
        scores = dict(zip(candidates, model.predict(frame)["score"].to_numpy(), strict=True))
        listed = [i for i, _ in night]
        np.testing.assert_allclose([scores[i] for i in listed], [s for _, s in night], rtol=1e-6)
        tenth = min(s for _, s in night)
        above = [i for i in candidates if i not in listed and scores[i] > tenth + 1e-6 * abs(tenth)]
        assert not above, (user, above)
