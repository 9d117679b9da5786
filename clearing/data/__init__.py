"""Market data before a run: the data directory, the files a scenario reads, tape readers, downloads."""
