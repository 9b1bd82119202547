"""Shared test helpers: paths to the examples, and a cache folder of the test run's own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from xdist.scheduler import LoadScopeScheduling

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Build caches, tuning databases and the latency store go to a folder of this test run
    (one per xdist worker), never the user's ~/.cache: tests must not read state a previous run
    left, nor leave any.  Child processes inherit it through the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASC_CACHE_DIR", str(tmp_path_factory.mktemp("nasc-cache")))
        mp.delenv("NASC_LATENCY_DB", raising=False)
        yield


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


def frozen_arch(path: Path, space: str, seed: int) -> Path:
    """Write a decided arch drawn (with ``seed``) from ``examples/SPACE.nas`` to ``path``."""
    from nasc import api

    path.write_text(api.freeze(api.load(EXAMPLES / f"{space}.nas"), seed=seed).text)
    return path


SHARED_FIXTURE = re.compile(r"""scope=["'](module|class|package)["']""")


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


class _FilesWithSharedFixtures(LoadScopeScheduling):
    """``--dist loadscope`` with a finer grain: a test file that defines a fixture wider than one
    test (a killed and resumed sweep, a profiled space) is one unit, run by one worker, so that
    fixture is built once; every other test is a unit of its own, so two long tests of one file
    can run side by side.  (xdist's ``loadgroup`` would do this with marks, but xdist 3.8 marks
    the group in a node attribute pytest 9 no longer reads.)  The scheduler runs in the
    controller, which never collects: a file is told by its text."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.shared: dict[str, bool] = {}

    def _split_scope(self, nodeid: str) -> str:
        file = nodeid.split("::", 1)[0]
        if file not in self.shared:
            path = Path(self.config.rootpath) / file
            self.shared[file] = path.is_file() and bool(SHARED_FIXTURE.search(path.read_text()))
        return file if self.shared[file] else nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    return _FilesWithSharedFixtures(config, log) if config.getvalue("dist") == "loadscope" else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with a test marked ``slow`` come first, so ``make test``'s two workers start on the
    longest work (and finish together, instead of one waiting out a long test handed over
    last).  The sort is stable and moves whole files: a file's tests stay together and its
    fixtures are built once."""
    slow = {_file(item) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: _file(item) not in slow)
