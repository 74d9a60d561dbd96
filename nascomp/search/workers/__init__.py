"""How workers share a study: the storage, the slot rules and the coordinator that enforces them.

- :mod:`~nascomp.search.workers.storage`: open the Optuna storage a study lives in (SQLite by default);
- :mod:`~nascomp.search.workers.slots`: which trials count, were lost or hold a slot: pure functions of a snapshot;
- :mod:`~nascomp.search.workers.coordinator`: the I/O side (claims, heartbeats, twins) of many workers, one study.

Nothing is imported here, so importing one module does not load the room.
"""
