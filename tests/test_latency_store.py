"""The latency store: concurrent writers, a writer killed mid-transaction, tables that travel
between machines, where the store lives, and files that are not a store."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest

from nasc.latency.exchange import TableError
from nasc.latency.records import RowError, StoredLatency, TimingProtocol
from nasc.latency.store import SCHEMA_VERSION, LatencyStore, LatencyStoreError, store_path

HOST = "x86_64-linux-gnu; Test CPU @ 1.00GHz; 2 cores"
PROTOCOL = TimingProtocol(warmup=10, repeats=30, batch=1, threads=2, number=10)
VERSIONS = {"nasc": "0.1.0", "onnxruntime": "1.32.0"}
SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing inherited from the test process


def kernels(prefix: str, indices: Iterable[int], **over: Any) -> Iterator[StoredLatency]:
    """Kernel records keyed ``prefix-i`` with distinct, awkward latencies."""
    for i in indices:
        fields: dict[str, Any] = dict(kind="kernel", target="cpu", backend="onnxruntime", precision="fp32",
                                      key=f"{prefix}-{i}", median_ms=0.1 + i / 7, p90_ms=0.3 + i / 7,
                                      protocol=PROTOCOL, versions=VERSIONS, host=HOST)
        fields.update(over)
        yield StoredLatency(**fields)


def arch_key(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def count(path: Path) -> int:
    with LatencyStore(path, create=False) as store:
        return sum(n for *_, n in store.counts())


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from nasc.cli import main  # here, not at the top: spawned workers import this module and need no CLI

    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ---- many processes at once -------------------------------------------------------------------

def write_many(path: str, worker: int, start: Any, results: Any) -> None:
    """One of several processes started together: 1,000 records in 100 transactions, reading between them."""
    try:
        start.wait()
        with LatencyStore(path) as store:
            for batch in range(100):
                store.put(kernels(f"w{worker}", range(batch * 10, batch * 10 + 10)))
                store.keys("kernel", "cpu", "onnxruntime", "fp32")
        results.put((worker, "ok"))
    except BaseException as err:  # reported to the parent, which asserts on it
        results.put((worker, f"{type(err).__name__}: {err}"))


def test_four_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"  # created by whichever worker comes first
    start, results = SPAWN.Barrier(4), SPAWN.Queue()
    procs = [SPAWN.Process(target=write_many, args=(str(path), w, start, results)) for w in range(4)]
    for p in procs:
        p.start()
    outcome = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert outcome == {w: "ok" for w in range(4)}, outcome
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with LatencyStore(path) as store:
        expected = {f"w{w}-{i}" for w in range(4) for i in range(1000)}
        assert store.keys("kernel", "cpu", "onnxruntime", "fp32") == expected
        assert store.counts() == [("cpu", "onnxruntime", "fp32", "kernel", 4000)]


def open_new(path: str, start: Any, results: Any) -> None:
    """One of several processes opening the same new store at the same instant."""
    try:
        start.wait()
        with LatencyStore(path):
            pass
        results.put("ok")
    except BaseException as err:
        results.put(f"{type(err).__name__}: {err}")


def test_processes_creating_one_store_together_all_open_it(tmp_path: Path) -> None:
    """The first opener switches a new file to WAL under an exclusive lock, which SQLite
    reports to the others at once (no busy wait): they must wait, not fail."""
    fork = multiprocessing.get_context("fork")  # started in milliseconds: they really meet
    for trial in range(8):
        path = tmp_path / f"new{trial}.sqlite"
        start, results = fork.Barrier(6), fork.Queue()
        procs = [fork.Process(target=open_new, args=(str(path), start, results)) for _ in range(6)]
        for p in procs:
            p.start()
        outcome = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        assert outcome == ["ok"] * 6, outcome


# ---- a writer killed mid-transaction ----------------------------------------------------------

def die_mid_transaction(path: str, ready: Any) -> None:
    """Commit 200 records, then hold a transaction of 20,000 more open until killed."""
    with LatencyStore(path) as store:
        for batch in range(20):
            store.put(kernels("done", range(batch * 10, batch * 10 + 10)))

        def pending() -> Iterator[StoredLatency]:
            yield from kernels("pending", range(20_000))
            ready.set()
            time.sleep(300)

        store.put(pending())


def test_sigkill_mid_transaction_keeps_every_committed_record(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    ready = SPAWN.Event()
    child = SPAWN.Process(target=die_mid_transaction, args=(str(path), ready))
    child.start()
    try:
        assert ready.wait(timeout=120), "the writer never reached its open transaction"
        assert Path(f"{path}-wal").stat().st_size > 1_000_000, "the open transaction never reached the WAL"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    with LatencyStore(path, busy_timeout_s=2) as store:
        assert store.keys("kernel", "cpu", "onnxruntime", "fp32") == {f"done-{i}" for i in range(200)}
        assert store.put(kernels("after", range(3))) == 3  # the dead writer's lock is gone
    assert count(path) == 203


# ---- tables between machines ------------------------------------------------------------------

def varied() -> list[StoredLatency]:
    """Records that exercise every column: both kinds, every source, floats that print long,
    a non-ASCII host, empty versions, a time given with another UTC offset."""
    odd = TimingProtocol(warmup=0, repeats=1, batch=64, threads=1)
    return [*kernels("k", range(3)),
            *kernels("fp16", [5], precision="fp16", median_ms=0.1 + 0.2, p90_ms=1e-9 + 0.30000000000000004),
            StoredLatency("arch", "jetson-orin-nano", "tensorrt", "int8", arch_key("a"), 1.5, 1.5, odd, {},
                          source="rpc", host="aarch64-linux-gnu; Cortex-A78AE ×6; 6 cores",
                          created="2025-06-01T14:00:00.5+02:00"),
            StoredLatency("arch", "cpu", "tvm", "fp32", arch_key("b"), 123456.789, 2e5, PROTOCOL,
                          {"apache-tvm": "0.27.0"}, source="recorded", host=HOST),
            *kernels("beside", [1], protocol=BESIDE, reference_ms=0.0451, over_reference=1 / 3)]


BESIDE = TimingProtocol(warmup=10, repeats=30, batch=1, threads=1, number=10, beside="bench_reference:59277a670d94")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_import_round_trips_exactly(tmp_path: Path, fmt: str) -> None:
    first, table, again = tmp_path / "a.sqlite", tmp_path / f"table.{fmt}", tmp_path / f"again.{fmt}"
    with LatencyStore(first) as store:
        assert store.put(varied()) == 7
        assert store.export(table, fmt) == 7
        original = list(store.query())
    with LatencyStore(tmp_path / "b.sqlite") as store:
        result = store.import_(table)
        assert (result.rows, result.added) == (7, 7)
        assert list(store.query()) == original
        assert store.export(again, None) == 7
        again_result = store.import_(table)  # the same file twice: nothing new
        assert (again_result.added, again_result.present) == (0, 7)
        assert len(list(store.query())) == 7
        (paired,) = store.query(beside=BESIDE.beside)
        assert (paired.reference_ms, paired.over_reference, paired.protocol) == (0.0451, 1 / 3, BESIDE)
        assert {r.key for r in store.query(beside="")} == {r.key for r in original} - {paired.key}
    assert again.read_bytes() == table.read_bytes()
    assert [r.created for r in original if r.target == "jetson-orin-nano"] == ["2025-06-01T12:00:00.500000+00:00"]


def test_export_of_one_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.sqlite"
    with LatencyStore(db) as store:
        store.put(varied())
    code, out, err = run_cli(["latency", "export", str(tmp_path / "t.jsonl"), "--target", "jetson-orin-nano",
                              "--latency-db", str(db)], capsys)
    assert code == 0, err
    assert out.startswith("exported 1 records")
    assert '"target": "jetson-orin-nano"' in (tmp_path / "t.jsonl").read_text()


BAD_ROWS = {  # format -> (what line 4 of a valid export holds, made wrong how, the message expected)
    "csv": ("k-2", (f",{0.1 + 2 / 7!r},", ",fast,"), "median_ms: expected a number of milliseconds, got 'fast'"),
    "jsonl": ("k-3", ('"fp32"', '"fp33"'), "precision: expected one of fp32, fp16, bf16, int8, got 'fp33'"),
}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_bad_row_is_reported_by_line_and_nothing_is_imported(tmp_path: Path, fmt: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    source, table, target = tmp_path / "src.sqlite", tmp_path / f"t.{fmt}", tmp_path / "dst.sqlite"
    with LatencyStore(source) as store:
        store.put(kernels("k", range(6)))
        store.export(table, fmt)
    with LatencyStore(target) as store:
        store.put(kernels("before", range(2)))
    key, (good, bad), message = BAD_ROWS[fmt]
    lines = table.read_text().split("\n")
    assert key in lines[3] and good in lines[3]
    lines[3] = lines[3].replace(good, bad, 1)
    table.write_text("\n".join(lines))

    code, out, err = run_cli(["latency", "import", str(table), "--latency-db", str(target)], capsys)
    assert code == 2
    assert err.startswith(f"{table}:4:") and message in err, err
    assert "Traceback" not in err and out == ""
    with LatencyStore(target) as store:  # the rows above the bad one were valid, yet none went in
        assert store.keys("kernel", "cpu", "onnxruntime", "fp32") == {"before-0", "before-1"}
        with pytest.raises(TableError, match=re.escape(message)):
            store.import_(table)


def test_put_is_all_or_nothing(tmp_path: Path) -> None:
    def then_garbage() -> Iterator[Any]:
        yield from kernels("k", range(5))
        yield {"kind": "kernel"}

    with LatencyStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(TypeError, match="StoredLatency"):
            store.put(then_garbage())
        assert list(store.query()) == []


# ---- reading back -----------------------------------------------------------------------------

def test_get_returns_the_latest_and_keys_name_what_is_stored(tmp_path: Path) -> None:
    early, late = "2025-01-01T00:00:00+00:00", "2025-01-02T00:00:00+00:00"
    with LatencyStore(tmp_path / "s.sqlite") as store:
        store.put([*kernels("k", [1], created=late, median_ms=2.0, p90_ms=2.5),
                   *kernels("k", [1], created=early, median_ms=9.0, p90_ms=9.5),
                   *kernels("k", [2], precision="fp16")])
        latest = store.get("kernel", "cpu", "onnxruntime", "fp32", "k-1")
        assert latest is not None and (latest.median_ms, latest.created) == (2.0, "2025-01-02T00:00:00.000000+00:00")
        assert store.get("kernel", "cpu", "onnxruntime", "fp32", "k-1", host="another host") is None
        assert store.get("kernel", "cpu", "tvm", "fp32", "k-1") is None
        assert store.keys("kernel", "cpu", "onnxruntime", "fp32") == {"k-1"}
        assert store.keys("kernel", "cpu", "onnxruntime", "fp16") == {"k-2"}
        assert [r.median_ms for r in store.query(key="k-1")] == [9.0, 2.0]
        # how many rounds each key has (what a resumed --arch-rounds run counts)
        assert store.key_counts("kernel", "cpu", "onnxruntime", "fp32") == {"k-1": 2}
        assert store.key_counts("kernel", "cpu", "onnxruntime", "fp16") == {"k-2": 1}
        assert store.key_counts("kernel", "cpu", "onnxruntime", "fp32", host="another host") == {}


@pytest.mark.parametrize("change,field", [
    ({"kind": "layer"}, "kind"), ({"kind": "arch", "key": "not-a-sha"}, "key"),
    ({"median_ms": 2.0, "p90_ms": 1.0}, "p90_ms"), ({"median_ms": float("nan")}, "median_ms"),
    ({"precision": "fp8"}, "precision"), ({"source": "guessed"}, "source"),
    ({"created": "2025-01-01T00:00:00"}, "created"), ({"target": ""}, "target"),
    ({"versions": {"nasc": 1}}, "versions"),
])
def test_invalid_records_name_their_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(RowError) as info:
        next(kernels("k", [0], **change))
    assert info.value.field == field


def test_protocol_fields_are_checked() -> None:
    with pytest.raises(RowError, match="protocol.repeats: must be at least 1"):
        TimingProtocol.from_dict({"warmup": 1, "repeats": 0, "batch": 1, "threads": 1})
    with pytest.raises(RowError, match="unknown field"):
        TimingProtocol.from_dict({"warmup": 1, "repeats": 1, "batch": 1, "threads": 1, "turbo": True})


# ---- where the store lives --------------------------------------------------------------------

def test_default_location_is_nasc_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NASC_LATENCY_DB", "NASC_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store_path() == tmp_path / "home" / ".cache" / "nasc" / "latency.sqlite"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert store_path() == tmp_path / "xdg" / "nasc" / "latency.sqlite"
    monkeypatch.setenv("NASC_CACHE_DIR", str(tmp_path / "cache"))
    assert store_path() == tmp_path / "cache" / "latency.sqlite"


def test_env_and_option_choose_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "t.jsonl"
    with LatencyStore(tmp_path / "src.sqlite") as store:
        store.put(kernels("k", range(4)))
        store.export(table, "jsonl")
    monkeypatch.delenv("NASC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    env_db, opt_db = tmp_path / "env" / "lat.sqlite", tmp_path / "opt.sqlite"
    monkeypatch.setenv("NASC_LATENCY_DB", str(env_db))

    code, out, err = run_cli(["latency", "import", str(table), "--latency-db", str(opt_db)], capsys)
    assert code == 0, err
    assert out == f"imported 4 new records from {table} into {opt_db} (0 already there)\n"
    assert count(opt_db) == 4 and not env_db.exists()

    code, out, err = run_cli(["latency", "import", str(table)], capsys)
    assert code == 0, err
    assert count(env_db) == 4
    assert not (tmp_path / "cache" / "nasc" / "latency.sqlite").exists()

    code, out, err = run_cli(["latency", "stats"], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == f"{env_db}: 4 records"
    assert out.splitlines()[2].split() == ["cpu", "onnxruntime", "fp32", "kernel", "4"]


# ---- files that are not a store ---------------------------------------------------------------

@pytest.mark.parametrize("verb", [["stats"], ["export", "out.csv"], ["import", "in.csv"]])
def test_a_garbage_file_as_the_store_is_a_user_error(tmp_path: Path, verb: list[str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(os.urandom(4096))
    (tmp_path / "in.csv").write_text("")
    code, out, err = run_cli(["latency", *[str(tmp_path / v) if "." in v else v for v in verb],
                              "--latency-db", str(garbage)], capsys)
    assert code == 2
    assert err.startswith(f"nasc: error: {garbage} is not a nasc latency store"), err
    assert "Traceback" not in err


def test_other_databases_and_newer_schemas_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(LatencyStoreError, match="an SQLite database but not a nasc latency store"):
        LatencyStore(other)
    newer = tmp_path / "newer.sqlite"
    LatencyStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(LatencyStoreError, match=f"schema version {SCHEMA_VERSION + 1}, written by a newer nasc"):
        LatencyStore(newer)


def test_reading_commands_refuse_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "typo.sqlite"
    code, _, err = run_cli(["latency", "stats", "--latency-db", str(missing)], capsys)
    assert code == 2 and f"no latency store at {missing}" in err
    assert not missing.exists()


# ---- what a key stands for --------------------------------------------------------------------

SIGNATURE = "fp32 | relu(i0) | in i0=[B,8,4,4] | out [B,8,4,4]"


def signed() -> list[StoredLatency]:
    """A kernel and an architecture whose keys are hashes of the signature texts they carry."""
    arch_text = "arch arch {\n    input x: f32[B, 1, 8, 8]\n    output y = x |> gap\n}\n"
    return [*kernels("k", [0], key=hashlib.sha256(SIGNATURE.encode()).hexdigest()[:16], signature=SIGNATURE),
            StoredLatency("arch", "cpu", "onnxruntime", "fp32", arch_key(arch_text), 1.0, 1.2, PROTOCOL, VERSIONS,
                          host=HOST, signature=arch_text)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_signatures_travel_with_their_records(tmp_path: Path, fmt: str) -> None:
    table = tmp_path / f"t.{fmt}"
    with LatencyStore(tmp_path / "a.sqlite") as store:
        store.put(signed())
        store.export(table)
    with LatencyStore(tmp_path / "b.sqlite") as store:
        store.import_(table)
        assert {r.kind: r.signature for r in store.query()} == {r.kind: r.signature for r in signed()}


def test_a_signature_must_hash_to_its_key() -> None:
    with pytest.raises(RowError, match="is not the sha256 of this text") as info:
        next(kernels("k", [0], key="0123456789abcdef", signature=SIGNATURE))
    assert info.value.field == "signature"
    with pytest.raises(RowError, match="control characters"):
        next(kernels("k", [0], key="0123456789abcdef", signature="relu\x00"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("newer", [["reference_ms", "over_reference"],
                                   ["signature", "reference_ms", "over_reference"]])
def test_a_table_written_before_its_newer_columns_imports(tmp_path: Path, fmt: str, newer: list[str]) -> None:
    """Tables exported before ``signature`` (version 1) or the reference columns (version 2)."""
    table = tmp_path / f"old.{fmt}"
    with LatencyStore(tmp_path / "a.sqlite") as store:
        store.put(kernels("k", range(3)))
        store.export(table)
    text = table.read_text()
    if fmt == "csv":  # drop the last columns, as an older export had it
        text = "\n".join(line.rsplit(",", len(newer))[0] if line else line for line in text.split("\n"))
    else:
        for name in newer:
            text = re.sub(f', "{name}": (""|null)', "", text)
    table.write_text(text)
    assert not any(name in text for name in newer)
    with LatencyStore(tmp_path / "b.sqlite") as store:
        assert store.import_(table).added == 3
        assert {(r.signature, r.reference_ms, r.over_reference) for r in store.query()} == {("", None, None)}


V1_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE records (id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL CHECK (kind IN ('kernel', 'arch')), target TEXT NOT NULL, backend TEXT NOT NULL,"
    " precision TEXT NOT NULL, key TEXT NOT NULL, median_ms REAL NOT NULL, p90_ms REAL NOT NULL,"
    " protocol TEXT NOT NULL, versions TEXT NOT NULL, host TEXT NOT NULL,"
    " source TEXT NOT NULL CHECK (source IN ('measured', 'recorded', 'rpc')), created TEXT NOT NULL,"
    " UNIQUE (kind, target, backend, precision, key, created, host, source))",
    "INSERT INTO meta VALUES ('schema_version', '1')",
)


@pytest.mark.parametrize("over,message", [
    ({"protocol": BESIDE}, "set exactly when protocol.beside names a reference"),
    ({"reference_ms": 0.05, "over_reference": 0.5}, "set exactly when protocol.beside names a reference"),
    ({"protocol": BESIDE, "reference_ms": 0.05, "over_reference": -1.0}, "over_reference: expected a finite"),
    ({"protocol": BESIDE, "reference_ms": 0.0, "over_reference": 0.5}, "reference_ms: must be positive"),
])
def test_a_ratio_to_a_reference_comes_with_its_reference(over: dict[str, Any], message: str) -> None:
    """A record timed beside a reference holds the reference's time and the ratio, and only such a record."""
    with pytest.raises(RowError, match=re.escape(message)):
        next(kernels("k", [0], **over))


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as db:
        for statement in V1_SCHEMA:
            db.execute(statement)
        db.execute("INSERT INTO records (kind, target, backend, precision, key, median_ms, p90_ms, protocol,"
                   " versions, host, source, created) VALUES ('kernel', 'cpu', 'tvm', 'fp32', 'old', 1.0, 2.0,"
                   " '{\"batch\":1,\"repeats\":3,\"threads\":2,\"warmup\":1}', '{}', 'h', 'measured',"
                   " '2025-01-01T00:00:00.000000+00:00')")
    db.close()
    with LatencyStore(path) as store:
        (old,) = store.query()
        assert (old.key, old.signature, old.median_ms) == ("old", "", 1.0)
        assert (old.reference_ms, old.over_reference, old.protocol.beside) == (None, None, "")
        assert store.put(signed()) == 2
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    db.close()
