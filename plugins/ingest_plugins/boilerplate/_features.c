/* Native per-line feature columns for the boilerplate stage.
 *
 * One function, `columns(lines, lowered, stopwords)`, computes in one pass per
 * line what `lines.compute_features` computes with a handful of Python-level
 * maps and regex calls (see `_columns_python` there, the reference this must
 * equal exactly):
 *
 *   texts  - each line stripped as str.strip() strips (str.isspace characters)
 *   words  - the \w+ tokens of the lower-cased line, as re.findall(r"\w+") finds
 *            them (a word character is str.isalnum() or "_")
 *   nc     - len(text)
 *   nw     - len(words)
 *   nstop  - how many of the words are in `stopwords` (None: 0 for every line)
 *   ends   - the text ends a sentence: its last character is one of . ! ? … : ;
 *            。 ！ ？, or it ends in closing quotes/brackets behind such a character
 *   nsent  - sentence boundaries: ". ", "? " and "! " inside the text (when it
 *            holds a space), plus one when it ends a sentence
 *
 *   hits   - with `triggers` (a frozenset), the words of the line that are in it,
 *            as triggers.intersection(words) gives them (lines with none share
 *            one empty frozenset); without it, None for every line
 *
 * Word objects of ASCII words are cached across calls (with their stop/trigger
 * flags, for one pair of frozensets), so a word seen before costs no allocation
 * and no set lookup. The page-level adjustments for unspaced scripts stay in Python: only pages
 * that have them pay for them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static inline int is_word_char(Py_UCS4 c) {
    if (c < 128) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    return Py_UNICODE_ISALNUM(c);
}

static inline int is_ender(Py_UCS4 c) {
    switch (c) {
    case '.': case '!': case '?': case ':': case ';':
    case 0x2026: /* … */
    case 0x3002: /* 。 */
    case 0xFF01: /* ！ */
    case 0xFF1F: /* ？ */
        return 1;
    default:
        return 0;
    }
}

static inline int is_closer(Py_UCS4 c) {
    switch (c) {
    case '"': case '\'': case ')': case ']':
    case 0x201D: /* ” */
    case 0x2019: /* ’ */
    case 0x00BB: /* » */
    case 0x300D: /* 」 */
    case 0x300F: /* 』 */
    case 0xFF09: /* ） */
        return 1;
    default:
        return 0;
    }
}

/* ASCII word characters, for the byte loop of ASCII lines. */
static char ascii_word[256];

/* Word objects of ASCII words, shared across lines and pages: most tokens of a
 * corpus are words seen before, so a hit saves the allocation, the string hash
 * and both set lookups. The flags are valid for one (stopwords, triggers) pair
 * of frozensets (immutable); another pair empties the cache. Under the GIL. */
#define CACHE_BITS 16
#define CACHE_SIZE (1 << CACHE_BITS)
#define CACHE_MAX_WORD 24 /* longer words are rare and not worth a slot */
typedef struct {
    uint64_t hash;
    PyObject *word; /* NULL: empty slot */
    char stop, trigger;
} CacheEntry;
static CacheEntry cache[CACHE_SIZE];
static Py_ssize_t cache_used = 0;
static PyObject *cache_stopwords = NULL, *cache_triggers = NULL; /* borrowed identities, kept alive below */

static void cache_clear(void) {
    for (Py_ssize_t i = 0; i < CACHE_SIZE; i++) {
        Py_CLEAR(cache[i].word);
    }
    cache_used = 0;
}

/* Makes the cache valid for this (stopwords, triggers) pair. */
static void cache_select(PyObject *stopwords, PyObject *triggers) {
    if (stopwords == cache_stopwords && triggers == cache_triggers) {
        return;
    }
    cache_clear();
    Py_XINCREF(stopwords);
    Py_XINCREF(triggers);
    Py_XDECREF(cache_stopwords);
    Py_XDECREF(cache_triggers);
    cache_stopwords = stopwords;
    cache_triggers = triggers;
}

static int set_has(PyObject *set, PyObject *word) {
    return set == Py_None ? 0 : PySet_Contains(set, word);
}

/* The word object for bytes [p, p + n) of an ASCII line, with its flags; a new
 * reference, or NULL on error. `use_cache` is false for sets that may change. */
