/* Native hashing kernels of the dedup stage (optional; see native.py).
 *
 * Bit for bit what the numpy reference in shingles.py / minhash.py computes:
 *
 *   tokens(texts, base, salt, whitespace) -> (hashes, offsets, key_inputs)
 *       hashes: uint64 token hashes of every document, in order (bytes);
 *       offsets: int64[n + 1] token offsets per document (bytes);
 *       key_inputs: per document, the bytes the exact key hashes: the text
 *       with whitespace runs collapsed to one space and the ends stripped,
 *       in the narrowest width (ASCII / UCS-2 / UCS-4) that holds it; with
 *       whitespace false, the text as is in ASCII or UCS-4.
 *   shingle_sets(hashes, offsets, k) -> (sets, set_offsets)
 *       sorted unique uint32 (top 32 bits) k-token shingle hashes per document.
 *   oph(sets, set_offsets, salt, num_perm, probe) -> signatures
 *       uint32[n_docs * num_perm] one-permutation MinHash with densification.
 *   intersections(data, start_a, size_a, start_b, size_b) -> counts
 *       int64 |A & B| of sorted unique uint32 sets held in one buffer
 *       (pair_similarities' verification counts).
 *   read_rows(fd, row_bytes, rows, out)
 *       fixed-size rows of a file read into ``out`` by pread, one after another
 *       (the signatures a prefilter compares: a mapping of the file would map
 *       whole large folios of it at each random read, hundreds of MB of RSS).
 *
 * CPython C API only: strings are read in their own representation
 * (PyUnicode_KIND / PyUnicode_DATA), arrays come in through the buffer
 * protocol and go out as bytearrays (writable; the Python side wraps them
 * with np.frombuffer), the exact-key inputs as bytes. Native byte order, as numpy's tobytes() on the same data.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#define C1 0xBF58476D1CE4E5B9ULL
#define C2 0x94D049BB133111EBULL
#define GOLD 0x9E3779B97F4A7C15ULL
#define PROBES 64

/* character classes: 1 = \w (isalnum() or "_"), 2 = whitespace (isspace()), 0 = other */
static uint8_t bmp_class[0x10000];

static void build_tables(void) {
    for (Py_UCS4 c = 0; c < 0x10000; c++) {
        if (Py_UNICODE_ISALNUM(c) || c == 0x5F)
            bmp_class[c] = 1;
        else if (Py_UNICODE_ISSPACE(c))
            bmp_class[c] = 2;
        else
            bmp_class[c] = 0;
    }
}

static inline int class_of(Py_UCS4 c) {
    if (c < 0x10000)
        return bmp_class[c];
    /* astral: the same predicates str.isalnum() / str.isspace() use */
    return Py_UNICODE_ISALNUM(c) ? 1 : (Py_UNICODE_ISSPACE(c) ? 2 : 0);
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= C1;
    x ^= x >> 27;
    x *= C2;
    return x ^ (x >> 31);
}

/* Growable uint64 buffer for the token hashes of a batch. */
typedef struct {
    uint64_t *data;
    Py_ssize_t size, cap;
} u64buf;

