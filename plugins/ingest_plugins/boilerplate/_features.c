/* Native per-line feature columns for the boilerplate stage.
 *
 * One function, `columns(lines, lowered, stopwords)`, computes in one pass per
 * line what `lines.compute_features` computes with a handful of Python-level
 * maps and regex calls (see `_columns_python` there, the reference this must
 * equal exactly):
 *
 *   texts  - each line stripped as str.strip() strips (str.isspace characters)
 *   firsts - the first of the line's words, "" when it has none; the words are
 *            the \w+ tokens of the lower-cased line, as re.findall(r"\w+") finds
 *            them (a word character is str.isalnum() or "_")
 *   lasts  - the last of its words, "" when it has none
 *   nc     - len(text)
 *   nw     - how many words
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
 * The word lists themselves are not made: the rules ask for them on a few short
 * lines only (LineFeatures.words makes them then), and making ~600 string objects
 * a page was most of this pass. Tokens of ASCII lines are looked up by their bytes
 * in a small table of the two sets' words. The page-level adjustments for
 * unspaced scripts stay in Python: only pages that have them pay for them.
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

/* The ASCII words of one (stopwords, triggers) pair of frozensets in a small
 * open-addressing table (376 words for English and the rules' triggers: 2,048
 * slots, 32 KB, stays in the CPU's nearest caches): a token of an ASCII line is
 * hashed from its bytes and looked up here, so no string object is made for it.
 * A word that is in neither set usually ends its probe at the first slot.
 * The entries borrow the sets' own word objects (the sets are held below);
 * another pair rebuilds the table. Under the GIL. */
#define FLAG_BITS 11
#define FLAG_SIZE (1 << FLAG_BITS)
typedef struct {
    uint64_t hash;
    PyObject *word; /* NULL: empty slot; borrowed from one of the sets */
    char stop, trigger;
} FlagEntry;
static FlagEntry flag_table[FLAG_SIZE];
static Py_ssize_t flag_used = 0;
static int flag_usable = 0; /* 0: too many words for the table, look every token up in the sets */
static PyObject *flag_stopwords = NULL, *flag_triggers = NULL; /* held references: the entries' owners */

static inline uint64_t word_hash(const Py_UCS1 *p, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (Py_ssize_t k = 0; k < n; k++) {
        h = (h ^ p[k]) * 1099511628211ULL;
    }
    return h;
}

static inline size_t slot_of(uint64_t h) { return (size_t)(h ^ (h >> 29)) & (FLAG_SIZE - 1); }

/* The entry of the ASCII word [p, p + n), or NULL when it is in neither set. */
static inline const FlagEntry *flag_find(const Py_UCS1 *p, Py_ssize_t n) {
    uint64_t h = word_hash(p, n);
    for (size_t i = slot_of(h);; i = (i + 1) & (FLAG_SIZE - 1)) {
        const FlagEntry *e = &flag_table[i];
        if (e->word == NULL) {
            return NULL;
        }
        if (e->hash == h && PyUnicode_GET_LENGTH(e->word) == n && memcmp(PyUnicode_1BYTE_DATA(e->word), p, (size_t)n) == 0) {
            return e;
        }
    }
}

