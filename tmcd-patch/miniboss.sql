-- SPDX-License-Identifier: BSD-3-Clause
--
-- miniboss tables in boss's database (apply once: mysql tbdb < miniboss.sql).
--
-- Emulab's subboss model is reused as it is: a node is served by a miniboss
-- when its `subbosses` row for service 'frisbee' names a miniboss and is not
-- disabled (exactly the row upstream tmcd reads for SERVER=).  That row puts
-- the node in the miniboss's *site*; tmcd may then name any healthy miniboss
-- of that site.  A disabled row means "this node loads from boss", as it
-- always did.  Nothing here changes `subbosses`.
--
-- mb-healthd writes miniboss_health and miniboss_images; libmbsel (linked
-- into tmcd) only reads them, and writes miniboss_exclusions and
-- miniboss_failures when a node reports `imageserverfail`.  Times are UNIX
-- seconds from the database's clock (UNIX_TIMESTAMP()), so boss's hosts need
-- not agree on the time.

-- One row per miniboss.  subboss_id is the node_id of the miniboss host, the
-- same name subbosses.subboss_id uses.
CREATE TABLE IF NOT EXISTS minibosses (
  subboss_id varchar(32) NOT NULL,
  site varchar(64) NOT NULL,
  -- address nodes load from (the miniboss's serving port): SERVER= and URLs
  serve_ip varchar(15) NOT NULL,
  -- the TLS control socket boss polls (control.tls-listen)
  control_host varchar(255) NOT NULL,
  control_port smallint unsigned NOT NULL DEFAULT 7443,
  -- name the miniboss certificate must carry (DNS or IP SAN); '' = control_host
  control_name varchar(255) NOT NULL DEFAULT '',
  -- the URL handed to protocol-41 loaders: 'ftp' or 'http'
  url_scheme enum('ftp','http') NOT NULL DEFAULT 'ftp',
  ftp_port smallint unsigned NOT NULL DEFAULT 21,
  http_port smallint unsigned NOT NULL DEFAULT 80,
  PRIMARY KEY (subboss_id),
  UNIQUE KEY serve_ip (serve_ip),
  KEY site (site)
);

-- The last poll of each miniboss (one row each, replaced every poll).
-- healthy=1 only when the answer came in time, over TLS from a certificate
-- boss's CA signed, parsed, and said state ok or degraded.
CREATE TABLE IF NOT EXISTS miniboss_health (
  subboss_id varchar(32) NOT NULL,
  polled_at int unsigned NOT NULL,
  healthy tinyint(1) NOT NULL DEFAULT 0,
  -- ok, degraded, draining, down (the miniboss's word), or the poller's:
  -- unreachable, timeout, tls, malformed
  state varchar(16) NOT NULL,
  reason varchar(255) NOT NULL DEFAULT '',
  load_figure double NOT NULL DEFAULT 1,
  tx_bps bigint unsigned NOT NULL DEFAULT 0,
  cap_bps bigint unsigned NOT NULL DEFAULT 0,
  sessions int unsigned NOT NULL DEFAULT 0,
  connections int unsigned NOT NULL DEFAULT 0,
  rtt_ms int unsigned NOT NULL DEFAULT 0,
  daemon_version varchar(32) NOT NULL DEFAULT '',
  PRIMARY KEY (subboss_id)
);

-- The images each miniboss serves now (replaced on every healthy poll).
-- name is the Frisbee image id "pid/imagename"; version the image version.
CREATE TABLE IF NOT EXISTS miniboss_images (
  subboss_id varchar(32) NOT NULL,
  name varchar(255) NOT NULL,
  version int unsigned NOT NULL,
  size bigint unsigned NOT NULL,
  sha256 char(64) NOT NULL,
  mtime bigint NOT NULL,
  warm tinyint(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (subboss_id, name),
  KEY name (name, version)
);

-- A node reported that a miniboss failed it: until `expires`, loadinfo
-- names boss (Frisbee) and ops (URL) for that node.
CREATE TABLE IF NOT EXISTS miniboss_exclusions (
  node_id varchar(32) NOT NULL,
  subboss_id varchar(32) NOT NULL,
  created int unsigned NOT NULL,
  expires int unsigned NOT NULL,
  imageid varchar(255) NOT NULL DEFAULT '',
  reason varchar(64) NOT NULL DEFAULT '',
  PRIMARY KEY (node_id, subboss_id),
  KEY expires (expires)
);

-- Every imageserverfail report, for operators (never read by tmcd).
CREATE TABLE IF NOT EXISTS miniboss_failures (
  idx int unsigned NOT NULL AUTO_INCREMENT,
  node_id varchar(32) NOT NULL,
  server varchar(15) NOT NULL,
  subboss_id varchar(32) DEFAULT NULL,
  imageid varchar(255) NOT NULL,
  reason varchar(64) NOT NULL,
  reported int unsigned NOT NULL,
  PRIMARY KEY (idx),
  KEY node_id (node_id, reported)
);

-- Settings (name, value); missing rows take the defaults in brackets.
--   exclusion_seconds [900]  how long a node avoids minibosses after a report
--   health_max_age    [15]   older health rows count as unhealthy (poller gone)
--   ops_url           ['']   base of the fallback URL for protocol-41 loaders,
--                            e.g. http://ops.example.net/images; '' = no URL
--   exclude_scope     [site] 'site': a report sends the node to boss/ops;
--                            'miniboss': only the reported miniboss is avoided
CREATE TABLE IF NOT EXISTS miniboss_settings (
  name varchar(64) NOT NULL,
  value varchar(255) NOT NULL,
  PRIMARY KEY (name)
);