static int u64_reserve(u64buf *b, Py_ssize_t extra) {
    if (b->size + extra <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->size + extra)
        cap *= 2;
    uint64_t *d = (uint64_t *)realloc(b->data, (size_t)cap * sizeof(uint64_t));
    if (!d) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

/* One document, one pass over its characters: token hashes into ``out``
 * (room for (n + 1) / 2 more reserved by the caller) and, when ``collapse``,
 * the whitespace-collapsed text into ``scratch`` (room for n characters).
 * Returns the collapsed length; ``*maxc`` gets its largest code point. */
#define DEFINE_SCAN(NAME, T)                                                              \
    static Py_ssize_t NAME(const T *s, Py_ssize_t n, uint64_t base, uint64_t salt,       \
                           int collapse, u64buf *out, T *scratch, Py_UCS4 *maxc) {       \
        uint64_t h = 0, pw = 1, len = 0;                                                  \
        Py_ssize_t outn = 0;                                                              \
        int pending = 0;                                                                  \
        Py_UCS4 top = 0;                                                                  \
        uint64_t *dst = out->data + out->size;                                            \
        for (Py_ssize_t i = 0; i < n; i++) {                                              \
            Py_UCS4 c = s[i];                                                             \
            int cl = class_of(c);                                                         \
            if (cl == 1) {                                                                \
                h += (uint64_t)c * pw; /* sum of c_j * base**j, j from the token start */  \
                pw *= base;                                                               \
                len++;                                                                    \
            } else if (len) {                                                             \
                *dst++ = mix64(h ^ (len * GOLD) ^ salt);                                  \
                h = 0, pw = 1, len = 0;                                                   \
            }                                                                             \
            if (collapse) {                                                               \
                if (cl == 2) {                                                            \
                    pending = outn > 0; /* a run at the start is stripped */              \
                } else {                                                                  \
                    if (pending) {                                                        \
                        scratch[outn++] = 32;                                             \
                        pending = 0;                                                      \
                    }                                                                     \
                    scratch[outn++] = (T)c;                                               \
                    if (c > top)                                                          \
                        top = c;                                                          \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        if (len)                                                                          \
            *dst++ = mix64(h ^ (len * GOLD) ^ salt);                                      \
        out->size = dst - out->data;                                                      \
        *maxc = top;                                                                      \
        return outn;                                                                      \
    }

DEFINE_SCAN(scan1, Py_UCS1)
DEFINE_SCAN(scan2, Py_UCS2)
DEFINE_SCAN(scan4, Py_UCS4)

/* ``n`` characters of kind ``kind`` at ``src`` as a bytes object of
 * ``width``-byte units (width >= the narrowest width holding them). */
static PyObject *widen(const void *src, int kind, Py_ssize_t n, int width) {
    if (kind == width)
        return PyBytes_FromStringAndSize((const char *)src, n * width);
    PyObject *b = PyBytes_FromStringAndSize(NULL, n * width);
    if (!b)
        return NULL;
    char *d = PyBytes_AS_STRING(b);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = kind == 1 ? ((const Py_UCS1 *)src)[i]
                  : kind == 2 ? ((const Py_UCS2 *)src)[i]
                              : ((const Py_UCS4 *)src)[i];
        if (width == 1)
            ((uint8_t *)d)[i] = (uint8_t)c;
        else if (width == 2)
            ((uint16_t *)d)[i] = (uint16_t)c;
        else
            ((uint32_t *)d)[i] = (uint32_t)c;
    }
    return b;
}

static PyObject *native_tokens(PyObject *self, PyObject *args) {
    PyObject *texts;
    unsigned long long base, salt;
    int whitespace;
    if (!PyArg_ParseTuple(args, "OKKp", &texts, &base, &salt, &whitespace))
        return NULL;
    /* a tuple of the texts: references held even if a finaliser run by an
       allocation below mutated the caller's list */
    PyObject *seq = PySequence_Tuple(texts);
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *result = NULL, *keys = NULL, *offsets = NULL, *hashes = NULL;
    u64buf out = {NULL, 0, 0};
    void *scratch = NULL;
    Py_ssize_t longest = 0;
    for (Py_ssize_t d = 0; d < n; d++) {
        if (!PyUnicode_Check(items[d])) {
            PyErr_SetString(PyExc_TypeError, "texts must be str");
            goto done;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(items[d]) < 0) /* a no-op since 3.12 */
            goto done;
#endif
        if (PyUnicode_GET_LENGTH(items[d]) > longest)
            longest = PyUnicode_GET_LENGTH(items[d]);
    }
    scratch = malloc((size_t)(longest > 0 ? longest : 1) * 4);
    keys = PyList_New(n);
    offsets = PyByteArray_FromStringAndSize(NULL, (n + 1) * (Py_ssize_t)sizeof(int64_t));
    if (!scratch || !keys || !offsets) {
        if (!scratch)
            PyErr_NoMemory();
        goto done;
    }
    int64_t *off = (int64_t *)PyByteArray_AS_STRING(offsets);
    off[0] = 0;
    for (Py_ssize_t d = 0; d < n; d++) {
        PyObject *t = items[d];
        Py_ssize_t len = PyUnicode_GET_LENGTH(t);
        int kind = PyUnicode_KIND(t);
        const void *data = PyUnicode_DATA(t);
        if (u64_reserve(&out, (len + 1) / 2) < 0)
            goto done;
        Py_UCS4 top = 0;
        Py_ssize_t m;
        if (kind == PyUnicode_1BYTE_KIND)
            m = scan1((const Py_UCS1 *)data, len, base, salt, whitespace, &out, (Py_UCS1 *)scratch, &top);
        else if (kind == PyUnicode_2BYTE_KIND)
            m = scan2((const Py_UCS2 *)data, len, base, salt, whitespace, &out, (Py_UCS2 *)scratch, &top);
        else
            m = scan4((const Py_UCS4 *)data, len, base, salt, whitespace, &out, (Py_UCS4 *)scratch, &top);
        off[d + 1] = (int64_t)out.size;
        PyObject *key;
        if (whitespace) {
            int width = top < 128 ? 1 : top < 0x10000 ? 2 : 4;
            key = widen(scratch, kind, m, width);
        } else {
            /* key format of a text kept as is: ASCII bytes, else UCS-4 */
            key = widen(data, kind, len, PyUnicode_IS_ASCII(t) ? 1 : 4);
        }
        if (!key)
            goto done;
        PyList_SET_ITEM(keys, d, key);
    }
    hashes = PyByteArray_FromStringAndSize((const char *)out.data, out.size * (Py_ssize_t)sizeof(uint64_t));
    if (!hashes)
        goto done;
    result = PyTuple_Pack(3, hashes, offsets, keys);
done:
    free(out.data);
    free(scratch);
    Py_XDECREF(hashes);
    Py_XDECREF(offsets);
    Py_XDECREF(keys);
    Py_DECREF(seq);
    return result;
}

/* LSD radix sort of n uint32 (8 bits a pass), then unique in place; returns
 * the unique count. Small inputs use insertion sort. */
static Py_ssize_t sort_unique_u32(uint32_t *a, uint32_t *tmp, Py_ssize_t n) {
    if (n < 2)
        return n;
    if (n <= 48) {
        for (Py_ssize_t i = 1; i < n; i++) {
            uint32_t v = a[i];
            Py_ssize_t j = i;
            while (j > 0 && a[j - 1] > v) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = v;
        }
    } else {
        Py_ssize_t count[4][256];
        memset(count, 0, sizeof(count));
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t v = a[i];
            count[0][v & 0xFF]++;
            count[1][(v >> 8) & 0xFF]++;
            count[2][(v >> 16) & 0xFF]++;
            count[3][v >> 24]++;
        }
        uint32_t *src = a, *dst = tmp;
        for (int p = 0; p < 4; p++) {
            Py_ssize_t sum = 0;
            for (int b = 0; b < 256; b++) {
                Py_ssize_t c = count[p][b];
                count[p][b] = sum;
                sum += c;
            }
            int shift = 8 * p;
            for (Py_ssize_t i = 0; i < n; i++) {
                uint32_t v = src[i];
                dst[count[p][(v >> shift) & 0xFF]++] = v;
            }
            uint32_t *x = src;
            src = dst;
            dst = x;
        }
        /* four passes: the result is back in a */
    }
    Py_ssize_t m = 1;
    for (Py_ssize_t i = 1; i < n; i++)
        if (a[i] != a[m - 1])
            a[m++] = a[i];
    return m;
}

static PyObject *native_shingle_sets(PyObject *self, PyObject *args) {
    Py_buffer hb, ob;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "y*y*n", &hb, &ob, &k))
        return NULL;
    PyObject *result = NULL, *sets = NULL, *offsets = NULL;
    uint32_t *vals = NULL, *tmp = NULL;
    const uint64_t *h = (const uint64_t *)hb.buf;
    const int64_t *off = (const int64_t *)ob.buf;
    Py_ssize_t n_docs = ob.len / (Py_ssize_t)sizeof(int64_t) - 1;
    if (k < 1 || n_docs < 0 || (Py_ssize_t)(hb.len / sizeof(uint64_t)) < (n_docs >= 0 ? off[n_docs] : 0)) {
        PyErr_SetString(PyExc_ValueError, "bad shingle_sets arguments");
        goto done;
    }
    Py_ssize_t total = 0, longest = 0;
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        Py_ssize_t c = off[d + 1] - off[d];
        Py_ssize_t w = c == 0 ? 0 : c < k ? 1 : c - k + 1;
        total += w;
        if (w > longest)
            longest = w;
    }
    vals = (uint32_t *)malloc((size_t)(total > 0 ? total : 1) * sizeof(uint32_t));
    tmp = (uint32_t *)malloc((size_t)(longest > 0 ? longest : 1) * sizeof(uint32_t));
    offsets = PyByteArray_FromStringAndSize(NULL, (n_docs + 1) * (Py_ssize_t)sizeof(int64_t));
    if (!vals || !tmp || !offsets) {
        if (!vals || !tmp)
            PyErr_NoMemory();
        goto done;
    }
    int64_t *so = (int64_t *)PyByteArray_AS_STRING(offsets);
    so[0] = 0;
    Py_ssize_t used = 0;
    Py_BEGIN_ALLOW_THREADS
    uint64_t pk = 1; /* GOLD ** (k - 1): drops the oldest token of a rolling window */
    for (Py_ssize_t j = 1; j < k; j++)
        pk *= GOLD;
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        const uint64_t *t = h + off[d];
        Py_ssize_t c = off[d + 1] - off[d];
        uint32_t *v = vals + used;
        Py_ssize_t w = 0;
        if (c > 0 && c < k) { /* one shingle of all the tokens */
            uint64_t acc = 0;
            for (Py_ssize_t j = 0; j < c; j++)
                acc = acc * GOLD + t[j];
            v[w++] = (uint32_t)(mix64(acc + (uint64_t)c) >> 32);
        } else if (c >= k) {
            uint64_t s = 0;
            for (Py_ssize_t j = 0; j < k; j++)
                s = s * GOLD + t[j];
            v[w++] = (uint32_t)(mix64(s + (uint64_t)k) >> 32);
            for (Py_ssize_t i = k; i < c; i++) {
                s = (s - t[i - k] * pk) * GOLD + t[i]; /* exact mod 2**64 */
                v[w++] = (uint32_t)(mix64(s + (uint64_t)k) >> 32);
            }
        }
        used += sort_unique_u32(v, tmp, w);
        so[d + 1] = used;
    }
    Py_END_ALLOW_THREADS
    sets = PyByteArray_FromStringAndSize((const char *)vals, used * (Py_ssize_t)sizeof(uint32_t));
    if (!sets)
        goto done;
    result = PyTuple_Pack(2, sets, offsets);
