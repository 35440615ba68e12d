"""Storage: the database engine and transactions, the tables, the hash-chained audit log, Alembic migrations."""
