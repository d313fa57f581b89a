/* The socket registry that refuses resting HTTP/1 connections with unread
 * bytes (sp_sockets.c), over real loopback TCP connections. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctest.h"
#include "sp_sockets.h"

static int local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

int main(void)
{
    sp_sockets s = SP_SOCKETS_INIT;
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int listener, client, server, port, i;

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(listen(listener, 1) == 0);
    getsockname(listener, (struct sockaddr *)&addr, &len);
    port = ntohs(addr.sin_port);
    client = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(client, (struct sockaddr *)&addr, sizeof addr) == 0);
    server = accept(listener, NULL, NULL);
    CHECK(server >= 0);

    /* Unknown, or known but never rested: not judged. */
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client)) == 0);
    CHECK(sp_sockets_add(&s, client) == 0);
    CHECK(write(server, "x", 1) == 1);
    usleep(20000);
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client)) == 0);
    {
        char c;
        CHECK(read(client, &c, 1) == 1);
    }

    /* Rested and clean, then with a byte waiting. */
    sp_sockets_rested_http1(&s, client);
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client)) == 0);
    CHECK(write(server, "late", 4) == 4);
    usleep(20000);
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client)) == 1);
    /* Another connection's address is not this one. */
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client) + 1) == 0);
    CHECK(sp_sockets_unread(&s, "127.0.0.2", port, local_port(client)) == 0);
    /* The peek left the bytes where they were. */
    {
        char buf[8];
        CHECK(read(client, buf, sizeof buf) == 4);
    }
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client)) == 0);
    /* The peer's close counts as something to read. */
    close(server);
    usleep(20000);
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client)) == 1);

    /* Many sockets: the list grows, and removes keep the others. */
    for (i = 100; i < 140; i++)
        CHECK(sp_sockets_add(&s, 1000 + i) == 0);
    sp_sockets_remove(&s, 1100);
    sp_sockets_remove(&s, 999);   /* unknown: nothing happens */
    CHECK_EQ_U64(s.n, 40);
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client)) == 1);
    sp_sockets_remove(&s, client);
    CHECK(sp_sockets_unread(&s, "127.0.0.1", port, local_port(client)) == 0);
    sp_sockets_free(&s);
    close(client);
    close(listener);
    return ctest_report("test_sockets");
}
