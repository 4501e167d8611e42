/*
 * chunkstudy.c - how many bytes must a device download to go from v1.img to
 * v2.img under several chunking schemes?
 *
 *   cc -O2 -o chunkstudy chunkstudy.c -lz -lcrypto
 *   ./chunkstudy v1.img v2.img
 *
 * For every scheme (fixed-size blocks, FastCDC-style gear CDC):
 *   - chunk both images, SHA-256 every chunk (index time measured on v2)
 *   - a v2 chunk is "missing" if its SHA-256 is not among ALL v1 chunks of the
 *     same scheme; duplicates inside v2 are downloaded once
 *   - missing raw bytes; sum of per-chunk raw-deflate (zlib level 6, no zlib
 *     header/trailer) sizes of missing chunks
 *   - same, with a preset dictionary (deflateSetDictionary) taken from the
 *     OLD image at the same offset:
 *       dict1: one deflate stream per chunk, dictionary = v1 bytes ending at
 *              offset+min(len,32000) (32 KiB max).  Chunks > 32000 bytes can
 *              only use the dictionary for their first ~32000 bytes (zlib's
 *              window is 32 KiB).
 *       dictP: chunk split into independent 16 KiB pieces, each deflated with
 *              the 32 KiB of v1 ending at the piece's end as dictionary
 *              (so the whole chunk sees same-offset old bytes).
 *       dictS: dictionary = the most similar v1 chunk (by 4 gear-hash
 *              "super-features", resemblance detection a la Finesse/N-transform),
 *              16 KiB pieces as in dictP against the same relative offset.
 *       best : per chunk minimum of plain, dictP, dictS (encoder picks).
 *   - HTTP Range requests: the published blob is all unique v2 chunks,
 *     plain-deflated, in v2 order; missing chunks adjacent in the blob are one
 *     request (gap 0); with gap <= 4 KiB of unneeded blob bytes merged too
 *     (over-fetched bytes reported).
 *   - index size = number of v2 chunks * (32 B hash + 8 B offset/len).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>
#include <openssl/evp.h>

typedef struct { uint64_t off; uint32_t len; uint64_t h; } chunk_t;
typedef struct { chunk_t *c; size_t n, cap; } clist_t;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static uint64_t gear[256];
static uint64_t splitmix(uint64_t *s) { uint64_t z = (*s += 0x9e3779b97f4a7c15ULL); z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL; z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL; return z ^ (z >> 31); }

static void push(clist_t *l, uint64_t off, uint32_t len) {
  if (l->n == l->cap) { l->cap = l->cap ? l->cap * 2 : 4096; l->c = realloc(l->c, l->cap * sizeof(chunk_t)); }
  l->c[l->n].off = off; l->c[l->n].len = len; l->c[l->n].h = 0; l->n++;
}

static EVP_MD_CTX *mdctx;
static uint64_t sha256_64(const uint8_t *p, size_t n) {
  unsigned char d[32]; unsigned int dl;
  EVP_DigestInit_ex(mdctx, EVP_sha256(), NULL); EVP_DigestUpdate(mdctx, p, n); EVP_DigestFinal_ex(mdctx, d, &dl);
  uint64_t h; memcpy(&h, d, 8); return h;   /* full 32 B hash computed; 64-bit prefix kept for matching */
}

/* scheme: fixed (min=max=avg) or FastCDC normalized chunking */
typedef struct { const char *name; int fixed; uint32_t min, avg, max; } scheme_t;

static int log2i(uint32_t x) { int r = 0; while ((1u << r) < x) r++; return r; }

