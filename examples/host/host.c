/* An example host: a C program that embeds Lua 5.4 and links lua-sendpulse
 * statically, the way a game or a tool with a Lua scripting layer would.
 *
 * It runs a frame loop at 60 frames per second. Each frame it calls the
 * script's frame() in every Lua state; the script keeps SendPulse calls in
 * flight through client:poll() and never blocks the frame. Two independent
 * lua_States run side by side (the library keeps no global state beyond
 * libcurl's global init), each with its own client and calls. Odd states
 * load the library's Lua files from LUA_DIR; even ones from the copy
 * compiled into this program (sendpulse_embedded.c, made by
 * examples/host/embed_lua.lua), with an empty package.path.
 *
 *   host BASE_URL [LUA_DIR [SCRIPT [MAX_FRAME_MS [STATES]]]]
 *
 * Prints the frame count, the longest frame (work done in the frame) and
 * the longest gap between two frame starts (what a player would notice).
 * Exits 1 when the longest gap exceeds MAX_FRAME_MS (0: no check) or a
 * script failed, 0 otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

/* From libsendpulse.a: the C core, registered with luaL_requiref. */
#include "sendpulse_core.h"
/* From the generated sendpulse_embedded.c: the Lua files, into
 * package.preload. */
int luaopen_sendpulse_embedded(lua_State *L);

#define FRAME_NS    (1000000000L / 60)
#define MAX_FRAMES  (60 * 30)      /* give up after 30 s */
#define MAX_STATES  4

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_until(const struct timespec *t)
{
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) != 0)
        ;
}

/* Calls game[name](args already pushed: nargs) with one result; on error
 * prints it and returns 0. The game table is in the registry as "game". */
static int call_game(lua_State *L, const char *name, int nargs, int id)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "game");
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    lua_insert(L, -1 - nargs);
    if (lua_pcall(L, nargs, 1, 0) != LUA_OK) {
        fprintf(stderr, "state %d: %s failed: %s\n", id, name, lua_tostring(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

static lua_State *new_state(const char *lua_dir, const char *script, const char *base_url, int id,
                            int embedded)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return NULL;
    luaL_openlibs(L);
    /* The C core comes from this program, not from a core.so on disk. */
    luaL_requiref(L, "sendpulse.core", luaopen_sendpulse_core, 0);
    lua_pop(L, 1);
    /* The Lua half: from the filesystem, or compiled in (then nothing may
     * come from disk). package.cpath is left alone: the library loads no
     * other C module (JSON is in the core). */
    lua_getglobal(L, "package");
    if (embedded) {
        luaL_requiref(L, "sendpulse.embedded", luaopen_sendpulse_embedded, 0);
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    } else {
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lua_dir, lua_dir);
    }
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    if (luaL_dofile(L, script) != LUA_OK || !lua_istable(L, -1)) {
        fprintf(stderr, "state %d: %s: %s\n", id, script,
                lua_isstring(L, -1) ? lua_tostring(L, -1) : "did not return a table");
        lua_close(L);
        return NULL;
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "game");
    lua_pushstring(L, base_url);
    lua_pushinteger(L, id);
    if (!call_game(L, "start", 2, id)) {
        lua_close(L);
        return NULL;
    }
    lua_pop(L, 1);
    return L;
}

int main(int argc, char **argv)
{
    const char *base_url, *lua_dir, *script;
    double max_frame_ms, longest_work = 0, longest_gap = 0, prev_start = 0;
    lua_State *states[MAX_STATES];
    int finished[MAX_STATES] = { 0 };
    int n_states, i, frame, failed = 0, all_done = 0;
    struct timespec next;

    if (argc < 2) {
        fprintf(stderr, "usage: %s BASE_URL [LUA_DIR [SCRIPT [MAX_FRAME_MS [STATES]]]]\n", argv[0]);
        return 2;
    }
    base_url = argv[1];
    lua_dir = argc > 2 ? argv[2] : "lua";
    script = argc > 3 ? argv[3] : "examples/host/game.lua";
    max_frame_ms = argc > 4 ? atof(argv[4]) : 0;
    n_states = argc > 5 ? atoi(argv[5]) : 2;
    if (n_states < 1 || n_states > MAX_STATES) {
        fprintf(stderr, "STATES must be 1 to %d\n", MAX_STATES);
        return 2;
    }
    /* A host that uses libcurl itself initialises it too: libcurl counts
     * the calls, so the module's own init and this one coexist. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        return 1;
    }
    for (i = 0; i < n_states; i++) {
        states[i] = new_state(lua_dir, script, base_url, i + 1, (i + 1) % 2 == 0);
        if (states[i] == NULL) {
            while (i-- > 0)
                lua_close(states[i]);
            curl_global_cleanup();
            return 1;
        }
    }

    clock_gettime(CLOCK_MONOTONIC, &next);
    for (frame = 1; frame <= MAX_FRAMES && !all_done; frame++) {
        double start = now_ms(), work;
        if (prev_start > 0 && start - prev_start > longest_gap)
            longest_gap = start - prev_start;
        prev_start = start;
        all_done = 1;
        for (i = 0; i < n_states; i++) {
            if (finished[i])
                continue;
            lua_pushinteger(states[i], frame);
            if (!call_game(states[i], "frame", 1, i + 1)) {
                finished[i] = 1;
                failed = 1;
                continue;
            }
            finished[i] = lua_toboolean(states[i], -1);
            lua_pop(states[i], 1);
            all_done = all_done && finished[i];
        }
        /* ... the game would render here ... */
        work = now_ms() - start;
        if (work > longest_work)
            longest_work = work;
        next.tv_nsec += FRAME_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        sleep_until(&next);
    }
    if (!all_done) {
        fprintf(stderr, "the calls did not finish within %d frames\n", MAX_FRAMES);
        failed = 1;
    }
    for (i = 0; i < n_states; i++) {
        if (call_game(states[i], "finish", 0, i + 1))
            printf("state %d: %s\n", i + 1, lua_tostring(states[i], -1));
        else
            failed = 1;
        lua_close(states[i]);
    }
    curl_global_cleanup();
    printf("frames %d, longest frame %.2f ms, longest gap between frames %.2f ms\n",
           frame - 1, longest_work, longest_gap);
    if (max_frame_ms > 0 && longest_gap > max_frame_ms) {
        printf("longest gap %.2f ms exceeds %.0f ms\n", longest_gap, max_frame_ms);
        failed = 1;
    }
    return failed;
}
