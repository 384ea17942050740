/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The documents generated from the key table: the annotated example file
 * of `minibossd -E`, the syntax summary, and the miniboss.conf(5) man page
 * in roff.  A key documented here is parsed exactly as the table says,
 * because both walk the same rows.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_config_priv.h"

#define OFF(f) offsetof(struct mb_config, f)
#define U64MAX UINT64_MAX

/* ---- documentation: -E, the syntax summary, miniboss.conf(5) --------------------- */

/* The syntax, once, for -E (as comments) and the man page (as paragraphs;
 * "" separates paragraphs, a leading "=" marks a heading). */
static const char *const syntax_text[] = {
	"=File syntax",
	"A line \"[section]\" opens a section; \"key = value\" sets a key in it.",
	"Blank lines and lines starting with '#' or ';' are comments, and a '#'",
	"or ';' after a blank starts a comment too: \"exception-tap = mb0  # tap\"",
	"sets 'mb0'.  Double quotes keep a value literally, with '#', ';' or",
	"blanks in it: url = \"https://ops.example.net/images/#x\".  Indentation",
	"is ignored and a value never continues on the next line.  A key may",
	"be set only once; unknown sections and keys are errors, and the",
	"message names the closest known name.",
	"",
	"=Values",
	"size: bytes, e.g. 1048576, 64M, 1.5G, 512KiB.  K, M, G and T are",
	"powers of 1024 (K = KB = KiB); case does not matter.",
	"",
	"rate: bits per second, e.g. 1G, 500M, 10Gbit/s, 100Mbps.  k, M, G and",
	"T are powers of 1000, optionally followed by bit/s, bit or bps.",
	"Byte rates (MB/s, MBps) are refused: 100 MB/s is 800M.",
	"",
	"byte rate: bytes per second, spelled like a size with an optional",
	"\"/s\": 10M, 10MiB/s.",
	"",
	"duration: seconds, e.g. 30 (= 30s), 90s, 5m, 1h30m, 2d; units ms, s,",
	"m (min), h, d and w, summed; the total must be whole seconds.",
	"",
	"bool: yes/no, true/false, on/off or 1/0.",
	NULL,
};

void
mb_config_print_syntax(FILE *f, const char *lead)
{
	for (size_t i = 0; syntax_text[i] != NULL; i++) {
		const char *t = syntax_text[i];

		if (t[0] == '=')
			fprintf(f, "%s%s:\n", lead, t + 1);
		else if (t[0] == '\0')
			fprintf(f, "%s\n", lead[0] == '#' ? "#" : "");
		else
			fprintf(f, "%s  %s\n", lead, t);
	}
}

void
mb_config_print_example(FILE *f)
{
	const char *sec = "";

	fprintf(f, "# miniboss.conf: every key with its default.  Generated from the key table.\n"
		   "#\n");
	mb_config_print_syntax(f, "# ");
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		if (strcmp(sec, k->section) != 0) {
			fprintf(f, "\n[%s]\n", k->section);
			sec = k->section;
		}
		fprintf(f, "# %s (%s%s)\n%s%s = %s\n", k->help, mb_config_type_name(k->type),
			k->reloadable ? ", reloadable" : "",
			k->def[0] == '\0' || (k->flags & MB_CFG_F_UNBUILT) != 0 ? "#" : "", k->name,
			k->def);
	}
}

/* roff-safe text: backslashes doubled, a leading '.' or '\'' guarded;
 * `minus`: '-' as \- (names and values a reader types). */
static void
roff(FILE *f, const char *s, bool minus)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-' && minus)
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

static const struct {
	const char *name, *what;
} section_docs[] = {
	{ "server", "The daemon itself: state directory, control socket, logging, EAL "
		    "arguments." },
	{ "dpdk", "The serving port: its address, rings, mbufs, the worker lcores that run "
		  "it, the exception TAP that hands the kernel what the dataplane does not "
		  "own." },
	{ "images", "The image cache in hugepage memory." },
	{ "frisbee", "Frisbee multicast sessions and the master-server (GET) protocol the "
		     "stock client speaks." },
	{ "tcp", "HTTP and FTP over the dataplane's userspace TCP." },
	{ "origin", "Where images come from: sync from ops (the signed manifest and the "
		    "image files, over HTTPS with a client certificate), or a parent master "
		    "server asked on demand (mfrisbee://)." },
	{ "control", "The TLS control socket that boss polls for health." },
};

