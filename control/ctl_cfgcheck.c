/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What `minibossd -n`, the start-up and every reload check beyond the values:
 * the files and directories the configuration names, and what is in them.
 * mb_config_check() (common/) looks at paths (present, right type, access);
 * this file opens what they name with the libraries that will use it later:
 * PEM certificates (present, within their validity; a client or server
 * certificate that expires within 30 days is a warning), private keys (PEM,
 * not encrypted, matching their certificate), the manifest signing key (as
 * the sync will load it), and the store's local manifest.json; and that the
 * dataplane's TCP ports stay out of the kernel's ephemeral range.  So a daemon
 * never reports "reloaded" with a key it cannot read, and -n says "OK" only
 * for a configuration that will start.
 *
 * It does not touch the network, the port or EAL: it runs before EAL in -n
 * and at start, and on the control thread at reload (blocking on the file
 * system, like the reload's own reads).  Never logs: diagnostics only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ctl_cfgcheck.h"
#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_file.h"
#include "mb_manifest.h"
#include "mb_sig.h"

#define PEM_MAX (1u << 20)
#define EXPIRY_WARN_DAYS 30

/* A certificate and its key, checked as a pair. */
static const struct {
	const char *section, *cert, *key;
} pairs[] = {
	{ "origin", "client-cert", "client-key" },
	{ "control", "tls-cert", "tls-key" },
};

/* A non-empty regular file we may read: content checks run only on those,
 * so each problem gets one message (the path check reports the others). */
static bool
readable(const char *path)
{
	struct stat st;

	return path[0] != '\0' && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       st.st_size > 0 && access(path, R_OK) == 0;
}

static const char *
value_of(const struct mb_config *cfg, const struct mb_cfg_key *k)
{
	return *(char *const *)((const char *)cfg + k->offset);
}

static uint32_t
line_of(const struct mb_config *cfg, const struct mb_cfg_key *k)
{
	return cfg->line[mb_config_key_index(k)];
}

#define KERR(k, ...) mb_diags_add(d, MB_DIAG_ERROR, cfg->source, line_of(cfg, k), __VA_ARGS__)
#define KWARN(k, ...)                                                                        \
	mb_diags_add(d, MB_DIAG_WARNING, cfg->source, line_of(cfg, k), __VA_ARGS__)

static bool
is_leaf_cert(const struct mb_cfg_key *k)
{
	for (size_t i = 0; i < MB_ARRAY_SIZE(pairs); i++)
		if (strcmp(k->section, pairs[i].section) == 0 && strcmp(k->name, pairs[i].cert) == 0)
			return true;
	return false;
}

/* Read a PEM file into a memory BIO (NULL when it cannot be read: the path
 * check reported that already). */
static BIO *
pem_open(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	BIO *b;

	if (mb_file_read_all(path, PEM_MAX, &buf, &len) < 0)
		return NULL;
	b = BIO_new(BIO_s_mem());
	if (b != NULL && BIO_write(b, buf, (int)len) != (int)len) {
		BIO_free(b);
		b = NULL;
	}
	free(buf);
	return b;
}

static void
asn1_time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, len, "%Y-%m-%d", &tm);
	else
		snprintf(buf, len, "?");
}

/* The certificates of a file: at least one; a leaf certificate must be
 * valid now (and a warning when it expires soon); a CA bundle must hold
 * one certificate that is valid now.  Returns the first certificate (new
 * reference) for the key check, or NULL. */