done:
    free(vals);
    free(tmp);
    Py_XDECREF(sets);
    Py_XDECREF(offsets);
    PyBuffer_Release(&hb);
    PyBuffer_Release(&ob);
    return result;
}

static PyObject *native_oph(PyObject *self, PyObject *args) {
    Py_buffer sb, ob, pb;
    unsigned long long salt;
    Py_ssize_t p;
    if (!PyArg_ParseTuple(args, "y*y*Kny*", &sb, &ob, &salt, &p, &pb))
        return NULL;
    PyObject *sig_bytes = NULL;
    uint32_t *orig = NULL;
    uint8_t *filled = NULL;
    const uint32_t *sets = (const uint32_t *)sb.buf;
    const int64_t *off = (const int64_t *)ob.buf;
    const int64_t *probe = (const int64_t *)pb.buf;
    Py_ssize_t n_docs = ob.len / (Py_ssize_t)sizeof(int64_t) - 1;
    if (p < 1 || n_docs < 0 || pb.len != p * PROBES * (Py_ssize_t)sizeof(int64_t) ||
        (Py_ssize_t)(sb.len / sizeof(uint32_t)) < off[n_docs]) {
        PyErr_SetString(PyExc_ValueError, "bad oph arguments");
        goto done;
    }
    sig_bytes = PyByteArray_FromStringAndSize(NULL, n_docs * p * (Py_ssize_t)sizeof(uint32_t));
    orig = (uint32_t *)malloc((size_t)p * sizeof(uint32_t));
    filled = (uint8_t *)malloc((size_t)p);
    if (!sig_bytes || !orig || !filled) {
        if (sig_bytes)
            PyErr_NoMemory();
        Py_CLEAR(sig_bytes);
        goto done;
    }
    uint32_t *sig = (uint32_t *)PyByteArray_AS_STRING(sig_bytes);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        uint32_t *row = sig + d * p;
        for (Py_ssize_t j = 0; j < p; j++)
            row[j] = 0xFFFFFFFFu;
        Py_ssize_t a = off[d], b = off[d + 1];
        if (a == b)
            continue; /* empty set: all 0xFFFFFFFF */
        memset(filled, 0, (size_t)p);
        for (Py_ssize_t i = a; i < b; i++) {
            uint64_t h = mix64((uint64_t)sets[i] ^ salt);
            Py_ssize_t bin = (Py_ssize_t)(((h >> 32) * (uint64_t)p) >> 32); /* multiply-high */
            uint32_t v = (uint32_t)h;
            if (v < row[bin])
                row[bin] = v;
            filled[bin] = 1;
        }
        memcpy(orig, row, (size_t)p * sizeof(uint32_t));
        Py_ssize_t first = 0;
        while (!filled[first])
            first++;
        for (Py_ssize_t j = 0; j < p; j++) {
            if (filled[j])
                continue;
            const int64_t *pr = probe + j * PROBES;
            Py_ssize_t src = first; /* probes exhausted: the first filled bin */
            for (int t = 0; t < PROBES; t++) {
                if (filled[pr[t]]) {
                    src = (Py_ssize_t)pr[t];
                    break;
                }
            }
            row[j] = orig[src];
        }
    }
    Py_END_ALLOW_THREADS
