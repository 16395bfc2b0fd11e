-- DEV ONLY (overlays/postgres-dev): the postgres image runs this once, as
-- the superuser `care` (POSTGRES_USER), when its data directory is empty.
-- One database per service, owned by the role the services connect as (their
-- migrations create the tables). Collation "C": ids sort by bytes, as on
-- SQLite. In production the operator creates the databases beforehand, one
-- role per service with CREATE on its own database (docs/operations.md).
CREATE DATABASE loyalty OWNER care ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE promotion OWNER care ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE complaint OWNER care ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE notification OWNER care ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
