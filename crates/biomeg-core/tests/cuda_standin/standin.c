/* A stand-in for libcudart + libcublas, so CI exercises biomeg's whole cuBLAS dispatch without a
 * GPU. "Device" memory is host memory that this library tracks; cublasSgemm_v2 is a naive
 * column-major GEMM (double accumulation) that validates its arguments the way cuBLAS does:
 * CUBLAS_STATUS_INVALID_VALUE for a bad transpose, negative size or too-small leading dimension,
 * CUBLAS_STATUS_EXECUTION_FAILED (a real GPU's illegal address) when an operand runs past its
 * device allocation or is not a device pointer. New allocations are filled with NaN so that a
 * caller who reads C with beta = 0, or reads memory it never uploaded, gets wrong results.
 *
 * Switches (read at load time from the environment, or set with the standin_* functions):
 *   STANDIN_DEVICE_COUNT=N          cudaGetDeviceCount reports N (default 1; 0 = cudaErrorNoDevice)
 *   STANDIN_FAIL_MALLOC_AFTER=N     cudaMalloc fails with cudaErrorMemoryAllocation after N successes
 *   STANDIN_SGEMM_STATUS=S          cublasSgemm_v2 returns status S ...
 *   STANDIN_SGEMM_FAIL_AFTER=N      ... after N successful calls (default 0)
 *   STANDIN_MATH_MODE_STATUS=S      cublasSetMathMode returns S
 *   STANDIN_CORRUPT=1               sgemm adds 1 to every result (a broken library; the self-test must notice)
 * Compile: cc -shared -fPIC -O2 -pthread -o libstandin.so standin.c  (-DSTANDIN_NO_SGEMM leaves out
 * cublasSgemm_v2, to test a missing symbol). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t n;
    int pinned;
} Alloc;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static Alloc *allocs;
static size_t nallocs, capallocs;
static int device_count = 1, current_device = 0;
static long long fail_malloc_after = -1, sgemm_fail_after = 0;
static int sgemm_status = 0, math_mode_status = 0, corrupt = 0, last_math_mode = -1;
static long long n_sgemm, n_malloc, n_set_device, h2d_bytes, d2h_bytes, live_handles, n_create;
static char last_error[512];

static long long env_ll(const char *name, long long dflt) {
    const char *v = getenv(name);
    return v && *v ? atoll(v) : dflt;
}

__attribute__((constructor)) static void standin_init(void) {
    device_count = (int)env_ll("STANDIN_DEVICE_COUNT", 1);
    fail_malloc_after = env_ll("STANDIN_FAIL_MALLOC_AFTER", -1);
    sgemm_status = (int)env_ll("STANDIN_SGEMM_STATUS", 0);
    sgemm_fail_after = env_ll("STANDIN_SGEMM_FAIL_AFTER", 0);
    math_mode_status = (int)env_ll("STANDIN_MATH_MODE_STATUS", 0);
    corrupt = (int)env_ll("STANDIN_CORRUPT", 0);
}

/* ---- controls and counters for tests ---- */
void standin_set_device_count(int n) { device_count = n; }
void standin_fail_malloc_after(long long n) { fail_malloc_after = n; }
void standin_set_sgemm_status(int status, long long after) { sgemm_status = status; sgemm_fail_after = after; }
void standin_set_math_mode_status(int s) { math_mode_status = s; }
void standin_set_corrupt(int c) { corrupt = c; }
const char *standin_last_error(void) { return last_error; }
long long standin_stat(const char *name) {
    long long r = -1;
    pthread_mutex_lock(&mu);
    if (!strcmp(name, "sgemm_calls")) r = n_sgemm;
    else if (!strcmp(name, "malloc_calls")) r = n_malloc;
    else if (!strcmp(name, "set_device_calls")) r = n_set_device;
    else if (!strcmp(name, "h2d_bytes")) r = h2d_bytes;
    else if (!strcmp(name, "d2h_bytes")) r = d2h_bytes;
    else if (!strcmp(name, "live_handles")) r = live_handles;
    else if (!strcmp(name, "handles_created")) r = n_create;
    else if (!strcmp(name, "math_mode")) r = last_math_mode;
    else if (!strcmp(name, "current_device")) r = current_device;
    else if (!strcmp(name, "live_device_allocs") || !strcmp(name, "live_pinned_allocs")) {
        int want_pinned = !strcmp(name, "live_pinned_allocs");
        r = 0;
        for (size_t i = 0; i < nallocs; i++) r += allocs[i].pinned == want_pinned;
    } else if (!strcmp(name, "live_device_bytes")) {
        r = 0;
        for (size_t i = 0; i < nallocs; i++)
            if (!allocs[i].pinned) r += (long long)allocs[i].n;
    }
    pthread_mutex_unlock(&mu);
    return r;
}

