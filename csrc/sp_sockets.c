#include "sp_sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int sp_sockets_add(sp_sockets *s, int fd)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        sp_socket *items = realloc(s->items, cap * sizeof *items);
        if (items == NULL)
            return -1;
        s->items = items;
        s->cap = cap;
    }
    memset(&s->items[s->n], 0, sizeof s->items[s->n]);
    s->items[s->n].fd = fd;
    s->n++;
    return 0;
}

static sp_socket *find(sp_sockets *s, int fd)
{
    size_t i;
    for (i = 0; i < s->n; i++)
        if (s->items[i].fd == fd)
            return &s->items[i];
    return NULL;
}

void sp_sockets_remove(sp_sockets *s, int fd)
{
    sp_socket *k = find(s, fd);
    if (k != NULL)
        *k = s->items[--s->n];
}

/* The port of an address, and its text for the peer. */
static int port_of(const struct sockaddr_storage *a, char *ip, size_t iplen)
{
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        if (ip != NULL && inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)iplen) == NULL)
            ip[0] = '\0';
        return ntohs(in->sin_port);
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
        if (ip != NULL && inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)iplen) == NULL)
            ip[0] = '\0';
        return ntohs(in6->sin6_port);
    }
    return -1;
}

void sp_sockets_rested_http1(sp_sockets *s, int fd)
{
    sp_socket *k = find(s, fd);
    struct sockaddr_storage local, peer;
    socklen_t ll = sizeof local, pl = sizeof peer;

    if (k == NULL || k->idle_http1)
        return;
    if (getsockname(fd, (struct sockaddr *)&local, &ll) != 0
        || getpeername(fd, (struct sockaddr *)&peer, &pl) != 0)
        return;   /* not connected (any more): nothing to judge */
    k->local_port = port_of(&local, NULL, 0);
    k->peer_port = port_of(&peer, k->peer_ip, sizeof k->peer_ip);
    k->idle_http1 = k->local_port >= 0 && k->peer_port >= 0;
}

int sp_sockets_unread(sp_sockets *s, const char *peer_ip, int peer_port, int local_port)
{
    size_t i;
    for (i = 0; i < s->n; i++) {
        sp_socket *k = &s->items[i];
        char c;
        ssize_t got;
        if (!k->idle_http1 || k->local_port != local_port || k->peer_port != peer_port
            || strcmp(k->peer_ip, peer_ip) != 0)
            continue;
        do
            got = recv(k->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        while (got < 0 && errno == EINTR);
        return got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
    return 0;
}

void sp_sockets_free(sp_sockets *s)
{
    free(s->items);
    s->items = NULL;
    s->n = s->cap = 0;
}