/* Puts the set's ASCII words into the table; 0, or -1 when they do not fit. */
static int flag_add_set(PyObject *set, int is_stop) {
    if (set == Py_None) {
        return 0;
    }
    PyObject *it = PyObject_GetIter(set);
    if (it == NULL) {
        PyErr_Clear();
        return -1;
    }
    PyObject *word;
    while ((word = PyIter_Next(it)) != NULL) {
        Py_DECREF(word); /* the set holds it, and this module holds the set */
        if (!PyUnicode_Check(word) || !PyUnicode_IS_ASCII(word)) {
            continue; /* never equal to a token of an ASCII line */
        }
        const Py_UCS1 *p = PyUnicode_1BYTE_DATA(word);
        Py_ssize_t n = PyUnicode_GET_LENGTH(word);
        uint64_t h = word_hash(p, n);
        size_t i = slot_of(h);
        for (;; i = (i + 1) & (FLAG_SIZE - 1)) {
            FlagEntry *e = &flag_table[i];
            if (e->word == NULL) {
                if (flag_used >= FLAG_SIZE / 2) {
                    Py_DECREF(it);
                    return -1; /* keep probes short: such lists take the set lookups */
                }
                e->hash = h;
                e->word = word;
                e->stop = e->trigger = 0;
                flag_used++;
            } else if (!(e->hash == h && PyUnicode_GET_LENGTH(e->word) == n && memcmp(PyUnicode_1BYTE_DATA(e->word), p, (size_t)n) == 0)) {
                continue;
            }
            if (is_stop) {
                e->stop = 1;
            } else {
                e->trigger = 1;
            }
            break;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

/* Makes the table hold this (stopwords, triggers) pair of frozensets. */
static void flag_select(PyObject *stopwords, PyObject *triggers) {
    if (stopwords == flag_stopwords && triggers == flag_triggers) {
        return;
    }
    memset(flag_table, 0, sizeof flag_table);
    flag_used = 0;
    Py_INCREF(stopwords);
    Py_INCREF(triggers);
    Py_XDECREF(flag_stopwords);
    Py_XDECREF(flag_triggers);
    flag_stopwords = stopwords;
    flag_triggers = triggers;
    flag_usable = flag_add_set(stopwords, 1) == 0 && flag_add_set(triggers, 0) == 0;
    if (!flag_usable) {
        memset(flag_table, 0, sizeof flag_table);
        flag_used = 0;
    }
}

static int set_has(PyObject *set, PyObject *word) {
    return set == Py_None ? 0 : PySet_Contains(set, word);
}

/* Adds `w` to the line's trigger set, created on first use; -1 on error. */
static int add_hit(PyObject **found, PyObject *w) {
    if (*found == NULL && (*found = PySet_New(NULL)) == NULL) {
        return -1;
    }
    return PySet_Add(*found, w);
}

/* What the line's words give: how many there are, how many are stop words,
 * the trigger words among them, the first and the last word. */
typedef struct {
    Py_ssize_t count, stops;
    PyObject *found; /* trigger words (a set), NULL when none */
    PyObject *first, *last; /* new references, NULL when the line has no words */
} LineWords;

static void line_words_clear(LineWords *lw) {
    Py_CLEAR(lw->found);
    Py_CLEAR(lw->first);
    Py_CLEAR(lw->last);
}

/* The \w+ tokens of an ASCII line, looked up in the table; -1 on error. */
static int ascii_words(PyObject *line, LineWords *lw) {
    const Py_UCS1 *data = PyUnicode_1BYTE_DATA(line);
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    Py_ssize_t i = 0, last_start = -1, last_end = -1;
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
        const FlagEntry *e = flag_find(data + start, i - start);
        if (e != NULL) {
            lw->stops += e->stop;
            if (e->trigger && add_hit(&lw->found, e->word) < 0) {
                return -1;
            }
        }
        if (lw->count == 0) {
            lw->first = e != NULL ? (Py_INCREF(e->word), e->word) : PyUnicode_Substring(line, start, i);
            if (lw->first == NULL) {
                return -1;
            }
        }
        lw->count++;
        last_start = start;
        last_end = i;
    }
    if (lw->count > 0) {
        lw->last = PyUnicode_Substring(line, last_start, last_end);
        if (lw->last == NULL) {
            return -1;
        }
    }
    return 0;
}

/* The \w+ tokens of any line, each looked up in the sets; -1 on error. */
static int any_words(PyObject *line, PyObject *stopwords, PyObject *triggers, LineWords *lw) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
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
            return -1;
        }
        int stop = set_has(stopwords, w), trigger = set_has(triggers, w);
        if (stop < 0 || trigger < 0 || (trigger && add_hit(&lw->found, w) < 0)) {
            Py_DECREF(w);
            return -1;
        }
        lw->stops += stop;
        if (lw->count == 0) {
            Py_INCREF(w);
            lw->first = w;
        }
        Py_XSETREF(lw->last, w); /* the reference moves to last */
        lw->count++;
    }
    return 0;
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
    /* a mutable stop-word set could change between calls: its words are looked up every time */
    int use_table = stopwords == Py_None || PyFrozenSet_Check(stopwords);
    if (use_table) {
        flag_select(stopwords, triggers);
        use_table = flag_usable;
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
    PyObject *texts = PyList_New(n), *firsts = PyList_New(n), *lasts = PyList_New(n), *nc = PyList_New(n);
    PyObject *nw = PyList_New(n), *nstop = PyList_New(n), *ends = PyList_New(n), *nsent = PyList_New(n);
    PyObject *hits = PyList_New(n), *none_hit = PyFrozenSet_New(NULL), *empty = PyUnicode_New(0, 0);
    PyObject *result = NULL;
    if (!texts || !firsts || !lasts || !nc || !nw || !nstop || !ends || !nsent || !hits || !none_hit || !empty) {
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
        /* words of the lower-cased line: counts, trigger words, first and last */
        LineWords lw = {0, 0, NULL, NULL, NULL};
        int rc = use_table && PyUnicode_IS_ASCII(low) ? ascii_words(low, &lw) : any_words(low, stopwords, triggers, &lw);
        PyObject *wnv = rc < 0 ? NULL : PyLong_FromSsize_t(lw.count);
        PyObject *stv = rc < 0 ? NULL : PyLong_FromSsize_t(lw.stops);
        if (wnv == NULL || stv == NULL) {
            Py_XDECREF(wnv);
            Py_XDECREF(stv);
            line_words_clear(&lw);
            goto done;
        }
        PyList_SET_ITEM(nw, li, wnv);
        PyList_SET_ITEM(nstop, li, stv);
        if (lw.first == NULL) {
            Py_INCREF(empty);
            lw.first = empty;
            Py_INCREF(empty);
            lw.last = empty;
        }
        PyList_SET_ITEM(firsts, li, lw.first);
        PyList_SET_ITEM(lasts, li, lw.last);
        lw.first = lw.last = NULL;
        PyObject *hv;
        if (lw.found != NULL) {
            hv = PyFrozenSet_New(lw.found);
            Py_CLEAR(lw.found);
            if (hv == NULL) {
                goto done;
            }
        } else {
            hv = find_hits ? none_hit : Py_None;
            Py_INCREF(hv);
        }
        PyList_SET_ITEM(hits, li, hv);
    }
    result = PyTuple_Pack(9, texts, firsts, lasts, nc, nw, nstop, ends, nsent, hits);
done:
    /* a list not yet filled holds NULL items, which list deallocation skips */
    Py_XDECREF(texts);
    Py_XDECREF(firsts);
    Py_XDECREF(lasts);
    Py_XDECREF(nc);
    Py_XDECREF(nw);
    Py_XDECREF(nstop);
    Py_XDECREF(ends);
    Py_XDECREF(nsent);
    Py_XDECREF(hits);
    Py_XDECREF(none_hit);
    Py_XDECREF(empty);
    return result;
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS,
     "columns(lines, lowered, stopwords, triggers=None) -> (texts, firsts, lasts, nc, nw, nstop, ends, nsent, hits):\n"
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