static void
man_key(FILE *f, const struct mb_cfg_key *k)
{
	char b1[32], b2[32];

	fputs(".TP\n.B ", f);
	roff(f, k->name, true);
	fprintf(f, "\n(%s", mb_config_type_name(k->type));
	switch (k->type) {
	case MB_CFG_UINT:
	case MB_CFG_SIZE:
	case MB_CFG_RATE:
	case MB_CFG_DURATION:
	case MB_CFG_BYTERATE:
		mb_cfg_format_bound(k, k->min, b1, sizeof(b1));
		mb_cfg_format_bound(k, k->max, b2, sizeof(b2));
		if (k->max == UINT64_MAX)
			fprintf(f, ", at least %s", b1);
		else
			fprintf(f, ", %s to %s", b1, b2);
		break;
	case MB_CFG_STRING:
		fprintf(f, ", up to %" PRIu64 " characters", k->max);
		break;
	default:
		break;
	}
	fprintf(f, "%s) ", k->reloadable ? "; reloadable" : "; needs a restart");
	fputs("Default: ", f);
	if (k->def[0] == '\0') {
		fputs("empty", f);
	} else {
		fputs("\\fB", f);
		roff(f, k->def, true);
		fputs("\\fR", f);
	}
	fputs(".\n", f);
	/* The help as a sentence. */
	if (k->help[0] != '\0') {
		char first[2] = { (char)toupper((unsigned char)k->help[0]), '\0' };

		roff(f, first, false);
		roff(f, k->help + 1, false);
	}
	fputs(".", f);
	if (k->flags & MB_CFG_F_DIR)
		fputs("  Checked at start, on reload and by \\fBminibossd \\-n\\fR: the directory "
		      "must exist and be writable.", f);
	else if (k->flags & MB_CFG_F_FILE)
		fprintf(f, "  Checked at start, on reload and by \\fBminibossd \\-n\\fR: the file "
			   "must be readable%s.",
			(k->flags & MB_CFG_F_CERT)	 ? " and hold PEM certificates"
			: (k->flags & MB_CFG_F_PUBKEY) ? " and hold a PEM public key"
			: (k->flags & MB_CFG_F_SECRET) ? " and hold an unencrypted PEM private key "
							 "(a warning when every user may read it)"
							 : "");
	fputs("\n", f);
}

void
mb_config_print_man(FILE *f)
{
	const char *sec = "", *sde = getenv("SOURCE_DATE_EPOCH");
	time_t when = sde != NULL ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
	char date[32] = "";
	bool para = false;
	struct tm tm;

	/* The build's date, or SOURCE_DATE_EPOCH's for reproducible builds. */
	if (gmtime_r(&when, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	fprintf(f, ".\\\" Generated from the key table in common/mb_config.c; do not edit.\n"
		   ".TH MINIBOSS.CONF 5 \"%s\" \"miniboss %s\" \"File Formats\"\n"
		   ".SH NAME\nminiboss.conf \\- configuration file of minibossd\n"
		   ".SH SYNOPSIS\n/etc/miniboss/miniboss.conf\n"
		   ".SH DESCRIPTION\n"
		   "\\fBminibossd\\fR(8) reads its configuration from this file at start, on "
		   "SIGHUP and on \\fBminibossctl reload\\fR.  A reload applies the keys marked "
		   "reloadable below; changing any other key is refused with its name, and "
		   "needs a restart.\n"
		   ".PP\n"
		   "\\fBminibossd \\-n\\fR reads the file and every file and directory it names "
		   "(certificates, keys, the state directory), prints every problem as "
		   "\\fIfile\\fB:\\fIline\\fB: error:\\fR or \\fBwarning:\\fR and exits 1 when "
		   "there was an error.  The daemon runs the same checks before it starts and "
		   "on every reload.  \\fBminibossd \\-E\\fR prints every key with its default, "
		   "a complete example file.\n",
		date, MB_VERSION);
	for (size_t i = 0; syntax_text[i] != NULL; i++) {
		const char *t = syntax_text[i];

		if (t[0] == '=') {
			fputs(".SH ", f);
			for (const char *c = t + 1; *c != '\0'; c++)
				fputc(toupper((unsigned char)*c), f);
			fputs("\n", f);
			para = false; /* .SH starts a paragraph */
		} else if (t[0] == '\0') {
			para = true;
		} else {
			if (para)
				fputs(".PP\n", f);
			para = false;
			roff(f, t, false);
			fputs("\n", f);
		}
	}
	fputs(".SH KEYS\nEach key with its type, bounds, default and whether a reload "
	      "applies it.\n", f);
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		if (strcmp(sec, k->section) != 0) {
			sec = k->section;
			fprintf(f, ".SS [%s]\n", sec);
			for (size_t i = 0; i < MB_ARRAY_SIZE(section_docs); i++)
				if (strcmp(section_docs[i].name, sec) == 0)
					fprintf(f, "%s\n", section_docs[i].what);
		}
		man_key(f, k);
	}
	fputs(".SH EXAMPLE\n"
	      "A miniboss serving 10.1.0.0/24 on the first DPDK port and syncing from ops:\n"
	      ".PP\n.nf\n.RS\n"
	      "[server]\n"
	      "eal\\-args = \\-l 0\\-1 \\-a 0000:03:00.0 \\-\\-file\\-prefix=miniboss\n"
	      "\n[dpdk]\n"
	      "address = 10.1.0.1/24   # the nodes reach us here\n"
	      "gateway = 10.1.0.254\n"
	      "\n[images]\n"
	      "hugepage\\-budget = 16G\n"
	      "\n[frisbee]\n"
	      "rate = 1G\n"
	      "\n[origin]\n"
	      "url = https://ops.example.net/miniboss/\n"
	      "ca\\-file = /etc/miniboss/ops\\-ca.pem\n"
	      "client\\-cert = /etc/miniboss/client.pem\n"
	      "client\\-key = /etc/miniboss/client.key\n"
	      "manifest\\-pubkey = /etc/miniboss/manifest.pub\n"
	      "site = homenet\n"
	      "interval = 5m\n"
	      ".RE\n.fi\n"
	      ".SH FILES\n"
	      ".TP\n.I /etc/miniboss/miniboss.conf\nthe configuration\n"
	      ".TP\n.I /usr/share/doc/miniboss/examples/miniboss.conf\nan example with every key\n"
	      ".TP\n.I /var/lib/miniboss\nthe default state directory (images/ and "
	      "manifest.json)\n"
	      ".SH SEE ALSO\n"
	      "\\fBminibossd\\fR(8), \\fBminibossctl\\fR(8), \\fBmb\\-manifest\\fR(1)\n",
	      f);
}
