/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The checks of the files a configuration names (control/ctl_cfgcheck.c),
 * shared by `minibossd -n`, the start-up and every reload.
 */
#ifndef _MB_CTL_CFGCHECK_H_
#define _MB_CTL_CFGCHECK_H_

#include "mb_config.h"

/*
 * mb_config_check(cfg, MB_CFG_CHECK_FILES, d), then what the files hold:
 * certificates (PEM, valid now; a warning 30 days before a client or
 * server certificate expires), private keys (PEM, unencrypted, matching
 * their certificate), the manifest signing key, the local manifest.json (a
 * warning when it does not parse).  Every problem goes into d with the line
 * of its key.  Returns 0 when no error was added, else -EINVAL.  Blocks on
 * the file system; any thread; never logs.
 */
int mb_ctl_config_check_files(const struct mb_config *cfg, struct mb_diags *d);

#endif /* _MB_CTL_CFGCHECK_H_ */
