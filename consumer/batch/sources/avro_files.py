"""Avro container files of Transactions, as batch input.

The source hands out the records' plain Avro bytes, so files go through the very
decoder Kafka values do.
"""

from __future__ import annotations

import datetime as dt
import glob
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from consumer.batch.errors import BatchError
from consumer.batch.sources.chunks import Chunk
from consumer.scoring import _avro
from consumer.scoring.codec import TRANSACTION_SCHEMA, PlainAvroCodec, decode_avro, parsed
from consumer.scoring.errors import ConfigError, DecodeError
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


class AvroFileSource:
    """Transactions from Avro container files, decoded block by block, strictly.

    A file written with the Transaction schema itself has its records sliced out of each
    block, byte for byte, and scored like Kafka values (the strict decoder dead-letters a
    bad enum index or non-UTF-8 text); a block whose framing is lost makes the file
    corrupt. A file written with another version of the schema is read with fastavro,
    each record checked to be the canonical encoding under its writer's schema and
    resolved to ours.
    """

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.total_bytes = sum(f.stat().st_size for f in files)
        self.bytes_done = 0
        self._codec = PlainAvroCodec()
        self._reader_schema = parsed(TRANSACTION_SCHEMA)
        self._canonical = to_parsing_canonical_form(TRANSACTION_SCHEMA)
        for f in files:  # fail before any work if a file is not what it should be
            self._check(f)

    def _check(self, path: Path) -> None:
        """The file is an Avro container whose writer schema resolves to the
        Transaction's: read its header and first record with logical types left as
        numbers (a timestamp out of datetime's range is that record's business: it is
        dead-lettered by validation, not the file refused)."""
        try:
            with path.open("rb") as fo:
                blocks: Any = fastavro.block_reader(fo)
                writer: dict[str, Any] = blocks.writer_schema
                block: Any = next(iter(blocks), None)
        except (ValueError, EOFError, OSError) as exc:
            raise ConfigError(f"{path} is not an Avro container file ({exc})") from None
        except Exception as exc:  # a damaged first block
            raise ConfigError(f"{path} is corrupt: {type(exc).__name__}") from None
        if block is None or block.num_records == 0:
            return
        data = block.bytes_.getvalue()
        buf = io.BytesIO(data)
        try:
            fastavro.schemaless_reader(buf, parsed(writer), None)
            decode_avro(data[: buf.tell()], parsed(writer), self._reader_schema, writer)
        except DecodeError as exc:
            if exc.reason == "schema_mismatch":
                raise _mismatch(path, exc) from None
        except Exception as exc:
            raise ConfigError(f"{path} is corrupt: {type(exc).__name__}") from None

    def chunks(self, size: int) -> Iterator[Chunk]:
        """Chunks of about ``size`` records; chunks never span files, so offsets (the
        record's index in its file) stay file-relative."""
        for index, path in enumerate(self.files):
            done_before = self.bytes_done
            chunk = Chunk([])
            offset = 0
            with path.open("rb") as fo:
                for block in self._blocks(path, fo):
                    for record, error in self._records(path, index, offset, block):
                        if error is None:
                            chunk.records.append(record)
                        else:
                            chunk.rejected.append((record, error))
                    offset += block.num_records
                    if len(chunk) >= size:
                        self.bytes_done = done_before + fo.tell()
                        yield chunk
                        chunk = Chunk([])
            self.bytes_done = done_before + path.stat().st_size
            if len(chunk):
                yield chunk

    def _blocks(self, path: Path, fo: IO[bytes]) -> Iterator[Any]:
        blocks = fastavro.block_reader(fo)
        while True:
            try:
                yield next(blocks)
            except StopIteration:
                return
            except Exception as exc:  # a damaged block: the file, not a record, is bad
                raise BatchError(f"{path} is corrupt: {type(exc).__name__}") from None

    def _records(
        self, path: Path, index: int, first: int, block: Any
    ) -> Iterator[tuple[RawRecord, DecodeError | None]]:
        data = block.bytes_.getvalue()
        source = str(path)

        def record(i: int, value: bytes) -> RawRecord:
            return RawRecord(topic=source, partition=index, offset=first + i, key=None, value=value)

        if to_parsing_canonical_form(block.writer_schema) == self._canonical:
            _, _, failures, spans, intact = _avro.decode_block(data, block.num_records)
            lost = [
                (i, reason) for i, reason, _ in failures if reason in ("truncated", "malformed")
            ]
            if not intact or lost:
                at = first + (lost[0][0] if lost else block.num_records)
                raise BatchError(f"{path} is corrupt at record {at}")
            for i, (start, end) in enumerate(spans):
                yield record(i, data[start:end]), None  # the decoder judges each again
            return
        yield from self._resolved(path, first, data, block, record)

    def _resolved(
        self, path: Path, first: int, data: bytes, block: Any, record: Any
    ) -> Iterator[tuple[RawRecord, DecodeError | None]]:
        writer = parsed(block.writer_schema)
        buf = io.BytesIO(data)
        for i in range(block.num_records):
            start = buf.tell()
            try:
                fastavro.schemaless_reader(buf, writer, None)
            except Exception as exc:
                raise BatchError(
                    f"{path} is corrupt after record {i}: {type(exc).__name__}"
                ) from None
            raw = data[start : buf.tell()]
            try:
                tx = decode_avro(raw, writer, self._reader_schema, block.writer_schema)
            except DecodeError as exc:
                if exc.reason == "schema_mismatch":
                    raise _mismatch(path, exc) from None
                yield record(i, raw), exc
                continue
            _epoch_millis(tx)
            yield record(i, self._codec.encode_transaction(tx)), None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def _mismatch(path: Path, exc: Exception) -> ConfigError:
    return ConfigError(f"{path}: schema mismatch, cannot read it as a Transaction: {exc}")


def _epoch_millis(tx: dict[str, Any]) -> None:
    """fastavro turns a resolved timestamp-millis into a datetime; back to exact epoch ms."""
    value = tx.get("event_time")  # the Transaction's only logical-type field
    if isinstance(value, dt.datetime):
        tx["event_time"] = (value - _EPOCH) // _MS
