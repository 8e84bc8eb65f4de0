-- Least privilege in PostgreSQL (S8 in docs/security.md): POSTGRES_USER, a superuser, only runs this file
-- (once, when the data volume is new: the postgres image runs /docker-entrypoint-initdb.d/*.sql) and the
-- health check. Each service connects as one of three roles, none of which can create roles or databases:
--   assistant_owner  the migrations (the facts service): owns the project's tables, the only one with DDL
--   assistant_rasa   Rasa: creates and owns its tracker table (events), reads and writes the project's rows
--   assistant_app    actions, web, notifier: read and write rows; read and delete Rasa's events (console,
--                    retention); no CREATE, ALTER, DROP or TRUNCATE anywhere
-- The passwords come from the container's environment (psql 15 \getenv), never from a command line; psql
-- stops at the first error, so an unset password leaves no half-made role behind.
\set ON_ERROR_STOP on
\getenv owner_password DB_OWNER_PASSWORD
\getenv app_password DB_APP_PASSWORD
\getenv rasa_password DB_RASA_PASSWORD

CREATE ROLE assistant_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE assistant_rasa LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'rasa_password';
CREATE ROLE assistant_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO assistant_owner, assistant_rasa;
GRANT USAGE ON SCHEMA public TO assistant_app;

-- what the migrations create: rows for the services (and for Rasa's WeChat state), nothing else
ALTER DEFAULT PRIVILEGES FOR ROLE assistant_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO assistant_app, assistant_rasa;
ALTER DEFAULT PRIVILEGES FOR ROLE assistant_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO assistant_app, assistant_rasa;
-- what Rasa creates (events): the console reads transcripts, retention deletes old conversations
ALTER DEFAULT PRIVILEGES FOR ROLE assistant_rasa IN SCHEMA public
    GRANT SELECT, DELETE ON TABLES TO assistant_app;
