/* Shared easy-handle settings: see sp_easy.h. */
#include <string.h>

#include "sp_easy.h"

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

int sp_easy_request(CURL *c, const char *method, const char *body, size_t len, int copy)
{
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        if (copy) {
            if (curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK)
                return -1;
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "HEAD") == 0)
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (strcmp(method, "GET") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    return 0;
}

const char *sp_easy_failure_kind(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return "tls";
    default:
        return "network";
    }
}

static size_t collect_body(char *p, size_t size, size_t n, void *ud)
{
    sp_answer *a = ud;
    if (sp_buf_append(&a->body, p, size * n) != 0) {
        a->out_of_memory = 1;
        return 0;   /* curl stops with CURLE_WRITE_ERROR */
    }
    return size * n;
}

static size_t collect_header(char *p, size_t size, size_t n, void *ud)
{
    sp_answer *a = ud;
    size_t len = size * n;
    /* A new status line (after "100 Continue" or a proxy's CONNECT answer)
     * starts the headers of the answer we actually keep. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        a->head.len = 0;
    if (sp_buf_append(&a->head, p, len) != 0) {
        a->out_of_memory = 1;
        return 0;
    }
    return len;
}

void sp_easy_collect(CURL *c, sp_answer *a)
{
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
}