static void chunk_image(const uint8_t *p, size_t n, const scheme_t *s, clist_t *out) {
  out->n = 0;
  if (s->fixed) { for (size_t o = 0; o < n; o += s->avg) push(out, o, (uint32_t)((n - o) < s->avg ? (n - o) : s->avg)); return; }
  int b = log2i(s->avg);
  uint64_t maskS = ((1ULL << (b + 1)) - 1) << (64 - (b + 1));  /* harder before avg */
  uint64_t maskL = ((1ULL << (b - 1)) - 1) << (64 - (b - 1));  /* easier after avg */
  size_t o = 0;
  while (o < n) {
    size_t rem = n - o, lim = rem < s->max ? rem : s->max, cut = lim;
    if (rem > s->min) {
      uint64_t h = 0; size_t i = s->min, mid = s->avg < lim ? s->avg : lim;
      for (; i < mid; i++) { h = (h << 1) + gear[p[o + i]]; if (!(h & maskS)) { cut = i + 1; goto done; } }
      for (; i < lim; i++) { h = (h << 1) + gear[p[o + i]]; if (!(h & maskL)) { cut = i + 1; goto done; } }
    }
  done:
    push(out, o, (uint32_t)cut); o += cut;
  }
}

/* open-addressing set of 64-bit keys -> value */
typedef struct { uint64_t *k; uint32_t *v; size_t mask; } hset_t;
static void hs_init(hset_t *s, size_t n) { size_t c = 1; while (c < n * 2 + 16) c <<= 1; s->k = calloc(c, 8); s->v = calloc(c, 4); s->mask = c - 1; }
static void hs_free(hset_t *s) { free(s->k); free(s->v); }
static uint64_t mixk(uint64_t k) { k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33; return k | 1; /* never 0 */ }
/* returns 1 if inserted, 0 if present; *val gets stored value */
static int hs_put(hset_t *s, uint64_t key, uint32_t val, uint32_t *old) {
  uint64_t k = mixk(key); size_t i = k & s->mask;
  while (s->k[i]) { if (s->k[i] == k) { if (old) *old = s->v[i]; return 0; } i = (i + 1) & s->mask; }
  s->k[i] = k; s->v[i] = val; return 1;
}
static int hs_get(hset_t *s, uint64_t key, uint32_t *val) {
  uint64_t k = mixk(key); size_t i = k & s->mask;
  while (s->k[i]) { if (s->k[i] == k) { if (val) *val = s->v[i]; return 1; } i = (i + 1) & s->mask; }
  return 0;
}

/* raw deflate level 6, optional preset dictionary */
static z_stream zs; static uint8_t *zbuf; static size_t zbufsz;
static size_t deflate_size(const uint8_t *p, size_t n, const uint8_t *dict, size_t dn) {
  size_t need = deflateBound(&zs, n) + 64;
  if (need > zbufsz) { zbufsz = need; zbuf = realloc(zbuf, zbufsz); }
  deflateReset(&zs);
  if (dict && dn) deflateSetDictionary(&zs, dict, (uInt)dn);
  zs.next_in = (Bytef *)p; zs.avail_in = (uInt)n; zs.next_out = zbuf; zs.avail_out = (uInt)zbufsz;
  int r = deflate(&zs, Z_FINISH); if (r != Z_STREAM_END) { fprintf(stderr, "deflate %d\n", r); exit(1); }
  return zs.total_out;
}

#define WIN 32000u  /* usable zlib distance is 32768-262 */
#define PIECE 16384u

/* single stream, dict = base[boff .. boff+min(len,WIN)) preceded by up to 32 KiB */
static size_t dict1_size(const uint8_t *p, size_t n, const uint8_t *base, size_t bn, size_t boff) {
  size_t de = boff + (n < WIN ? n : WIN); if (de > bn) de = bn;
  size_t ds = de > 32768 ? de - 32768 : 0; if (ds >= de) return deflate_size(p, n, NULL, 0);
  return deflate_size(p, n, base + ds, de - ds);
}
/* 16 KiB pieces, each with the 32 KiB of base ending at the piece's end */
static size_t dictP_size(const uint8_t *p, size_t n, const uint8_t *base, size_t bn, size_t boff) {
  size_t tot = 0;
  for (size_t i = 0; i < n; i += PIECE) {
    size_t pl = n - i < PIECE ? n - i : PIECE;
    size_t de = boff + i + pl; if (de > bn) de = bn;
    size_t ds = de > 32768 ? de - 32768 : 0;
    tot += (ds < de) ? deflate_size(p + i, pl, base + ds, de - ds) : deflate_size(p + i, pl, NULL, 0);
  }
  return tot;
}

