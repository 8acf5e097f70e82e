"""The turn core: typed steps, one loop, the approval lifecycle. No transport, no globals: the
store and the model come in through `agents.ports`, the output goes out through a `RunSink`."""