static X509 *
check_certs(const struct mb_config *cfg, const struct mb_cfg_key *k, struct mb_diags *d)
{
	const char *path = value_of(cfg, k);
	STACK_OF(X509_INFO) *infos;
	X509 *first = NULL;
	unsigned n = 0, valid = 0;
	char when[32];
	BIO *b;

	b = pem_open(path);
	if (b == NULL)
		return NULL;
	infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
	BIO_free(b);
	ERR_clear_error();
	for (int i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		X509 *x = sk_X509_INFO_value(infos, i)->x509;
		int before, after;

		if (x == NULL)
			continue;
		n++;
		before = X509_cmp_current_time(X509_get0_notBefore(x));
		after = X509_cmp_current_time(X509_get0_notAfter(x));
		if (before < 0 && after > 0)
			valid++;
		if (first != NULL)
			continue;
		first = x;
		X509_up_ref(first);
		if (!is_leaf_cert(k))
			continue;
		if (after <= 0) {
			asn1_time_str(X509_get0_notAfter(x), when, sizeof(when));
			KERR(k, "[%s] %s: the certificate in '%s' expired on %s", k->section, k->name,
			     path, when);
		} else if (before >= 0) {
			asn1_time_str(X509_get0_notBefore(x), when, sizeof(when));
			KERR(k, "[%s] %s: the certificate in '%s' is not valid before %s (is the "
				"clock right?)", k->section, k->name, path, when);
		} else {
			time_t soon = time(NULL) + EXPIRY_WARN_DAYS * 86400;

			if (X509_cmp_time(X509_get0_notAfter(x), &soon) < 0) {
				asn1_time_str(X509_get0_notAfter(x), when, sizeof(when));
				KWARN(k, "[%s] %s: the certificate in '%s' expires on %s", k->section,
				      k->name, path, when);
			}
		}
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (n == 0)
		KERR(k, "[%s] %s: '%s' holds no PEM certificate", k->section, k->name, path);
	else if (!is_leaf_cert(k) && valid == 0)
		KERR(k, "[%s] %s: no certificate in '%s' is valid now (expired, or the clock "
			"is wrong)", k->section, k->name, path);
	return first;
}

/* A passphrase callback that refuses: the daemon cannot ask for one. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static EVP_PKEY *
check_private_key(const struct mb_config *cfg, const struct mb_cfg_key *k, struct mb_diags *d)
{
	const char *path = value_of(cfg, k);
	EVP_PKEY *pk;
	char *text = NULL;
	size_t len = 0;
	BIO *b;

	if (mb_file_read_all(path, PEM_MAX, &text, &len) < 0)
		return NULL;
	b = BIO_new_mem_buf(text, (int)len);
	pk = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
	BIO_free(b);
	ERR_clear_error();
	if (pk == NULL) {
		if (strstr(text, "ENCRYPTED") != NULL)
			KERR(k, "[%s] %s: '%s' is encrypted; the daemon cannot ask for a "
				"passphrase (openssl pkey -in KEY -out KEY.plain)", k->section,
			     k->name, path);
		else
			KERR(k, "[%s] %s: '%s' holds no PEM private key", k->section, k->name, path);
	}
	free(text);
	return pk;
}

static void
check_pair(const struct mb_config *cfg, const char *section, const char *cert_name,
	   const char *key_name, struct mb_diags *d)
{
	const struct mb_cfg_key *kc = mb_config_find(section, cert_name);
	const struct mb_cfg_key *kk = mb_config_find(section, key_name);
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;

	if (kc == NULL || kk == NULL)
		return;
	if (readable(value_of(cfg, kc)))
		x = check_certs(cfg, kc, d);
	if (readable(value_of(cfg, kk)))
		pk = check_private_key(cfg, kk, d);
	if (x != NULL && pk != NULL && X509_check_private_key(x, pk) != 1)
		KERR(kk, "[%s] %s: '%s' is not the key of the certificate in '%s'", section,
		     key_name, value_of(cfg, kk), value_of(cfg, kc));
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(pk);
}

static bool
in_pair(const struct mb_cfg_key *k)
{
	for (size_t i = 0; i < MB_ARRAY_SIZE(pairs); i++)
		if (strcmp(k->section, pairs[i].section) == 0 &&
		    (strcmp(k->name, pairs[i].cert) == 0 || strcmp(k->name, pairs[i].key) == 0))
			return true;
	return false;
}

static void
check_local_manifest(const struct mb_config *cfg, struct mb_diags *d)
{
	const struct mb_cfg_key *k = mb_config_find("server", "state-dir");
	struct mb_manifest_limits lim = {
		.max_images = cfg->max_images,
		.max_image_size = cfg->max_image_size,
	};
	struct mb_manifest m;
	char path[4096 + 16], err[MB_MANIFEST_ERRLEN] = "";
	int r;

	snprintf(path, sizeof(path), "%s/manifest.json", cfg->state_dir);
	r = mb_manifest_load_file(path, &lim, &m, err, sizeof(err));
	if (r == 0) {
		mb_manifest_done(&m);
		return;
	}
	if (r != -ENOENT)
		KWARN(k, "[server] state-dir: '%s': %s; the store starts empty", path, err);
}

/* Reads /proc/sys/net/ipv4/@name into @buf; false when unreadable. */
static bool
proc_ipv4_read(const char *name, char *buf, size_t len)
{
	char path[96];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/%s", name);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return true;
}

/* The ports of the kernel's ephemeral range that it may pick, as a bitmap
 * of 65536 bits: ip_local_port_range ("A B") less ip_local_reserved_ports
 * ("A,B-C,...").  False when the range cannot be read. */
static bool
kernel_ephemeral(uint8_t *map)
{
	char buf[8192], *s, *end;
	unsigned long lo, hi;

	memset(map, 0, 65536 / 8);
	if (!proc_ipv4_read("ip_local_port_range", buf, sizeof(buf)))
		return false;
	lo = strtoul(buf, &end, 10);
	hi = strtoul(end, &s, 10);
	if (s == end || lo > hi || hi > 65535)
		return false;
	for (unsigned long p = lo; p <= hi; p++)
		map[p / 8] |= (uint8_t)(1u << (p % 8));
	if (!proc_ipv4_read("ip_local_reserved_ports", buf, sizeof(buf)))
		return true;
	for (s = buf; *s >= '0' && *s <= '9';) {
		lo = hi = strtoul(s, &end, 10);
		s = end;
		if (*s == '-') {
			hi = strtoul(s + 1, &end, 10);
			s = end;
		}
		for (unsigned long p = lo; p <= hi && p <= 65535; p++)
			map[p / 8] &= (uint8_t)~(1u << (p % 8));
		s += strspn(s, ",");
	}
	return true;
}

/*
 * The dataplane's TCP answers every segment to the serving address whose
 * port is the HTTP port or in the FTP passive range.  A kernel connection
 * from the same address (the parent master server, ops through the serving
 * port, anything else on the host) gets its local port from the kernel's
 * ephemeral range; when that port is one of ours, the peer's replies reach
 * the dataplane and are reset.  Ports reserved from the ephemeral range
 * (net.ipv4.ip_local_reserved_ports) are never picked, so they are fine.
 * Read in the daemon's own network namespace, where its kernel side lives.
 */
static void
check_tcp_ports(const struct mb_config *cfg, struct mb_diags *d)
{
	unsigned int clash = 0, first = 0, last = 0;
	uint8_t eph[65536 / 8];

#define EPH(p) ((eph[(p) / 8] >> ((p) % 8)) & 1)
	if (!cfg->tcp_enable || !kernel_ephemeral(eph))
		return;
	if (cfg->ftp_port != 0 && cfg->ftp_pasv_max <= 65535) {
		for (unsigned int p = (unsigned int)cfg->ftp_pasv_min; p <= cfg->ftp_pasv_max; p++) {
			if (!EPH(p))
				continue;
			if (clash++ == 0)
				first = p;
			last = p;
		}
	}
	if (clash > 0)
		KWARN(mb_config_find("tcp", "ftp-pasv-min"),
		      "[tcp] ftp-pasv-min..ftp-pasv-max: %u of the passive ports (%u-%u) are in the "
		      "kernel's ephemeral range (net.ipv4.ip_local_port_range), so a kernel connection "
		      "from the serving address that is given one of them is reset by the dataplane; "
		      "move the range above the ephemeral one (the default is 61000-61999) or reserve "
		      "it: sysctl -w net.ipv4.ip_local_reserved_ports=%u-%u",
		      clash, first, last, first, last);
	if (cfg->http_port != 0 && cfg->http_port <= 65535 && EPH(cfg->http_port))
		KWARN(mb_config_find("tcp", "http-port"),
		      "[tcp] http-port: %u is in the kernel's ephemeral range "
		      "(net.ipv4.ip_local_port_range), so a kernel connection from the serving "
		      "address that is given it is reset by the dataplane; use a port outside it or "
		      "reserve it: sysctl -w net.ipv4.ip_local_reserved_ports=%u",
		      (unsigned int)cfg->http_port, (unsigned int)cfg->http_port);
#undef EPH
}

int
mb_ctl_config_check_files(const struct mb_config *cfg, struct mb_diags *d)
{
	unsigned errors = d->errors;
	struct stat st;

	(void)mb_config_check(cfg, MB_CFG_CHECK_FILES, d);
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		const char *v;

		if (k->type != MB_CFG_STRING || !(k->flags & MB_CFG_F_FILE) || in_pair(k))
			continue;
		v = value_of(cfg, k);
		if (!readable(v))
			continue; /* the path check said why */
		if (k->flags & MB_CFG_F_CERT) {
			X509_free(check_certs(cfg, k, d));
		} else if (k->flags & MB_CFG_F_PUBKEY) {
			struct mb_sig_key *key = mb_sig_key_load(v, 0);

			if (key == NULL) {
				int e = errno;

				KERR(k, "[%s] %s: '%s': %s", k->section, k->name, v,
				     e == ENOENT || e == EACCES ? strerror(e) : mb_sig_strerror(-e));
			}
			mb_sig_key_free(key);
		} else if (k->flags & MB_CFG_F_SECRET) {
			EVP_PKEY_free(check_private_key(cfg, k, d));
		}
	}
	for (size_t i = 0; i < MB_ARRAY_SIZE(pairs); i++)
		check_pair(cfg, pairs[i].section, pairs[i].cert, pairs[i].key, d);
	if (stat(cfg->state_dir, &st) == 0 && S_ISDIR(st.st_mode))
		check_local_manifest(cfg, d);
	check_tcp_ports(cfg, d);
	return d->errors > errors ? -EINVAL : 0;
}