done:
    free(orig);
    free(filled);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&pb);
    return sig_bytes;
}

static PyObject *native_intersections(PyObject *self, PyObject *args) {
    Py_buffer db, sab, nab, sbb, nbb;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*", &db, &sab, &nab, &sbb, &nbb))
        return NULL;
    PyObject *res = NULL;
    const uint32_t *data = (const uint32_t *)db.buf;
    const int64_t *sa = (const int64_t *)sab.buf, *na = (const int64_t *)nab.buf;
    const int64_t *sb = (const int64_t *)sbb.buf, *nb = (const int64_t *)nbb.buf;
    Py_ssize_t m = sab.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t size = db.len / (Py_ssize_t)sizeof(uint32_t);
    if (nab.len != sab.len || sbb.len != sab.len || nbb.len != sab.len) {
        PyErr_SetString(PyExc_ValueError, "intersections: argument lengths differ");
        goto done;
    }
    for (Py_ssize_t i = 0; i < m; i++) { /* every range inside the buffer */
        if (sa[i] < 0 || na[i] < 0 || sa[i] + na[i] > size || sb[i] < 0 || nb[i] < 0 || sb[i] + nb[i] > size) {
            PyErr_SetString(PyExc_ValueError, "intersections: a set lies outside the buffer");
            goto done;
        }
    }
    res = PyByteArray_FromStringAndSize(NULL, m * (Py_ssize_t)sizeof(int64_t));
    if (!res)
        goto done;
    int64_t *out = (int64_t *)PyByteArray_AS_STRING(res);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m; i++) {
        const uint32_t *a = data + sa[i], *ae = a + na[i];
        const uint32_t *b = data + sb[i], *be = b + nb[i];
        int64_t c = 0;
        while (a < ae && b < be) { /* merge of two sorted unique runs */
            uint32_t x = *a, y = *b;
            a += x <= y;
            b += y <= x;
            c += x == y;
        }
        out[i] = c;
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&db);
    PyBuffer_Release(&sab);
    PyBuffer_Release(&nab);
    PyBuffer_Release(&sbb);
    PyBuffer_Release(&nbb);
    return res;
}

