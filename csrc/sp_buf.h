/* A growable byte buffer. Lua-free: used by the HTTP transport for answer
 * bodies and headers, and by the encoders. */
#ifndef SP_BUF_H
#define SP_BUF_H

#include <stddef.h>

typedef struct sp_buf {
    char  *data;
    size_t len;
    size_t cap;
    int    wipe;   /* zero the bytes it lets go of: see sp_buf_wiping */
} sp_buf;

#define SP_BUF_INIT { NULL, 0, 0, 0 }

/* A buffer reused from call to call (answers, encoder output, scratch)
 * gives its memory back once it grew past this: one huge answer must not pin
 * its memory for the owner's whole life. For sp_buf_clear's keep_max. */
#define SP_KEEP_BUFFER 65536

/* Zeroes n bytes at p in a way the compiler may not drop as a dead store
 * (a memset right before free() may otherwise be removed). */
void sp_wipe(void *p, size_t n);

/* Marks b as holding secrets (a token answer, a token request body, header
 * lines with the Bearer token): from now on every byte it lets go of is
 * zeroed first, when it is cleared, freed, or moved to a larger block as it
 * grows, so no copy is left in memory the allocator hands out again. */
void sp_buf_wiping(sp_buf *b);

/* Each returns 0, or -1 when memory ran out (the buffer is then unchanged). */
int  sp_buf_reserve(sp_buf *b, size_t extra);
int  sp_buf_append(sp_buf *b, const void *p, size_t n);
int  sp_buf_putc(sp_buf *b, char c);

/* Empties the buffer but keeps its memory, unless it grew past keep_max bytes:
 * one huge answer must not pin its memory for the client's whole life. */
void sp_buf_clear(sp_buf *b, size_t keep_max);
void sp_buf_free(sp_buf *b);

#endif