static PyObject *ascii_word_object(PyObject *line, Py_ssize_t start, const Py_UCS1 *p, Py_ssize_t n,
                                   PyObject *stopwords, PyObject *triggers, int use_cache, int *stop, int *trigger) {
    CacheEntry *slot = NULL;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    if (use_cache && n <= CACHE_MAX_WORD) {
        for (Py_ssize_t k = 0; k < n; k++) {
            h = (h ^ p[k]) * 1099511628211ULL;
        }
        size_t i = (size_t)(h ^ (h >> 29)) & (CACHE_SIZE - 1);
        for (;;) {
            CacheEntry *e = &cache[i];
            if (e->word == NULL) {
                slot = e;
                break;
            }
            if (e->hash == h && PyUnicode_GET_LENGTH(e->word) == n && memcmp(PyUnicode_1BYTE_DATA(e->word), p, (size_t)n) == 0) {
                *stop = e->stop;
                *trigger = e->trigger;
                Py_INCREF(e->word);
                return e->word;
            }
            i = (i + 1) & (CACHE_SIZE - 1);
        }
    }
    PyObject *w = PyUnicode_Substring(line, start, start + n);
    if (w == NULL) {
        return NULL;
    }
    int s = set_has(stopwords, w), t = set_has(triggers, w);
    if (s < 0 || t < 0) {
        Py_DECREF(w);
        return NULL;
    }
    *stop = s;
    *trigger = t;
    if (slot != NULL) {
        if (cache_used >= CACHE_SIZE / 2) { /* keep probes short: start afresh */
            cache_clear();
            return w;
        }
        Py_INCREF(w);
        slot->hash = h;
        slot->word = w;
        slot->stop = (char)s;
        slot->trigger = (char)t;
        cache_used++;
    }
    return w;
}

/* Appends `w` (a new reference, stolen) to `words`; -1 on error. */
static int append_word(PyObject *words, PyObject *w) {
    int rc = PyList_Append(words, w);
    Py_DECREF(w);
    return rc;
}

/* Adds `w` to the line's trigger set, created on first use; -1 on error. */
static int add_hit(PyObject **found, PyObject *w) {
    if (*found == NULL && (*found = PySet_New(NULL)) == NULL) {
        return -1;
    }
    return PySet_Add(*found, w);
}

/* The \w+ tokens of `line` as a new list, counting stop words and collecting
 * trigger words; NULL on error. */
static PyObject *words_of(PyObject *line, PyObject *stopwords, PyObject *triggers, int use_cache, Py_ssize_t *stops,
                          PyObject **found) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    PyObject *words = PyList_New(0);
    if (words == NULL) {
        return NULL;
    }
    *stops = 0;
    int stop = 0, trigger = 0;
    if (PyUnicode_IS_ASCII(line)) {
        const Py_UCS1 *data = PyUnicode_1BYTE_DATA(line);
        Py_ssize_t i = 0;
        while (i < n) {
            while (i < n && !ascii_word[data[i]]) {
                i++;
            }
            if (i >= n) {
                break;
            }
            Py_ssize_t start = i;
            while (i < n && ascii_word[data[i]]) {
                i++;
            }
            PyObject *w = ascii_word_object(line, start, data + start, i - start, stopwords, triggers, use_cache,
                                            &stop, &trigger);
            if (w == NULL || (trigger && add_hit(found, w) < 0) || append_word(words, w) < 0) {
                Py_DECREF(words);
                return NULL;
            }
            *stops += stop;
        }
        return words;
    }
    int kind = PyUnicode_KIND(line);
    const void *data = PyUnicode_DATA(line);
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && !is_word_char(PyUnicode_READ(kind, data, i))) {
            i++;
        }
        if (i >= n) {
            break;
        }
        Py_ssize_t start = i;
        while (i < n && is_word_char(PyUnicode_READ(kind, data, i))) {
            i++;
        }
        PyObject *w = PyUnicode_Substring(line, start, i);
        if (w == NULL) {
            Py_DECREF(words);
            return NULL;
        }
        stop = set_has(stopwords, w);
        trigger = set_has(triggers, w);
        if (stop < 0 || trigger < 0 || (trigger && add_hit(found, w) < 0) || append_word(words, w) < 0) {
            Py_DECREF(words);
            return NULL;
        }
        *stops += stop;
    }
    return words;
}

/* Sentence boundaries inside a text: ". ", "? " and "! " (one pass). */
static Py_ssize_t count_boundaries(int kind, const void *data, Py_ssize_t n) {
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if ((c == '.' || c == '?' || c == '!') && PyUnicode_READ(kind, data, i + 1) == ' ') {
            count++;
        }
    }
    return count;
}