/* 4 resemblance features: max over positions of (m_k * rolling_gear + a_k) */
#define NF 4
static const uint64_t fm[NF] = {0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL, 0xd6e8feb86659fd93ULL};
static const uint64_t fa[NF] = {0x27d4eb2f165667c5ULL, 0x85ebca77c2b2ae63ULL, 0xff51afd7ed558ccdULL, 0xc4ceb9fe1a85ec53ULL};
static void features(const uint8_t *p, size_t n, uint64_t f[NF]) {
  uint64_t h = 0; for (int k = 0; k < NF; k++) f[k] = 0;
  for (size_t i = 0; i < n; i++) {
    h = (h << 1) + gear[p[i]];
    if (i < 32) continue;
    if ((h & 0x1f) != 0) continue;           /* sample 1/32 of positions (cheap) */
    for (int k = 0; k < NF; k++) { uint64_t v = h * fm[k] + fa[k]; if (v > f[k]) f[k] = v; }
  }
  for (int k = 0; k < NF; k++) f[k] = f[k] * 31 + k + 1;  /* distinct key spaces per feature */
}

static const uint8_t *map(const char *fn, size_t *n) {
  int fd = open(fn, O_RDONLY); if (fd < 0) { perror(fn); exit(1); }
  struct stat st; fstat(fd, &st); *n = st.st_size;
  void *p = mmap(NULL, *n, PROT_READ, MAP_PRIVATE, fd, 0); if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  close(fd); return p;
}

