"""`recsys import amazon SRC DEST`: an Amazon reviews category as preprocessed for leave-one-out
evaluation (the layout public sequential-recommendation code shares).

The folder holds `train.csv` (every event but each user's last two), `dev.csv` (each user's second
last) and `test.csv` (each user's last), tab-separated `user_id item_id time` (unix seconds; `dev`
and `test` add a `neg_items` list for sampled evaluation, which is not read), `<Name>.text`
(`id<TAB>text`: the product's title, category and brand in one line) and `<Name>.item2index`
(`ASIN<TAB>item_id`).

Events are implicit (a review says the product was bought; its stars are not in this layout).
Items keep their ASIN as id and the whole text line as title. Users have no text. By default
`train` and `dev` are landed and `test` is left out: it is the held-out truth a benchmark scores
the served lists against (`--with-test` lands it too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.errors import RecsysError
from pipeline.landing.importers.common import (
    read_delimited,
    require_file,
    unix_to_iso,
    write_landing,
)

NAME = "Amazon reviews (leave-one-out layout)"
HISTORY_FILES = ("train.csv", "dev.csv")
TRUTH_FILE = "test.csv"


def _one(folder: Path, suffix: str) -> Path:
    found = sorted(folder.glob(f"*{suffix}"))
    if len(found) != 1:
        raise RecsysError(
            f"{folder} should hold exactly one *{suffix} file, found {len(found)}: is it an "
            f"{NAME} folder?"
        )
    return found[0]


def read_events(path: Path) -> list[tuple[str, str, str]]:
    """(user_id, item index, unix seconds) of one of the split files, in file order."""
    out = []
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        if header[:3] != ["user_id", "item_id", "time"]:
            raise RecsysError(f"{path}: expected the header user_id, item_id, time; got {header}")
        for lineno, line in enumerate(handle, start=2):
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) < 3:
                raise RecsysError(f"{path}:{lineno}: malformed line, expected at least 3 fields")
            out.append((parts[0], parts[1], parts[2]))
    return out


def import_amazon(src: Path, dest: Path, *, with_test: bool = False) -> dict[str, Any]:
    if not src.is_dir():
        raise RecsysError(f"{src} is not a folder")
    asin_of = {
        index: asin
        for _, (asin, index) in read_delimited(_one(src, ".item2index"), sep="\t", fields=2)
    }
    text_of = {
        asin: " ".join(text.split())
        for _, (asin, text) in read_delimited(_one(src, ".text"), sep="\t", fields=2, header=True)
    }
    files = (*HISTORY_FILES, *((TRUTH_FILE,) if with_test else ()))
    events = []
    for name in files:
        for user, index, seconds in read_events(require_file(src, name, NAME)):
            # an index missing from item2index is kept as it is: ingest quarantines its events
            item = asin_of.get(index, index)
            events.append(
                {"user_id": user, "item_id": item, "event_ts": unix_to_iso(seconds), "rating": ""}
            )
    items = [{"item_id": asin, "title": text_of.get(asin, "")} for asin in asin_of.values()]
    users = [{"user_id": u} for u in dict.fromkeys(e["user_id"] for e in events)]
    return write_landing(
        dest,
        source=f"amazon-loo:{src.name}",
        src=src,
        tables={
            "users": (users, ["user_id"]),
            "items": (items, ["item_id", "title"]),
            "interactions": (events, ["user_id", "item_id", "event_ts", "rating"]),
        },
        notes={"landed": list(files), "held_out": [] if with_test else [TRUTH_FILE]},
    )
