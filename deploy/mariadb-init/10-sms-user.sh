#!/bin/sh
# Runs once, when the MariaDB volume is first created (compose.yaml). The server's MySQL user may
# read and update wp_usermeta (and insert, for the admin command), nothing else. WordPress creates
# its tables on first start, so the grant names the table before it exists (allowed in MariaDB).
set -eu
mariadb -uroot -p"$MARIADB_ROOT_PASSWORD" <<SQL
CREATE USER IF NOT EXISTS '${SMS_DB_USER:-sms}'@'%' IDENTIFIED BY '${SMS_DB_PASSWORD}';
GRANT SELECT, INSERT, UPDATE ON wordpress.wp_usermeta TO '${SMS_DB_USER:-sms}'@'%';
SQL
