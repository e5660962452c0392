"""Compressed snapshots of a benchmark's SQLite store, so that a measurement that outlasts one
machine resumes on the next from what is committed (the stores themselves live outside the
repository; validations, evaluations and selection test runs are what costs hours).

    python benchmarks/store_snapshot.py save STORE.db benchmarks/stores/lite_ensemble.db.xz
    python benchmarks/store_snapshot.py restore benchmarks/stores/lite_ensemble.db.xz STORE.db

`save` copies the store consistently while it may be in use (SQLite's VACUUM INTO) and
compresses it with xz; `restore` refuses to overwrite an existing store. The benchmarks take
`--resume-from SNAPSHOT`: when their `--db` does not exist yet, it is restored from there first.
"""

from __future__ import annotations

import argparse
import lzma
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path


class SnapshotError(Exception):
    pass


def save(db: Path, snapshot: Path) -> int:
    """Writes `db` compressed to `snapshot`; returns the snapshot's size in bytes."""
    if not db.is_file():
        raise SnapshotError(f"no SQLite store at {db}")
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "copy.db"
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
                connection.execute("VACUUM INTO ?", (str(copy),))
        except sqlite3.Error as error:
            raise SnapshotError(f"could not copy {db}: {error}") from None
        partial = snapshot.with_name(snapshot.name + ".partial")
        with copy.open("rb") as source, lzma.open(partial, "wb", preset=6) as target:
            shutil.copyfileobj(source, target, 1 << 20)
        partial.replace(snapshot)  # a crash mid-write leaves the old snapshot whole
    return snapshot.stat().st_size


def restore(snapshot: Path, db: Path) -> None:
    """Decompresses `snapshot` into a new store at `db`."""
    if db.exists():
        raise SnapshotError(f"{db} exists: restore writes only a new store")
    if not snapshot.is_file():
        raise SnapshotError(f"no snapshot at {snapshot}")
    db.parent.mkdir(parents=True, exist_ok=True)
    partial = db.with_name(db.name + ".partial")
    try:
        with lzma.open(snapshot, "rb") as source, partial.open("wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
    except (lzma.LZMAError, EOFError) as error:
        partial.unlink(missing_ok=True)
        raise SnapshotError(f"{snapshot} is not an xz snapshot: {error}") from None
    with sqlite3.connect(partial) as connection:
        if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            partial.unlink(missing_ok=True)
            raise SnapshotError(f"{snapshot} holds a damaged store")
    partial.replace(db)


def resume_from(snapshot: str | None, db: str) -> None:
    """For the benchmarks' --resume-from: restore only when the store is not there yet."""
    if snapshot and "://" not in db and not Path(db).exists():
        restore(Path(snapshot), Path(db))
        print(f"restored {db} from {snapshot}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    saving = commands.add_parser("save", help="compress a store into a snapshot")
    saving.add_argument("db", type=Path)
    saving.add_argument("snapshot", type=Path)
    restoring = commands.add_parser("restore", help="a new store from a snapshot")
    restoring.add_argument("snapshot", type=Path)
    restoring.add_argument("db", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            size = save(args.db, args.snapshot)
            print(f"wrote {args.snapshot} ({size / 1e6:.1f} MB)")
        else:
            restore(args.snapshot, args.db)
            print(f"restored {args.db}")
    except SnapshotError as error:
        print(f"store_snapshot: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
