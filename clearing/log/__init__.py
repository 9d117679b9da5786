"""The append-only, hash-chained SQLite event log: schema, writer, reader, verifier."""

from clearing.log.reader import EventLogReader, RunHeader
from clearing.log.verify import verify_log
from clearing.log.writer import EventLog, MemorySink, Sink

__all__ = ["EventLog", "EventLogReader", "MemorySink", "RunHeader", "Sink", "verify_log"]