/* The allocation holding [p, p + bytes), of the given kind (pinned or device), or NULL. Caller holds mu. */
static Alloc *find(const void *p, size_t bytes, int pinned) {
    const char *c = (const char *)p;
    for (size_t i = 0; i < nallocs; i++) {
        Alloc *a = &allocs[i];
        if (a->pinned == pinned && c >= a->p && c <= a->p + a->n && bytes <= (size_t)(a->p + a->n - c)) return a;
    }
    return NULL;
}
static int is_device(const void *p) {
    const char *c = (const char *)p;
    for (size_t i = 0; i < nallocs; i++)
        if (!allocs[i].pinned && c >= allocs[i].p && c < allocs[i].p + allocs[i].n) return 1;
    return 0;
}

static int track(void **out, size_t n, int pinned) {
    char *p = malloc(n ? n : 1);
    if (!p) return 2;
    memset(p, 0xFF, n); /* NaN as f32 */
    if (nallocs == capallocs) {
        capallocs = capallocs ? 2 * capallocs : 64;
        allocs = realloc(allocs, capallocs * sizeof(Alloc));
    }
    allocs[nallocs++] = (Alloc){p, n, pinned};
    *out = p;
    return 0;
}
static int untrack(void *p, int pinned) {
    if (!p) return 0;
    for (size_t i = 0; i < nallocs; i++) {
        if (allocs[i].p == p && allocs[i].pinned == pinned) {
            free(p);
            allocs[i] = allocs[--nallocs];
            return 0;
        }
    }
    snprintf(last_error, sizeof last_error, "free of unknown %s pointer %p", pinned ? "host" : "device", p);
    return 1; /* cudaErrorInvalidValue */
}

/* ---- CUDA runtime ---- */
int cudaGetDeviceCount(int *n) {
    *n = device_count > 0 ? device_count : 0;
    return device_count > 0 ? 0 : 100; /* cudaErrorNoDevice */
}
int cudaSetDevice(int d) {
    pthread_mutex_lock(&mu);
    n_set_device++;
    int rc = (d < 0 || d >= device_count) ? 101 : 0; /* cudaErrorInvalidDevice */
    if (!rc) current_device = d;
    pthread_mutex_unlock(&mu);
    return rc;
}
int cudaRuntimeGetVersion(int *v) { *v = 12080; return 0; }
int cudaDriverGetVersion(int *v) { *v = 12080; return 0; }
const char *cudaGetErrorString(int e) {
    switch (e) {
    case 0: return "no error";
    case 1: return "invalid argument";
    case 2: return "out of memory";
    case 21: return "invalid copy direction";
    case 100: return "no CUDA-capable device is detected";
    case 101: return "invalid device ordinal";
    default: return "unknown error";
    }
}
int cudaMalloc(void **p, size_t n) {
    pthread_mutex_lock(&mu);
    int rc;
    if (fail_malloc_after == 0) {
        snprintf(last_error, sizeof last_error, "cudaMalloc(%zu): out of memory (switch)", n);
        rc = 2; /* cudaErrorMemoryAllocation */
    } else {
        if (fail_malloc_after > 0) fail_malloc_after--;
        n_malloc++;
        rc = track(p, n, 0);
    }
    pthread_mutex_unlock(&mu);
    return rc;
}
int cudaFree(void *p) {
    pthread_mutex_lock(&mu);
    int rc = untrack(p, 0);
    pthread_mutex_unlock(&mu);
    return rc;
}
int cudaMallocHost(void **p, size_t n) {
    pthread_mutex_lock(&mu);
    int rc = track(p, n, 1);
    pthread_mutex_unlock(&mu);
    return rc;
}
int cudaFreeHost(void *p) {
    pthread_mutex_lock(&mu);
    int rc = untrack(p, 1);
    pthread_mutex_unlock(&mu);
    return rc;
}
int cudaMemcpy(void *dst, const void *src, size_t n, int kind) {
    pthread_mutex_lock(&mu);
    int rc = 0;
    if (kind == 1) { /* host -> device */
        if (!find(dst, n, 0) || is_device(src)) rc = 1;
        else h2d_bytes += (long long)n;
    } else if (kind == 2) { /* device -> host */
        if (!find(src, n, 0) || is_device(dst)) rc = 1;
        else d2h_bytes += (long long)n;
    } else if (kind == 3) {
        if (!find(src, n, 0) || !find(dst, n, 0)) rc = 1;
    } else {
        rc = 21;
    }
    if (rc) snprintf(last_error, sizeof last_error, "cudaMemcpy(%p, %p, %zu, kind %d) out of bounds", dst, src, n, kind);
    else if (n) memcpy(dst, src, n);
    pthread_mutex_unlock(&mu);
    return rc;
}

