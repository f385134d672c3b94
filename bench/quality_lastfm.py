"""HetRec 2011 Last.fm: the interaction and social tasks, multi-task vs single-task.

    .venv/bin/python bench/quality_lastfm.py [--seeds 42] [--architectures shared_bottom,mmoe]
        [--no-control]

Plays are implicit (no rating task). The importer's event times come from tag dates, so a random
split is used: a seeded 20% of each user's artists held out (validation: 20% of the rest), and 10%
of the friend pairs. For each architecture the multi-task model (interaction + social, the night's
weights); for the first one also each task alone with the same budget (the single-task control),
scored on the same holdout; popularity and content for the interaction task, friend-count popularity and profile
similarity for the social task, and EASE, ItemKNN (each also from a recency-weighted history)
and iALS, in the same run (17,632 artists: EASE runs up to 20,000 items). `--no-control` skips
the single-task control (three more fits). Results: bench/results/quality_lastfm.md.
"""

from __future__ import annotations

from dataclasses import replace

from quality_common import (
    data_folder,
    dataset_night,
    exam_of,
    friend_holdout,
    goal_verdicts,
    imported,
    judged,
    median,
    model_config,
    multi_vs_single_rows,
    parser,
    per_user_holdout,
    sasrec_row,
    sasrec_verdict,
    setup_logging,
    split_of,
    table,
    textless,
    write_results,
)

from pipeline.evaluate.baseline_registry import baseline_metrics

SHOWN = ("recall_at_10", "ndcg_at_10", "coverage_at_10", "interaction_auc", "social_recall_at_10")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seeds", default="42")
    p.add_argument("--architectures", default="shared_bottom,mmoe")
    p.add_argument("--no-control", action="store_true", help="skip the single-task control")
    args = p.parse_args()
    setup_logging()
    src = data_folder("hetrec2011-lastfm-2k")
    snapshot = dataset_night("lastfm", imported("lastfm", src), args.work, fresh=args.fresh)
    train, holdout = per_user_holdout(snapshot.events, 0.2, by_time=False, seed=1)
    fit_part, val = per_user_holdout(train, 0.2, by_time=False, seed=2)
    friends_train, friends_holdout = friend_holdout(snapshot.friends, 0.1, seed=3)
    split = split_of(train, holdout, friends_train, friends_holdout)
    tuning = split_of(fit_part, val, friends_train)
    exam, tuning_exam = exam_of(snapshot, split, 42), exam_of(snapshot, tuning, 42)
    print(
        f"{len(train)} train, {len(holdout)} holdout plays; {len(friends_train)} / "
        f"{len(friends_holdout)} friend pairs; {exam.evaluable_users} users",
        flush=True,
    )
    base = baseline_metrics(snapshot, split, exam, seed=42, tuning=(tuning, tuning_exam))
    rows, deltas = [], []
    archs = args.architectures.split(",")
    # the first architecture again with the text vectors withheld: what the text buys
    ablation = [] if args.no_ablation else [(archs[0], textless(snapshot))]
    for arch, night in [*((a, snapshot) for a in archs), *ablation]:
        runs = []
        for seed in (int(s) for s in args.seeds.split(",")):
            cfg = model_config(seed=seed, max_epochs=args.max_epochs)
            cfg = replace(cfg, model={**cfg.model, "architecture": arch})
            control = not rows and not args.no_control  # for the first configuration
            runs.append(judged(night, cfg, split, tuning, exam, single_task=control))
            print(f"  {arch} seed {seed}: {runs[-1]}", flush=True)
        label = f"model {arch}" + (", no text" if night is not snapshot else "")
        middle = {k: median(r[k] for r in runs) for k in runs[0]}
        rows.append(
            {
                "ranker": label,
                **{m: middle.get(m) for m in SHOWN},
                "seconds": middle["seconds"],
                "epochs": middle["epochs"],
            }
        )
        deltas += multi_vs_single_rows(label, middle)
    names = (
        "popularity",
        "content",
        "content_recent",
        "ease",
        "ease_recent",
        "itemknn",
        "itemknn_recent",
        "mf",
    )
    ran = [n for n in names if f"baseline_{n}_ndcg_at_10" in base]
    for name in ran:
        rows.append({"ranker": name, **{m: base.get(f"baseline_{name}_{m}") for m in SHOWN}})
    goals = [("ndcg_at_10", ran), ("recall_at_10", ran)]
    goals += [("social_recall_at_10", ["popularity", "content"])]
    verdicts = []
    for r in rows[: len(args.architectures.split(","))]:
        verdicts += [f"- {r['ranker']}:", *goal_verdicts(r, base, goals)]
    if not args.no_sasrec:
        sequential = sasrec_row(snapshot, split, exam, tuning, tuning_exam, SHOWN)
        rows.append(sequential)
        verdicts.append(sasrec_verdict(rows[0], sequential))
    lines = [
        f"{len(snapshot.users)} users, {len(snapshot.items)} artists, {len(snapshot.events)} "
        f"plays, {len(snapshot.friends)} friend pairs; seeds {args.seeds} (medians).",
        "",
        "## Every ranker",
        "",
        table(rows),
        "",
        *verdicts,
        "",
        "## Multi-task vs each task alone (same budget, same holdout)",
        "",
        table(deltas) if deltas else "Not run (`--no-control`).",
    ]
    write_results("quality_lastfm", "Last.fm: interaction and social, multi- vs single-task", lines)


if __name__ == "__main__":
    main()