static PyObject *native_read_rows(PyObject *self, PyObject *args) {
    int fd;
    Py_ssize_t row_bytes;
    Py_buffer rb, ob;
    if (!PyArg_ParseTuple(args, "iny*w*", &fd, &row_bytes, &rb, &ob))
        return NULL;
    PyObject *res = NULL;
    const int64_t *rows = (const int64_t *)rb.buf;
    Py_ssize_t m = rb.len / (Py_ssize_t)sizeof(int64_t);
    char *out = (char *)ob.buf;
    if (row_bytes <= 0 || ob.len != m * row_bytes) {
        PyErr_SetString(PyExc_ValueError, "read_rows: out must hold len(rows) rows of row_bytes");
        goto done;
    }
    Py_ssize_t failed = -1;
    ssize_t got = 0;
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m && failed < 0; i++) {
        Py_ssize_t done_bytes = 0;
        while (done_bytes < row_bytes) {
            got = pread(fd, out + i * row_bytes + done_bytes, (size_t)(row_bytes - done_bytes),
                        (off_t)(rows[i] * row_bytes + done_bytes));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                failed = i;
                err = got < 0 ? errno : 0;
                break;
            }
            done_bytes += got;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed >= 0) {
        if (err) {
            errno = err;
            PyErr_SetFromErrno(PyExc_OSError);
        } else {
            PyErr_Format(PyExc_ValueError, "read_rows: row %lld lies past the end of the file", (long long)rows[failed]);
        }
        goto done;
    }
    res = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&rb);
    PyBuffer_Release(&ob);
    return res;
}

