#!/bin/sh
# Runs once, when the MariaDB volume is first created (compose.yaml). The server's MySQL user may
# read and update wp_usermeta (and insert, for the admin command), nothing else.
# MariaDB grants on a table only once the table exists, and WordPress makes its tables later, on
# its install screen; so wp_usermeta is created here with WordPress's own definition
# (wp-admin/includes/schema.php), which WordPress's installer (dbDelta) finds and keeps.
set -eu
mariadb -uroot -p"$MARIADB_ROOT_PASSWORD" wordpress <<SQL
CREATE TABLE IF NOT EXISTS wp_usermeta (
  umeta_id bigint(20) unsigned NOT NULL auto_increment,
  user_id bigint(20) unsigned NOT NULL default '0',
  meta_key varchar(255) default NULL,
  meta_value longtext,
  PRIMARY KEY  (umeta_id),
  KEY user_id (user_id),
  KEY meta_key (meta_key(191))
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci;
CREATE USER IF NOT EXISTS '${SMS_DB_USER:-sms}'@'%' IDENTIFIED BY '${SMS_DB_PASSWORD}';
GRANT SELECT, INSERT, UPDATE ON wordpress.wp_usermeta TO '${SMS_DB_USER:-sms}'@'%';
SQL
