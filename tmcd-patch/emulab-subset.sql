-- SPDX-License-Identifier: BSD-3-Clause
--
-- A reduced stand-in for the few Emulab tables mb-tmcd (the test daemon)
-- reads, for tests only.  On a real boss these tables exist already with
-- more columns; the real tmcd reads them itself and only miniboss.sql is
-- applied there.  `subbosses` has Emulab's exact columns and keys.

CREATE TABLE IF NOT EXISTS interfaces (
  node_id varchar(32) NOT NULL,
  IP varchar(15) NOT NULL,
  role varchar(16) NOT NULL DEFAULT 'ctrl',
  PRIMARY KEY (node_id, IP)
);

CREATE TABLE IF NOT EXISTS subbosses (
  node_id varchar(32) NOT NULL DEFAULT '',
  service varchar(20) NOT NULL DEFAULT '',
  subboss_id varchar(20) NOT NULL DEFAULT '',
  disabled tinyint(1) NOT NULL DEFAULT '0',
  PRIMARY KEY (node_id, service),
  KEY active (disabled, subboss_id)
);

CREATE TABLE IF NOT EXISTS images (
  imageid int unsigned NOT NULL,
  pid varchar(48) NOT NULL,
  gid varchar(32) NOT NULL,
  imagename varchar(60) NOT NULL,
  PRIMARY KEY (imageid)
);

CREATE TABLE IF NOT EXISTS image_versions (
  imageid int unsigned NOT NULL,
  version int unsigned NOT NULL,
  loadpart tinyint NOT NULL DEFAULT 0,
  OS varchar(32) NOT NULL DEFAULT 'Linux',
  osversion varchar(32) NOT NULL DEFAULT '0',
  mbr_version varchar(50) NOT NULL DEFAULT '1',
  size bigint unsigned NOT NULL DEFAULT 0,
  updated datetime DEFAULT NULL,
  PRIMARY KEY (imageid, version)
);

CREATE TABLE IF NOT EXISTS current_reloads (
  node_id varchar(32) NOT NULL,
  idx smallint unsigned NOT NULL DEFAULT 0,
  image_id int unsigned NOT NULL,
  imageid_version int unsigned NOT NULL,
  mustwipe tinyint NOT NULL DEFAULT 0,
  prepare tinyint NOT NULL DEFAULT 0,
  PRIMARY KEY (node_id, idx)
);

CREATE TABLE IF NOT EXISTS node_attributes (
  node_id varchar(32) NOT NULL,
  attrkey varchar(32) NOT NULL,
  attrvalue tinytext,
  PRIMARY KEY (node_id, attrkey)
);

-- What `state` reports (stated's part in Emulab): tests read it.
CREATE TABLE IF NOT EXISTS mb_tmcd_states (
  idx int unsigned NOT NULL AUTO_INCREMENT,
  node_id varchar(32) NOT NULL,
  state varchar(128) NOT NULL,
  at double NOT NULL,
  PRIMARY KEY (idx)
);
