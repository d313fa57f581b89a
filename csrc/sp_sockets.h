/* The sockets of one libcurl connection cache (a blocking session's easy
 * handle, or a multi handle), so that a kept-alive HTTP/1 connection with
 * bytes nobody asked for can be refused before a request goes out on it.
 * Lua-free and libcurl-free: plain file descriptors.
 *
 * Why: a server (or something in between) that sends bytes after a
 * complete answer leaves them in the idle connection; libcurl 7.88 reuses
 * such a connection and reads those bytes as the next call's answer (a
 * keep-alive desync). An HTTP/1 connection at rest must have nothing to
 * read, so one that has is never reused. HTTP/2 connections are not
 * judged: frames may arrive while they rest, and their framing cannot
 * desync. */
#ifndef SP_SOCKETS_H
#define SP_SOCKETS_H

#include <stddef.h>

typedef struct sp_socket {
    int  fd;
    int  idle_http1;        /* carried an HTTP/1 answer, now kept alive */
    int  local_port, peer_port;
    char peer_ip[48];       /* as libcurl prints it (inet_ntop) */
} sp_socket;

typedef struct sp_sockets {
    sp_socket *items;
    size_t     n, cap;
} sp_sockets;

#define SP_SOCKETS_INIT { NULL, 0, 0 }

/* A socket libcurl opened (0), or -1 when memory ran out. */
int  sp_sockets_add(sp_sockets *s, int fd);
/* A socket libcurl closed: forgotten (it is the caller who closes it). */
void sp_sockets_remove(sp_sockets *s, int fd);
/* After an answer came over fd with HTTP/1.x: the connection rests in the
 * cache until a request reuses it. Ignored for unknown sockets. */
void sp_sockets_rested_http1(sp_sockets *s, int fd);
/* Whether the connection to peer_ip:peer_port from local_port (what libcurl
 * tells its pre-request callback) is a resting HTTP/1 connection with
 * something to read: unread bytes, or the peer's close. Then it must not
 * carry a request. A connection not known to have rested is not judged
 * (a fresh TLS connection may have session tickets waiting). */
int  sp_sockets_unread(sp_sockets *s, const char *peer_ip, int peer_port, int local_port);
void sp_sockets_free(sp_sockets *s);

#endif
