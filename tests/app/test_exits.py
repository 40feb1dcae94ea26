"""Errors as exit codes (app.exits): running out of memory is one line naming the stage and the setting; other errors propagate."""
from __future__ import annotations

import pytest


def _raising_in(module: str, exc: BaseException):
    """A function that looks, to a traceback, as if it were defined in ``module``."""
    namespace = {"__name__": module, "exc": exc}
    exec("def build_features(*args):\n    raise exc\n", namespace)
    return namespace["build_features"]


@pytest.mark.parametrize("make_exc, start", [
    (lambda: MemoryError(), "error: out of memory in features.build.build_features; "),
    (lambda: MemoryError("Unable to allocate 7.45 GiB for an array"),
     "error: out of memory in features.build.build_features (Unable to allocate 7.45 GiB for an array); "),
    (lambda: __import__("duckdb").OutOfMemoryException("Out of Memory Error: failed to allocate data of size 1.2 GiB"),
     "error: DuckDB ran out of memory in features.build.build_features (Out of Memory Error: failed to allocate"),
])
def test_out_of_memory_is_one_line_naming_stage_and_setting(make_exc, start, capsys) -> None:
    from app.exits import exits_cleanly

    inner = _raising_in("features.build", make_exc())

    def main(cfg):
        inner(cfg)

    main.__module__ = "train.__main__"
    with pytest.raises(SystemExit) as info:
        exits_cleanly(main)({})
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(start) and err.count("\n") == 1, err
    assert "snapshots.every_days" in err and "Traceback" not in err


def test_other_unexpected_errors_still_propagate() -> None:
    from app.exits import exits_cleanly

    def main(cfg):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        exits_cleanly(main)({})


def test_a_full_disk_is_one_line_naming_the_file_exit_4(capsys) -> None:
    import errno

    from app.exits import disk_fault_message, exits_cleanly

    def main(cfg):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/report.html")
        except OSError as exc:  # wrapped by a library: the cause still counts
            raise RuntimeError("could not save") from exc

    main.__module__ = "train.__main__"
    with pytest.raises(SystemExit) as info:
        exits_cleanly(main, unexpected_in_one_line=True)({})
    assert info.value.code == 4
    assert capsys.readouterr().err == ("error: cannot write /runs/x/report.html: no space left on the device; free "
                                       "some space or write elsewhere (hydra.run.dir, output)\n")
    assert disk_fault_message(OSError(errno.ENOENT, "No such file", "x")) is None
    assert disk_fault_message(OSError(errno.EROFS, "Read-only file system")).startswith(
        "cannot write a file: read-only file system")
