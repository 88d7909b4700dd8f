"""Storage: one SQLAlchemy schema on SQLite, PostgreSQL and MySQL/MariaDB, with migrations at start."""
