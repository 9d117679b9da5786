"""The SimPy shell: processes that wait, read state, call one pure function and emit."""
