"""Loaded into notebook kernels by `course_lib.tools.authoring.offline_environment()`.

Course notebooks must never need the network: connecting to, or even looking up, any
host that is not loopback is refused here (before a packet leaves), so a notebook that
tries fails loudly in tests and CI. Unix sockets and loopback (the Jupyter kernel's own
channels) are unaffected.
"""

import ipaddress
import socket

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
MESSAGE = ("network access is disabled in course notebooks (tried {!r}); everything the "
           "course needs is generated locally or ships in a package")


def is_loopback(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # any other host name would need DNS: refuse
        return False


def guard_connect(method):
    def guarded_connect(self, address, *args, **kwargs):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            raise ConnectionRefusedError(MESSAGE.format(address[0]))
        return method(self, address, *args, **kwargs)
    return guarded_connect


def guard_getaddrinfo(function):
    def guarded_getaddrinfo(host, *args, **kwargs):
        if not is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, MESSAGE.format(host))
        return function(host, *args, **kwargs)
    return guarded_getaddrinfo


socket.socket.connect = guard_connect(socket.socket.connect)
socket.socket.connect_ex = guard_connect(socket.socket.connect_ex)
socket.getaddrinfo = guard_getaddrinfo(socket.getaddrinfo)