static int is_zero(const uint8_t *p, size_t n) { for (size_t i = 0; i < n; i++) if (p[i]) return 0; return 1; }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s v1.img v2.img\n", argv[0]); return 2; }
  size_t n1, n2; const uint8_t *a = map(argv[1], &n1), *b = map(argv[2], &n2);
  uint64_t seed = 0x5107c71; for (int i = 0; i < 256; i++) gear[i] = splitmix(&seed);
  mdctx = EVP_MD_CTX_new();
  deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  /* warm the page cache */
  volatile uint64_t x = 0; for (size_t i = 0; i < n1; i += 4096) x += a[i]; for (size_t i = 0; i < n2; i += 4096) x += b[i];

  scheme_t S[] = {
    {"fixed-4K", 1, 4096, 4096, 4096},
    {"fixed-64K", 1, 65536, 65536, 65536},
    {"cdc-2K/8K/32K", 0, 2048, 8192, 32768},
    {"cdc-4K/16K/64K", 0, 4096, 16384, 65536},
    {"cdc-16K/64K/256K", 0, 16384, 65536, 262144},
  };
  int ns = sizeof S / sizeof S[0];
  printf("# v1 %s (%zu B), v2 %s (%zu B)\n", argv[1], n1, argv[2], n2);
  printf("| scheme | v2 chunks | index B | chunk+SHA256 s (v2) | missing chunks | missing raw B | zlib plain B | dict1 same-off B | dictP same-off B | dictS similar B | best-of B | ranges gap0 | ranges gap<=4K (+overfetch B) | zlib all v2 B | compress s |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  clist_t c1 = {0}, c2 = {0};
  for (int si = 0; si < ns; si++) {
    const scheme_t *s = &S[si];
    chunk_image(a, n1, s, &c1);
    for (size_t i = 0; i < c1.n; i++) c1.c[i].h = sha256_64(a + c1.c[i].off, c1.c[i].len);
    double t0 = now();
    chunk_image(b, n2, s, &c2);
    for (size_t i = 0; i < c2.n; i++) c2.c[i].h = sha256_64(b + c2.c[i].off, c2.c[i].len);
    double tidx = now() - t0;

    hset_t h1; hs_init(&h1, c1.n);
    for (size_t i = 0; i < c1.n; i++) hs_put(&h1, c1.c[i].h, (uint32_t)i, NULL);

    /* resemblance features of v1 chunks (skip all-zero chunks) */
    hset_t fs; hs_init(&fs, c1.n * NF);
    for (size_t i = 0; i < c1.n; i++) {
      const uint8_t *p = a + c1.c[i].off; if (is_zero(p, c1.c[i].len)) continue;
      uint64_t f[NF]; features(p, c1.c[i].len, f);
      for (int k = 0; k < NF; k++) hs_put(&fs, f[k], (uint32_t)i, NULL);
    }

    hset_t seen; hs_init(&seen, c2.n);
    size_t nmiss = 0; uint64_t raw = 0, zp = 0, zd1 = 0, zdp = 0, zds = 0, zbest = 0, zall = 0;
    size_t r0 = 0, r4 = 0; uint64_t over4 = 0;
    int prev_missing = 0; uint64_t gap = 0;  /* blob bytes since last missing chunk */
    int open4 = 0;
    double t1 = now();
    for (size_t i = 0; i < c2.n; i++) {
      const chunk_t *c = &c2.c[i];
      if (!hs_put(&seen, c->h, (uint32_t)i, NULL)) continue;   /* duplicate inside v2: not in blob again */
      const uint8_t *p = b + c->off;
      size_t zc = deflate_size(p, c->len, NULL, 0);
      zall += zc;
      int missing = !hs_get(&h1, c->h, NULL);
      if (!missing) { prev_missing = 0; gap += zc; continue; }
      nmiss++; raw += c->len; zp += zc;
      size_t d1 = dict1_size(p, c->len, a, n1, c->off);
      size_t dp = dictP_size(p, c->len, a, n1, c->off);
      size_t dsz = (size_t)-1;
      uint64_t f[NF]; features(p, c->len, f);
      uint32_t cand[NF]; int nc = 0;
      for (int k = 0; k < NF; k++) { uint32_t v; if (hs_get(&fs, f[k], &v)) cand[nc++] = v; }
      if (nc) {  /* majority candidate */
        int bestc = 0, bestn = 0;
        for (int x1 = 0; x1 < nc; x1++) { int m = 0; for (int x2 = 0; x2 < nc; x2++) m += cand[x2] == cand[x1]; if (m > bestn) { bestn = m; bestc = x1; } }
        const chunk_t *bc = &c1.c[cand[bestc]];
        dsz = dictP_size(p, c->len, a, bc->off + bc->len, bc->off);
      }
      zd1 += d1; zdp += dp; zds += (dsz == (size_t)-1) ? zc : dsz;
      size_t m = zc; if (dp < m) m = dp; if (dsz < m) m = dsz; zbest += m;
      /* range requests on the plain-deflated blob */
      if (!prev_missing) r0++;
      if (!open4 || gap > 4096) r4++; else over4 += gap;
      open4 = 1; prev_missing = 1; gap = 0;
    }
    double tcomp = now() - t1;
    printf("| %s | %zu | %zu | %.2f | %zu | %llu | %llu | %llu | %llu | %llu | %llu | %zu | %zu (+%llu) | %llu | %.1f |\n",
           s->name, c2.n, c2.n * 40, tidx, nmiss, (unsigned long long)raw, (unsigned long long)zp,
           (unsigned long long)zd1, (unsigned long long)zdp, (unsigned long long)zds, (unsigned long long)zbest,
           r0, r4, (unsigned long long)over4, (unsigned long long)zall, tcomp);
    fflush(stdout);
    hs_free(&h1); hs_free(&fs); hs_free(&seen);
  }
  return 0;
}
