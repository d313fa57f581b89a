/* The generic Lua target: spec/fuzz/targets/<SP_FUZZ_TARGET>.lua returns a
 * function(data) that feeds the input to the Lua code under test and
 * raises when an invariant breaks. Any raise (or a memory or API error
 * underneath) is a finding. The Makefile builds build/fuzz/fuzz_<name> for
 * every file in targets/: a new Lua-level target (the webhook body parser,
 * say) is that file, a seed folder spec/fuzz/corpus/<name>/ and a
 * dictionary spec/fuzz/dict/<name>.dict. */
#include "harness.h"

#ifndef SP_FUZZ_TARGET
#error "build with -DSP_FUZZ_TARGET=\"name\" (see the Makefile's fuzz rules)"
#endif

static lua_State *L;
static int target;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = sp_fuzz_state();
    if (luaL_loadfile(L, "spec/fuzz/targets/" SP_FUZZ_TARGET ".lua") != 0) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    lua_call(L, 0, 1);
    luaL_checktype(L, -1, LUA_TFUNCTION);
    target = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, target);
    lua_pushlstring(L, (const char *)data, size);
    sp_fuzz_pcall(L, 1, SP_FUZZ_TARGET);
    return 0;
}
