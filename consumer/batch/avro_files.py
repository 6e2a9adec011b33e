"""Avro container files: the Transactions batch prediction reads and the files it writes.

File records are re-encoded to the plain Avro bytes a Kafka value would carry only when
one becomes a dead letter. Sinks write to a temporary name and rename on success: a
failed run leaves no half-written file behind, and the same input gives the same bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import fastavro
from fastavro.read import SchemaResolutionError
from fastavro.schema import to_parsing_canonical_form
from fastavro.write import Writer

from consumer.batch.chunks import BatchError, Chunk
from consumer.scoring.codec import TRANSACTION_SCHEMA, parsed
from consumer.scoring.errors import ConfigError
from consumer.scoring.records import RawRecord


def expand_inputs(spec: str) -> list[Path]:
    """A file, a directory (its *.avro files) or a glob, as a sorted list of files."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.avro") if p.is_file())
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
    if not files:
        raise ConfigError(f"input not found: {spec} (no file, directory of *.avro, or glob match)")
    return files


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def _mismatch(path: Path, exc: Exception) -> ConfigError:
    return ConfigError(f"{path}: schema mismatch, cannot read it as a Transaction: {exc}")


def _epoch_millis(tx: dict[str, Any]) -> None:
    """fastavro turns a file's timestamp-millis into datetimes; back to exact epoch ms."""
    value = tx.get("event_time")  # the Transaction's only logical-type field
    if isinstance(value, dt.datetime):
        tx["event_time"] = (value - _EPOCH) // _MS


class AvroFileSource:
    """Transaction records from Avro container files, resolved to schemas/transaction.avsc."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.total_bytes = sum(f.stat().st_size for f in files)
        self.bytes_done = 0
        self._reader_schema = parsed(TRANSACTION_SCHEMA)
        self._canonical = to_parsing_canonical_form(TRANSACTION_SCHEMA)
        for f in files:  # fail before any work if a file is not what it should be
            with f.open("rb") as fo:
                try:
                    next(self._records(f, fo), None)
                except BatchError as exc:
                    raise ConfigError(str(exc)) from None

    def _records(self, path: Path, fo: IO[bytes]) -> Iterator[Any]:
        """The file's Transactions, resolved to ours; file-level problems name the file."""
        try:
            reader = fastavro.reader(fo)
            if to_parsing_canonical_form(reader.writer_schema) != self._canonical:
                # Written with another version of the schema: resolve it to ours (slower).
                fo.seek(0)
                reader = fastavro.reader(fo, reader_schema=self._reader_schema)
        except (ValueError, EOFError, OSError) as exc:
            raise ConfigError(f"{path} is not an Avro container file ({exc})") from None
        except SchemaResolutionError as exc:
            raise _mismatch(path, exc) from None
        records = iter(reader)
        offset = 0
        while True:
            try:
                tx = next(records)
            except StopIteration:
                return
            except SchemaResolutionError as exc:
                raise _mismatch(path, exc) from None
            except Exception as exc:  # a damaged block: the file, not a record, is bad
                raise BatchError(
                    f"{path} is corrupt after record {offset}: {type(exc).__name__}"
                ) from None
            if not isinstance(tx, dict):  # resolution to our record schema rules this out
                raise _mismatch(path, TypeError("its values are not records"))
            _epoch_millis(tx)
            yield tx
            offset += 1

    def chunks(self, size: int) -> Iterator[Chunk]:
        for index, path in enumerate(self.files):
            done_before = self.bytes_done
            with path.open("rb") as fo:
                decoded: list[dict[str, Any]] = []
                chunk = Chunk([], decoded)
                for offset, tx in enumerate(self._records(path, fo)):
                    card = tx.get("card_id")
                    chunk.records.append(
                        RawRecord(
                            topic=str(path),
                            partition=index,
                            offset=offset,
                            key=card.encode() if isinstance(card, str) and card else None,
                            value=None,  # encoded only if it becomes a dead letter
                        )
                    )
                    decoded.append(tx)
                    if len(chunk.records) >= size:
                        self.bytes_done = done_before + fo.tell()
                        yield chunk
                        decoded = []
                        chunk = Chunk([], decoded)
                self.bytes_done = done_before + path.stat().st_size
                if chunk.records:  # chunks never span files, so offsets stay file-relative
                    yield chunk


class AvroFileSink:
    """An Avro container file written under a temporary name and renamed on commit()."""

    def __init__(self, path: Path, schema: dict[str, Any], sync_marker: bytes, codec: str) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            self._fo = self._tmp.open("wb")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
        # The raw schema, not a parsed one: fastavro writes a parsed schema into the header
        # with its keys in hash order, which changes between processes.
        self._writer = Writer(self._fo, schema, codec=codec, sync_marker=sync_marker)
        self.count = 0

    def write(self, records: list[dict[str, Any]]) -> None:
        try:
            for r in records:
                self._writer.write(r)
        except OSError as exc:
            raise BatchError(f"writing {self.path} failed: {exc.strerror}") from None
        self.count += len(records)

    def commit(self) -> None:
        try:
            self._writer.flush()
            self._fo.flush()
            os.fsync(self._fo.fileno())
            self._fo.close()
            self._tmp.replace(self.path)
        except OSError as exc:
            self.abort()
            raise BatchError(f"writing {self.path} failed: {exc.strerror}") from None

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fo.close()
        self._tmp.unlink(missing_ok=True)
