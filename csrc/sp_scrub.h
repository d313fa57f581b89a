/* Finding secrets in text a server sent back. Lua-free.
 *
 * A token endpoint behind a proxy that echoes the request (some error
 * pages do) put "client_secret=..." into an error message; a server may
 * just as well echo the Authorization header. Before such text reaches an
 * error message, a hook event or a log line, every secret in it is
 * replaced by SP_SCRUB_MARK, in each form a server or proxy plausibly
 * echoes it:
 *   - as is;
 *   - percent-encoded (upper- and lower-case hex, '+' for a space, and
 *     encoded twice), as a form body or a URL carries it;
 *   - JSON-escaped (also with "\/", as PHP writes a slash);
 *   - Base64 and base64url, at each of the three alignments a secret can
 *     have inside a longer encoded text (the characters that depend on the
 *     secret alone), of the secret and of its percent-encoded form (how
 *     the token request's body carries it).
 * Forms shorter than SP_SCRUB_MIN bytes are not searched: they would match
 * ordinary words (a real client secret or token is far longer).
 * A server may also echo part of a secret (a message cut at some length):
 * every run of SP_SCRUB_PART bytes of the secret as is, or of its
 * percent-encoded form, is replaced too, so no such run is left whatever
 * the cut. (Parts of the other forms are not searched: their cost grows
 * with every form, and a cut Base64 or JSON echo is far less plausible.)
 *
 * The mark is SP_SCRUB_MARK, or "[hidden]", "<hidden>", "{hidden}",
 * "|hidden|" when a secret holds a parenthesis (the first whose brackets
 * appear in no secret): a secret that began with ")" could otherwise form
 * again out of a mark and the text after it. (When every mark clashes, the
 * text is scrubbed again, at most 8 times.) */
#ifndef SP_SCRUB_H
#define SP_SCRUB_H

#include <stddef.h>
#include "sp_buf.h"

#define SP_SCRUB_MARK "(hidden)"
#define SP_SCRUB_MIN 8
#define SP_SCRUB_PART 10   /* >= the mark's length: see pick_mark */

/* Appends to out the text s (n bytes) with every occurrence of the secrets
 * (count NUL-terminated strings; NULL entries are skipped), in every form
 * above, replaced by SP_SCRUB_MARK. Returns the number of replacements
 * (out is left as it was when there are none), or -1 when memory ran out.
 * Every buffer that held a form of a secret is zeroed before it is freed. */
int sp_scrub(sp_buf *out, const char *s, size_t n, const char *const *secrets, size_t count);

#endif
