"""An import run in a process of its own whose memory is bounded
(``CITYBRAIN_IMPORT_MAX_MEMORY_MB``), for ``POST /imports/{layer}``: whatever an upload makes
the readers allocate, the API worker that received it keeps its size, and a child that runs
out answers 413 (its transaction ends with it: nothing is written).

The child is spawned (a fresh interpreter: nothing of the worker's state, no threads forked
mid-use), loads the importer and locks GDAL down, and only then takes its limit: the limit is
what the import may add to the ~300 MB the libraries take. It is ``RLIMIT_DATA`` (the heap and
private writable mappings), not ``RLIMIT_AS``: address space reserved but never written (thread
arenas, the libraries' mappings) would count against the latter and fail small imports. Arrow
allocates through malloc in the child, as its own allocator reserves a GiB when first used,
which the limit would then never see being filled.

This module imports no heavy library at its top: the child sets Arrow's allocator before any
is loaded.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import tempfile
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from citybrain import errors

if TYPE_CHECKING:
    from citybrain.importer.report import Report
    from citybrain.importer.run import Options
    from citybrain.layers import Layer

SETTING = "CITYBRAIN_IMPORT_MAX_MEMORY_MB"


def run_import(
    url: str,
    layer: Layer,
    source: Path,
    options: Options,
    actor: str,
    timezone: str,
    source_name: str,
    max_unpacked_mb: int,
    max_memory_mb: int,
) -> Report:
    """``citybrain.importer.run.run_import`` in a child limited to ``max_memory_mb`` more than
    it starts with: its report, or its error (``CitybrainError``s as they were raised). The
    layer's declaration goes with the job: the child reads no layer file."""
    job = {
        "url": url,
        "layer": layer,
        "source": str(source),
        "options": {
            **asdict(options),
            "mapping_file": options.mapping_file and str(options.mapping_file),
        },
        "actor": actor,
        "timezone": timezone,
        "source_name": source_name,
        "max_unpacked_mb": max_unpacked_mb,
    }
    ctx = multiprocessing.get_context("spawn")
    reader, writer = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_child, args=(writer, job, max_memory_mb), name="citybrain-import", daemon=True
    )
    child.start()
    writer.close()  # the child's end only: EOF as soon as it ends, however it ends
    try:
        answer = reader.recv()
    except EOFError:
        answer = None
    finally:
        reader.close()
        child.join()
    return _outcome(answer, child.exitcode, max_memory_mb)


def _outcome(answer: tuple | None, exitcode: int | None, max_memory_mb: int) -> Report:
    if answer is None:  # ended without a word: an allocation failed outside Python (an abort)
        how = f"exit status {exitcode}"
        if exitcode is not None and exitcode < 0:
            how = f"signal {-exitcode}"
            if -exitcode in signal.Signals.__members__.values():
                how = signal.Signals(-exitcode).name
        raise errors.TooLarge(
            f"the import's process ended before it answered ({how}), most likely for want of "
            f"memory: an upload's import may use {max_memory_mb} MB ({SETTING}); nothing was "
            "written"
        )
    kind, *rest = answer
    if kind == "ok":
        return rest[0]
    if kind == "memory":
        raise errors.TooLarge(
            f"the import needed more than {max_memory_mb} MB of memory ({SETTING}): nothing was "
            "written; send a smaller file, or import it with `citybrain import`"
        )
    if kind == "error":
        name, detail, extra = rest
        raise getattr(errors, name, errors.CitybrainError)(detail, **extra)
    raise RuntimeError(f"the import failed in its process:\n{rest[0]}")


def _child(writer, job: dict, max_memory_mb: int) -> None:
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    answer = _answer(job, max_memory_mb)
    try:
        writer.send(answer)
    except MemoryError:  # a report too large to send within the limit
        writer.send(("memory",))
    finally:
        writer.close()


def _answer(job: dict, max_memory_mb: int) -> tuple:
    try:
        from citybrain.db.connection import connect
        from citybrain.importer import formats
        from citybrain.importer.run import Options, run_import

        formats.gdal()  # loaded (and locked down) before the limit: it is not the upload's
        _limit(max_memory_mb)
        source = Path(job["source"])
        # Unpacked zips go beside the upload, in the folder the worker removes in any case.
        tempfile.tempdir = str(source.parent)
        options = dict(job["options"])
        if options["mapping_file"]:
            options["mapping_file"] = Path(options["mapping_file"])
        with connect(job["url"]) as conn:  # (an exception, or the process's end: rolled back)
            report = run_import(
                conn,
                job["layer"],
                source,
                Options(**options),
                job["actor"],
                job["timezone"],
                source_name=job["source_name"],
                max_unpacked_mb=job["max_unpacked_mb"],
            )
        return ("ok", report)
    except MemoryError:
        return ("memory",)
    except errors.CitybrainError as exc:
        return ("error", type(exc).__name__, exc.detail, exc.extra)
    except BaseException:
        return ("crash", traceback.format_exc())


def _limit(max_memory_mb: int) -> None:
    with open("/proc/self/status") as status:
        data_kb = next(int(line.split()[1]) for line in status if line.startswith("VmData:"))
    limit = data_kb * 1024 + max_memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