static PyObject *native_char_class(PyObject *self, PyObject *arg) {
    /* class of one code point as the kernels see it (for the tests) */
    unsigned long c = PyLong_AsUnsignedLong(arg);
    if (c == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    if (c > 0x10FFFF) {
        PyErr_SetString(PyExc_ValueError, "not a code point");
        return NULL;
    }
    return PyLong_FromLong(class_of((Py_UCS4)c));
}

static PyMethodDef methods[] = {
    {"tokens", native_tokens, METH_VARARGS,
     "tokens(texts, base, salt, whitespace) -> (hashes, offsets, key_inputs)"},
    {"shingle_sets", native_shingle_sets, METH_VARARGS,
     "shingle_sets(hashes, offsets, k) -> (sets, set_offsets)"},
    {"oph", native_oph, METH_VARARGS, "oph(sets, set_offsets, salt, num_perm, probe) -> signatures"},
    {"intersections", native_intersections, METH_VARARGS,
     "intersections(data, start_a, size_a, start_b, size_b) -> int64 counts |A & B|"},
    {"read_rows", native_read_rows, METH_VARARGS, "read_rows(fd, row_bytes, rows, out): rows of a file by pread"},
    {"char_class", native_char_class, METH_O, "char_class(code_point) -> 0 other, 1 word, 2 space"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_native", "Native hashing kernels of the dedup stage.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    build_tables();
    return PyModule_Create(&moduledef);
}
