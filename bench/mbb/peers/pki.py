# SPDX-License-Identifier: BSD-3-Clause
"""
The TLS material of the sync figures, made fresh for each run with openssl: a CA, a server
certificate for 10.77.0.1 (nginx as ops) and a client certificate (curl and minibossd as the
syncing side), all P-256; plus the manifest signing key pair, made with mb-manifest.
"""

import os

from ..util import ADDR_S, sh


def make(env):
    d = os.path.join(env.work, 'pki')
    os.makedirs(d, exist_ok=True)
    t = {k: os.path.join(d, k + '.pem') for k in ('ca', 'ca_key', 'srv_crt', 'srv_key',
                                                    'cli_crt', 'cli_key')}

    def ossl(*a):
        sh(['openssl'] + list(a))
    ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
         '-keyout', t['ca_key'], '-out', t['ca'], '-days', '2', '-subj', '/CN=mbb-bench-ca')
    for who, cn, ext in (('srv', ADDR_S, 'subjectAltName=IP:%s' % ADDR_S),
                         ('cli', 'mbb-bench-client', 'extendedKeyUsage=clientAuth')):
        csr = os.path.join(d, who + '.csr')
        ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
             '-keyout', t[who + '_key'], '-out', csr, '-subj', '/CN=' + cn)
        extf = os.path.join(d, who + '.ext')
        with open(extf, 'w') as f:
            f.write(ext + '\n')
        ossl('x509', '-req', '-in', csr, '-CA', t['ca'], '-CAkey', t['ca_key'],
             '-CAcreateserial', '-out', t[who + '_crt'], '-days', '2', '-extfile', extf)
    for k in t:
        os.chmod(t[k], 0o644)
    os.chmod(d, 0o755)
    return t


def manifest_keys(env, tls):
    """Add the manifest signing key pair (ops_key, ops_pub) to tls."""
    tls['ops_key'] = os.path.join(env.work, 'pki', 'ops.key')
    tls['ops_pub'] = os.path.join(env.work, 'pki', 'ops.pub')
    sh([env.bins['mb-manifest'], 'keygen', tls['ops_key'], tls['ops_pub']])
    os.chmod(tls['ops_pub'], 0o644)
    return tls
