"""One module per schema revision, applied in order by `store.db.database.migrate`."""
