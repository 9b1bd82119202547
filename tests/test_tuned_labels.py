"""Which backend label a latency of a TVM build is stored under (``tvm`` or ``tvm-tuned``):
decided by what the build's manifest says it applied, not by what the caller asked for."""

from __future__ import annotations

from nasc.latency.tuned import TuningTally, built_backend, store_backend


def _report(tasks: int, not_covered: list[str]) -> dict[str, object]:
    return {"tasks": tasks, "not_covered": not_covered, "tasks_tuned_now": 0,
            "tasks_from_database": tasks - len(not_covered), "tuning_seconds": 0.0, "database": "<cache>/db"}


def test_a_build_that_applied_the_database_is_tuned() -> None:
    assert built_backend("tvm", _report(3, [])) == "tvm-tuned"
    assert built_backend("tvm", _report(3, ["fused_conv2d"])) == "tvm-tuned"  # partly covered: built with it


def test_a_build_without_any_schedule_from_the_database_is_not() -> None:
    assert built_backend("tvm", None) == "tvm"
    assert built_backend("tvm", "untuned, as asked: TVM's default schedules") == "tvm"
    assert built_backend("tvm", _report(2, ["a", "b"])) == "tvm"  # the database covered none of its tasks
    assert built_backend("onnxruntime", None) == "onnxruntime"


def test_a_profile_is_labelled_by_its_tuning_and_tallies_its_builds() -> None:
    assert store_backend("tvm", 0) == "tvm" and store_backend("tvm", 8) == "tvm-tuned"
    tally = TuningTally(trials=8)
    tally.add(_report(2, ["x"]))
    tally.add("untuned")
    assert (tally.tasks_from_database, tally.not_covered) == (1, ["x"])
    assert "1 task(s) got no valid schedule" in tally.summary()


def test_a_tuned_profile_counts_each_task_once_whatever_its_kernels_share() -> None:
    """The tuning runs count the distinct tasks; the kernels' builds after them find the same
    tasks in the database and must not count them again."""
    tally = TuningTally(trials=8)
    tally.add_run({"tasks_tuned_now": 3, "tasks_from_database": 1, "tuning_seconds": 12.0, "database": "<cache>/db"})
    tally.add(_report(2, []))
    tally.add(_report(2, ["y"]))
    assert (tally.runs, tally.tasks_tuned, tally.tasks_from_database, tally.not_covered) == (1, 3, 1, ["y"])
    assert tally.summary().startswith("tuned 3 TVM tasks (8 MetaSchedule trials each, 12.0 s of tuning over "
                                      "1 tuning run(s)); 1 were")
