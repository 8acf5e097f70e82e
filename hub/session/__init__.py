"""A live session: `machine` decides (sans I/O), `driver` carries it out (tasks, timers), and
`commands` is the one shape every transport submits through `LiveSession.submit`."""
