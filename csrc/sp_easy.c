/* Shared easy-handle settings: see sp_easy.h. */
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_easy.h"
#include "sp_headers.h"

void sp_easy_defaults(CURL *c, const sp_easy_opts *o)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   /* threads, nginx: no SIGALRM */
    /* TLS verification is always on; there is deliberately no option to
     * turn it off. A private CA is configured with ca_file / ca_path. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");   /* all curl can decode */
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    /* A path is sent as the caller built it: dot segments that came from
     * an id ("..") must not turn one operation into another. */
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    /* A Content-Length over the bound fails before any body is read (the
     * body callback bounds the rest, decoded bytes included). */
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_answer);
#if SP_CURL_VER_GE(7, 85, 0)
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (o->http2 && (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2))
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    else
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (o->user_agent != NULL)
        curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent);
    if (o->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    if (o->ca_path != NULL)
        curl_easy_setopt(c, CURLOPT_CAPATH, o->ca_path);
    if (o->proxy != NULL)
        curl_easy_setopt(c, CURLOPT_PROXY, o->proxy);
}

void sp_easy_free_headers(struct curl_slist *list)
{
    struct curl_slist *node;
    for (node = list; node != NULL; node = node->next)
        sp_wipe(node->data, strlen(node->data));
    curl_slist_free_all(list);
}

void sp_easy_request(CURL *c, const char *method, const char *body, size_t len)
{
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "HEAD") == 0)
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (strcmp(method, "GET") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
}

const char *sp_easy_failure_kind(CURLcode rc, const char *errbuf)
{
    switch (rc) {
    case CURLE_WEIRD_SERVER_REPLY:
        return "protocol";
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* A status line that is not HTTP's, or a URL that is not http(s). */
        return strstr(errbuf, "response") != NULL ? "protocol" : "network";
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return "tls";
    case CURLE_FILESIZE_EXCEEDED:
        return "too_large";
    default:
        return strstr(errbuf, "chunked-encod") != NULL ? "protocol" : "network";
    }
}

static size_t collect_body(char *p, size_t size, size_t n, void *ud)
{
    sp_answer *a = ud;
    size_t len = size * n;
    if (len > a->max_body - a->body.len) {
        a->failure = SP_ANSWER_TOO_LARGE;
        return 0;   /* curl stops with CURLE_WRITE_ERROR */
    }
    if (sp_buf_append(&a->body, p, len) != 0) {
        a->failure = SP_ANSWER_NO_MEMORY;
        return 0;
    }
    return len;
}

/* Reads a Content-Length line. Returns 0 for another header, 1 for a
 * Content-Length of 1*DIGIT (RFC 9110 8.6; its value in *value, held at
 * UINT64_MAX when it is longer), -1 for one that is not: curl 7.88 reads
 * "0x2" as 0 and leaves the rest for the next answer; every transport
 * refuses it instead. */
