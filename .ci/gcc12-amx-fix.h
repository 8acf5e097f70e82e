/* Work around GCC < 13 bug: _tile_loadconfig() in amxtileintrin.h uses an
   8-byte "m" operand, so the compiler drops the stores that fill the 64-byte
   tile config before ldtilecfg -> invalid config -> #GP -> SIGSEGV. */
#if defined(__cplusplus) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#include <immintrin.h>
#undef _tile_loadconfig
#define _tile_loadconfig(p) \
    __asm__ volatile("ldtilecfg %0" :: "m"(*(const unsigned char (*)[64])(p)))
#endif
