/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `minibossctl setup`: prepare a host for minibossd (tools/mb_setup.c).
 */
#ifndef _MB_SETUP_H_
#define _MB_SETUP_H_

/* argv[0] is "setup".  Returns the exit status: 0 done (or ready), 1 not
 * ready or a change failed, 2 usage. */
int mb_setup_main(int argc, char **argv);

#endif /* _MB_SETUP_H_ */