static int length_line(const char *p, size_t len, uint64_t *value)
{
    static const char name[] = "content-length:";
    size_t i = sizeof name - 1, digits = 0;
    uint64_t v = 0;
    if (len < i || strncasecmp(p, name, i) != 0)
        return 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        unsigned d = (unsigned)(p[i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        i++;
        digits++;
    }
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (digits == 0 || i != len)
        return -1;
    *value = v;
    return 1;
}

static size_t collect_header(char *p, size_t size, size_t n, void *ud)
{
    sp_answer *a = ud;
    size_t len = size * n;
    uint64_t length = 0;
    /* curl hands over one whole line per call: it is counted before it is
     * kept, for every block of the answer together. */
    if (++a->head_lines > SP_MAX_HEADER_LINES) {
        a->failure = SP_ANSWER_HEADER_LINES;
        return 0;
    }
    if (len > SP_MAX_HEADER_BYTES - a->head_bytes) {
        a->failure = SP_ANSWER_HEADER_BYTES;
        return 0;
    }
    a->head_bytes += len;
    switch (length_line(p, len, &length)) {
    case -1:
        a->failure = SP_ANSWER_BAD_LENGTH;
        return 0;
    case 1:
        /* Two different lengths leave the answer's end to guesswork (curl
         * takes the last one): a smuggling proxy's trick, refused. */
        if (a->has_length && a->length != length) {
            a->failure = SP_ANSWER_TWO_LENGTHS;
            return 0;
        }
        a->has_length = 1;
        a->length = length;
        break;
    default:
        break;
    }
    /* A new status line (after "100 Continue" or a proxy's CONNECT answer)
     * starts the headers of the answer we actually keep. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        sp_buf_clear(&a->head, SIZE_MAX);
        a->has_length = 0;
    }
    if (sp_buf_append(&a->head, p, len) != 0) {
        a->failure = SP_ANSWER_NO_MEMORY;
        return 0;
    }
    return len;
}

#if SP_CURL_VER_GE(7, 80, 0)
/* Called once the transfer has its connection, each time a request is
 * about to be sent on it. A second call in one transfer is libcurl sending
 * the request again (no redirects are followed, no multi-pass
 * authentication is set): after a reused connection died before any byte
 * of the answer (libcurl 7.88: Curl_retry_request, then back to CONNECT
 * and DO), or, over HTTP/2, for a stream the server refused or wanted over
 * HTTP/1.1. It is refused for a request that is not safe to repeat
 * (sp_easy_once), in every one of those cases: from here they cannot be
 * told apart from a server that acted and then dropped the connection.
 * Then a reused HTTP/1 connection with something to read is refused. curl
 * closes a connection whose transfer a callback aborted, so the caller's
 * retry gets a fresh one; nothing was sent on it. */
static int check_connection(void *ud, char *peer_ip, char *local_ip, int peer_port, int local_port)
{
    sp_answer *a = ud;
    (void)local_ip;
    if (++a->prereqs > 1 && a->once) {
        a->failure = SP_ANSWER_REPLAY;
        return CURL_PREREQFUNC_ABORT;
    }
    if (a->sockets != NULL && sp_sockets_unread(a->sockets, peer_ip, peer_port, local_port)) {
        a->failure = SP_ANSWER_UNREAD;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}
#endif

void sp_easy_collect(CURL *c, sp_answer *a, sp_sockets *sockets)
{
    a->sockets = sockets;
    /* A token answer passes through here (and a hostile server may echo
     * the token or the secret in any answer): what these buffers let go
     * of is zeroed (sp_buf_wiping). */
    sp_buf_wiping(&a->body);
    sp_buf_wiping(&a->head);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
#if SP_CURL_VER_GE(7, 80, 0)
    curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, check_connection);
    curl_easy_setopt(c, CURLOPT_PREREQDATA, a);
#endif
}

void sp_easy_once(CURL *c, sp_answer *a, int once)
{
    a->once = once;
#if SP_CURL_VER_GE(7, 80, 0)
    /* The pre-request callback counts (check_connection). That costs
     * nothing, where a new connection for every POST would cost a TCP and
     * a TLS handshake each, on an API whose calls are mostly POSTs
     * (bench/cost.lua, docs/guide.md "Retries"). Refusing to rewind the
     * body would not do: libcurl rewinds CURLOPT_POSTFIELDS itself, it
     * never asks a CURLOPT_SEEKFUNCTION. */
    (void)c;
#else
    /* No pre-request callback before 7.80: a new connection, which libcurl
     * never sends a request on twice (it only retries on reused ones). */
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, once ? 1L : 0L);
#endif
}

void sp_easy_begin(sp_answer *a)
{
    a->prereqs = 0;
    sp_buf_clear(&a->body, SIZE_MAX);
    sp_buf_clear(&a->head, SIZE_MAX);
    a->head_lines = 0;
    a->head_bytes = 0;
    a->has_length = 0;
    a->failure = SP_ANSWER_OK;
}

void sp_easy_rested(CURL *c, sp_answer *a)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    long version = 0;
    if (a->sockets == NULL)
        return;
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &version);
    if (version != CURL_HTTP_VERSION_1_0 && version != CURL_HTTP_VERSION_1_1)
        return;
    if (curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK && fd != CURL_SOCKET_BAD)
        sp_sockets_rested_http1(a->sockets, (int)fd);
}

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
    int fd;
    (void)purpose;
    fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    if (sp_sockets_add(ud, fd) != 0) {
        close(fd);
        return CURL_SOCKET_BAD;   /* out of memory: this connection fails */
    }
    return fd;
}

static int close_socket(void *ud, curl_socket_t fd)
{
    sp_sockets_remove(ud, (int)fd);
    return close(fd);
}

void sp_easy_sockets(CURL *c, sp_sockets *s)
{
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, s);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, s);
}
