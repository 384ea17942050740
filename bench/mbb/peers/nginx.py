# SPDX-License-Identifier: BSD-3-Clause
"""
nginx in mbb-s: plain HTTP on port 8080 (sendfile on, tcp_nopush on, worker_processes auto,
access log off, reuseport) for the HTTP and idle-connection figures, or HTTPS on 8443 with
client certificates required (TLS 1.3) as ops serves images to the sync.
"""

import os
import time

from ..procs import Proc
from ..util import NS_S, ADDR_S, NotAvailable, tail

HTTP_PORT = 8080
TLS_PORT = 8443


def start(env, root, tls=None, worker_conns=4096):
    """nginx serving directory root; tls: the PKI from pki.make() for HTTPS."""
    conf = os.path.join(env.work, 'nginx%s.conf' % ('-tls' if tls else ''))
    if tls:
        listen = ('listen %s:%d ssl; ssl_certificate %s; ssl_certificate_key %s; '
                  'ssl_client_certificate %s; ssl_verify_client on; '
                  'ssl_protocols TLSv1.3;' % (ADDR_S, TLS_PORT, tls['srv_crt'], tls['srv_key'],
                                              tls['ca']))
    else:
        listen = 'listen %s:%d reuseport backlog=4096;' % (ADDR_S, HTTP_PORT)
    with open(conf, 'w') as f:
        f.write('''
worker_processes auto;
daemon off;
pid %(w)s/nginx%(t)s.pid;
error_log %(w)s/nginx-error.log;
worker_rlimit_nofile %(nofile)d;
events { worker_connections %(wc)d; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    client_body_temp_path %(w)s/nginx-body;
    proxy_temp_path %(w)s/nginx-proxy;
    fastcgi_temp_path %(w)s/nginx-fcgi;
    uwsgi_temp_path %(w)s/nginx-uwsgi;
    scgi_temp_path %(w)s/nginx-scgi;
    types { application/octet-stream raw; }
    server { %(listen)s root %(d)s; }
}
''' % {'w': env.work, 't': '-tls' if tls else '', 'listen': listen, 'd': root,
       'wc': worker_conns, 'nofile': 2 * worker_conns + 64})
    lp = os.path.join(env.work, 'nginx.log')
    p = Proc(['nginx', '-p', env.work, '-c', conf, '-e', os.path.join(env.work,
              'nginx-error.log')], ns=NS_S, log_path=lp)
    time.sleep(0.5)
    if not p.alive():
        raise NotAvailable('nginx did not start: ' + tail(lp))
    return p


def url(name):
    return 'http://%s:%d/%s' % (ADDR_S, HTTP_PORT, name)


def tls_url(name):
    return 'https://%s:%d/%s' % (ADDR_S, TLS_PORT, name)
