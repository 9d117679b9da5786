"""The append-only, hash-chained SQLite event log: schema, writer, reader, verifier."""

from clearing.log.reader import EventLogReader, RunHeader
from clearing.log.verify import verify_log
from clearing.log.writer import ChainSink, EventLog, MemorySink

__all__ = ["ChainSink", "EventLog", "EventLogReader", "MemorySink", "RunHeader", "verify_log"]