static PyObject *columns(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *lines, *lowered, *stopwords, *triggers = Py_None;
    if (!PyArg_ParseTuple(args, "O!O!O|O", &PyList_Type, &lines, &PyList_Type, &lowered, &stopwords, &triggers)) {
        return NULL;
    }
    int find_hits = triggers != Py_None;
    if (find_hits && !PyFrozenSet_Check(triggers)) {
        PyErr_SetString(PyExc_TypeError, "triggers must be a frozenset or None");
        return NULL;
    }
    /* a mutable stop-word set could change between calls: no cached flags for it */
    int use_cache = stopwords == Py_None || PyFrozenSet_Check(stopwords);
    if (use_cache) {
        cache_select(stopwords, triggers);
    }
    Py_ssize_t n = PyList_GET_SIZE(lines);
    if (PyList_GET_SIZE(lowered) != n) {
        PyErr_SetString(PyExc_ValueError, "lines and lowered differ in length");
        return NULL;
    }
    if (stopwords != Py_None && !PyAnySet_Check(stopwords)) {
        PyErr_SetString(PyExc_TypeError, "stopwords must be a set, a frozenset or None");
        return NULL;
    }
    PyObject *texts = PyList_New(n), *words = PyList_New(n), *nc = PyList_New(n), *nw = PyList_New(n);
    PyObject *nstop = PyList_New(n), *ends = PyList_New(n), *nsent = PyList_New(n), *hits = PyList_New(n);
    PyObject *none_hit = PyFrozenSet_New(NULL);
    PyObject *result = NULL;
    if (!texts || !words || !nc || !nw || !nstop || !ends || !nsent || !hits || !none_hit) {
        goto done;
    }
    for (Py_ssize_t li = 0; li < n; li++) {
        PyObject *raw = PyList_GET_ITEM(lines, li);
        PyObject *low = PyList_GET_ITEM(lowered, li);
        if (!PyUnicode_Check(raw) || !PyUnicode_Check(low)) {
            PyErr_SetString(PyExc_TypeError, "lines must be str");
            goto done;
        }
        /* strip */
        Py_ssize_t len = PyUnicode_GET_LENGTH(raw);
        int kind = PyUnicode_KIND(raw);
        const void *data = PyUnicode_DATA(raw);
        Py_ssize_t a = 0, b = len;
        while (a < b && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, a))) {
            a++;
        }
        while (b > a && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, b - 1))) {
            b--;
        }
        PyObject *text = PyUnicode_Substring(raw, a, b);
        if (text == NULL) {
            goto done;
        }
        PyList_SET_ITEM(texts, li, text);
        Py_ssize_t tn = b - a;
        kind = PyUnicode_KIND(text);
        data = PyUnicode_DATA(text);
        /* ends a sentence */
        int e = 0;
        if (tn > 0) {
            Py_UCS4 last = PyUnicode_READ(kind, data, tn - 1);
            if (is_ender(last)) {
                e = 1;
            } else if (is_closer(last)) {
                Py_ssize_t k = tn - 1;
                while (k > 0 && is_closer(PyUnicode_READ(kind, data, k - 1))) {
                    k--;
                }
                e = k > 0 && is_ender(PyUnicode_READ(kind, data, k - 1));
            }
        }
        PyObject *eb = e ? Py_True : Py_False;
        Py_INCREF(eb);
        PyList_SET_ITEM(ends, li, eb);
        Py_ssize_t s = e;
        if (tn > 1 && PyUnicode_FindChar(text, ' ', 0, tn, 1) >= 0) {
            s += count_boundaries(kind, data, tn);
        }
        PyObject *sv = PyLong_FromSsize_t(s);
        if (sv == NULL) {
            goto done;
        }
        PyList_SET_ITEM(nsent, li, sv);
        PyObject *ncv = PyLong_FromSsize_t(tn);
        if (ncv == NULL) {
            goto done;
        }
        PyList_SET_ITEM(nc, li, ncv);
        /* words of the lower-cased line, the stop words and trigger words among them */
        Py_ssize_t stops = 0;
        PyObject *found = NULL;
        PyObject *ws = words_of(low, stopwords, triggers, use_cache, &stops, &found);
        if (ws == NULL) {
            Py_XDECREF(found);
            goto done;
        }
        PyList_SET_ITEM(words, li, ws);
        Py_ssize_t wn = PyList_GET_SIZE(ws);
        PyObject *wnv = PyLong_FromSsize_t(wn), *stv = PyLong_FromSsize_t(stops);
        if (wnv == NULL || stv == NULL) {
            Py_XDECREF(wnv);
            Py_XDECREF(stv);
            Py_XDECREF(found);
            goto done;
        }
        PyList_SET_ITEM(nw, li, wnv);
        PyList_SET_ITEM(nstop, li, stv);
        PyObject *hv;
        if (found != NULL) {
            hv = PyFrozenSet_New(found);
            Py_DECREF(found);
            if (hv == NULL) {
                goto done;
            }
        } else {
            hv = find_hits ? none_hit : Py_None;
            Py_INCREF(hv);
        }
        PyList_SET_ITEM(hits, li, hv);
    }
    result = PyTuple_Pack(8, texts, words, nc, nw, nstop, ends, nsent, hits);
done:
    /* a list not yet filled holds NULL items, which list deallocation skips */
    Py_XDECREF(texts);
    Py_XDECREF(words);
    Py_XDECREF(nc);
    Py_XDECREF(nw);
    Py_XDECREF(nstop);
    Py_XDECREF(ends);
    Py_XDECREF(nsent);
    Py_XDECREF(hits);
    Py_XDECREF(none_hit);
    return result;
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS,
     "columns(lines, lowered, stopwords, triggers=None) -> (texts, words, nc, nw, nstop, ends, nsent, hits):\n"
     "per-line feature columns of a page (see lines.columns_python; stopwords and triggers may be None)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_features", "Native per-line feature columns for the boilerplate stage.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__features(void) {
    for (int c = 0; c < 256; c++) {
        ascii_word[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    return PyModule_Create(&module);
}
