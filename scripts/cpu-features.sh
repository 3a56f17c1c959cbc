#!/usr/bin/env bash
# Print the llama.cpp (ggml) CMake options for the x86 instructions this machine can execute.
#
#   scripts/cpu-features.sh        -> -DGGML_NATIVE=OFF -DGGML_AVX=ON ... -DGGML_AMX_INT8=OFF
#
# /proc/cpuinfo says what the processor has, not what a process may use: a VM can list amx_tile while
# the kernel never grants the tile state, and a GGML_NATIVE build then dies with SIGILL at its first
# evaluation. So each instruction set is compiled into a tiny program and run; only the ones that ran
# are turned on. AMX is asked for as a program must ask (arch_prctl ARCH_REQ_XCOMP_PERM) before use.
# Other architectures keep GGML_NATIVE=ON: the compiler's view of them is not known to lie.
set -euo pipefail
case $(uname -m) in x86_64|amd64) ;; *) echo "-DGGML_NATIVE=ON"; exit 0 ;; esac
cc=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# runs NAME "COMPILER FLAGS" 'C statements using v (a volatile int set to 1)'
runs() {
    local name=$1 flags=$2 body=$3
    cat >"$work/$name.c" <<C
#include <immintrin.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <string.h>
volatile int v = 1;
int main(void) { $body return 0; }
C
    # shellcheck disable=SC2086
    "$cc" -O0 $flags -o "$work/$name" "$work/$name.c" 2>/dev/null || return 1
    # The shell's own "Illegal instruction" report is the expected answer here, not news.
    { timeout 10 "$work/$name" >/dev/null 2>&1; } 2>/dev/null
}

avx512='-mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw'
amx_ask='if (syscall(SYS_arch_prctl, 0x1023, 18)) return 3;
    unsigned char cfg[64]; memset(cfg, 0, 64); cfg[0] = 1; cfg[16] = 64; cfg[48] = 16;
    _tile_loadconfig(cfg); _tile_zero(0);'
declare -A ok
check() { if runs "$@"; then ok[$1]=ON; else ok[$1]=OFF; fi; }
check SSE42 '-msse4.2' '(void)_mm_crc32_u8(v, 1);'
check AVX '-mavx' '__m256 a = _mm256_set1_ps(v); a = _mm256_add_ps(a, a); (void)a;'
check AVX2 '-mavx2' '__m256i a = _mm256_set1_epi32(v); a = _mm256_add_epi32(a, a); (void)a;'
check FMA '-mavx -mfma' '__m256 a = _mm256_set1_ps(v); a = _mm256_fmadd_ps(a, a, a); (void)a;'
check F16C '-mavx -mf16c' '__m128 a = _mm_cvtph_ps(_mm_set1_epi16(v)); (void)a;'
check BMI2 '-mbmi2' '(void)_pdep_u32(v, 3);'
check AVX_VNNI '-mavx2 -mavxvnni' '__m256i a = _mm256_set1_epi32(v); a = _mm256_dpbusd_avx_epi32(a, a, a); (void)a;'
check AVX512 "$avx512" '__m512i a = _mm512_set1_epi16(v); a = _mm512_add_epi16(a, a); (void)a;'
check AVX512_VBMI "$avx512 -mavx512vbmi" '__m512i a = _mm512_set1_epi8(v); a = _mm512_permutexvar_epi8(a, a); (void)a;'
check AVX512_VNNI "$avx512 -mavx512vnni" '__m512i a = _mm512_set1_epi32(v); a = _mm512_dpbusd_epi32(a, a, a); (void)a;'
check AVX512_BF16 "$avx512 -mavx512bf16" '__m512 a = _mm512_set1_ps(v); __m512bh b = _mm512_cvtne2ps_pbh(a, a); (void)b;'
check AMX_TILE '-mamx-tile' "$amx_ask _tile_release();"
check AMX_INT8 '-mamx-tile -mamx-int8' "$amx_ask _tile_zero(1); _tile_zero(2); _tile_dpbssd(0, 1, 2); _tile_release();"
check AMX_BF16 '-mamx-tile -mamx-bf16' "$amx_ask _tile_zero(1); _tile_zero(2); _tile_dpbf16ps(0, 1, 2); _tile_release();"

# An extension is usable only with what it builds on.
[ "${ok[AVX]}" = ON ] || { ok[AVX2]=OFF ok[FMA]=OFF ok[F16C]=OFF ok[AVX_VNNI]=OFF ok[AVX512]=OFF; }
[ "${ok[AVX512]}" = ON ] || { ok[AVX512_VBMI]=OFF ok[AVX512_VNNI]=OFF ok[AVX512_BF16]=OFF; }
[ "${ok[AMX_TILE]}" = ON ] || { ok[AMX_INT8]=OFF ok[AMX_BF16]=OFF; }
out="-DGGML_NATIVE=OFF"
for f in SSE42 AVX AVX2 FMA F16C BMI2 AVX_VNNI AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 AMX_TILE AMX_INT8 AMX_BF16; do
    out+=" -DGGML_$f=${ok[$f]}"
done
echo "$out"