/* ---- cuBLAS ---- */
typedef struct {
    int magic;
    int math_mode;
} Handle;
#define MAGIC 0x5eed

int cublasCreate_v2(void **h) {
    if (device_count <= 0) return 1; /* CUBLAS_STATUS_NOT_INITIALIZED */
    Handle *x = malloc(sizeof(Handle));
    x->magic = MAGIC;
    x->math_mode = 0;
    pthread_mutex_lock(&mu);
    live_handles++;
    n_create++;
    pthread_mutex_unlock(&mu);
    *h = x;
    return 0;
}
int cublasDestroy_v2(void *h) {
    Handle *x = h;
    if (!x || x->magic != MAGIC) return 1;
    x->magic = 0;
    free(x);
    pthread_mutex_lock(&mu);
    live_handles--;
    pthread_mutex_unlock(&mu);
    return 0;
}
int cublasSetMathMode(void *h, int mode) {
    Handle *x = h;
    if (!x || x->magic != MAGIC) return 1;
    if (math_mode_status) return math_mode_status;
    int base = mode & ~16; /* CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION may be or'ed in */
    if (base < 0 || base > 3) return 7;
    x->math_mode = mode;
    last_math_mode = mode;
    return 0;
}

#ifndef STANDIN_NO_SGEMM
static int fail(int status, const char *what) {
    snprintf(last_error, sizeof last_error, "cublasSgemm_v2: %s", what);
    return status;
}
int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                   const float *beta, float *C, int ldc) {
    Handle *x = h;
    if (!x || x->magic != MAGIC) return fail(1, "bad handle");
    if (ta < 0 || ta > 2 || tb < 0 || tb > 2) return fail(7, "bad transpose");
    if (m < 0 || n < 0 || k < 0) return fail(7, "negative size");
    int ra = ta == 0 ? m : k, rb = tb == 0 ? k : n;
    if (lda < (ra > 1 ? ra : 1)) return fail(7, "lda too small");
    if (ldb < (rb > 1 ? rb : 1)) return fail(7, "ldb too small");
    if (ldc < (m > 1 ? m : 1)) return fail(7, "ldc too small");
    if (!alpha || !beta) return fail(7, "null alpha/beta");
    pthread_mutex_lock(&mu);
    if (sgemm_status) {
        if (sgemm_fail_after == 0) {
            pthread_mutex_unlock(&mu);
            return fail(sgemm_status, "error status (switch)");
        }
        sgemm_fail_after--;
    }
    n_sgemm++;
    if (m == 0 || n == 0) {
        pthread_mutex_unlock(&mu);
        return 0;
    }
    int ca = ta == 0 ? k : m, cb = tb == 0 ? n : k;
    int bad = 0;
    if (k > 0 && !find(A, ((size_t)(ca - 1) * lda + ra) * 4, 0)) bad = 1;
    if (k > 0 && !find(B, ((size_t)(cb - 1) * ldb + rb) * 4, 0)) bad = 2;
    if (!find(C, ((size_t)(n - 1) * ldc + m) * 4, 0)) bad = 3;
    pthread_mutex_unlock(&mu);
    if (bad) return fail(13, bad == 1 ? "A out of bounds" : bad == 2 ? "B out of bounds" : "C out of bounds");
    float al = *alpha, be = *beta;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double av = ta == 0 ? A[i + (size_t)p * lda] : A[p + (size_t)i * lda];
                double bv = tb == 0 ? B[p + (size_t)j * ldb] : B[j + (size_t)p * ldb];
                s += av * bv;
            }
            float *c = &C[i + (size_t)j * ldc];
            *c = (float)(al * s + (be == 0.0f ? 0.0 : (double)be * *c)) + (corrupt ? 1.0f : 0.0f);
        }
    }
    return 0;
}
#endif
