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
 *
 * `features(cls, lines, stopwords, triggers)` is `lines.features_python`: the same
 * columns, each line lower-cased here (an ASCII line byte by byte, others with
 * str.lower: no character lower-cases across a line break, so this is the page's
 * lower case line by line), the unspaced-script counts and the densities, put
 * straight into the slots of new `cls` (LineFeatures) objects: building them
 * through their __init__ had cost as much as the whole pass.
 *
 * `candidates(cls, lines, ...)` is `rules.rule_candidates_python` over the objects
 * `features` made: in one pass, the lines each per-line rule may claim (None for
 * a line it did not make, which the Python code then decides).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

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

/* What one line gives (new references in text, first, last, hits; NULL once cleared). */
typedef struct {
    PyObject *text, *first, *last, *hits;
    Py_ssize_t nc, nw, nstop, nsent;
    int ends;
} LineCols;

static void line_cols_clear(LineCols *c) {
    Py_CLEAR(c->text);
    Py_CLEAR(c->first);
    Py_CLEAR(c->last);
    Py_CLEAR(c->hits);
}

/* The columns of one line: `raw` as given, `low` its lower case (read by its bytes in the table
 * when it is ASCII and `use_table`). `none_hit` (the shared empty frozenset) and `empty` ("") are
 * borrowed. 0, or -1 with an exception set and `c` cleared. */
static int line_columns(PyObject *raw, PyObject *low, PyObject *stopwords, PyObject *triggers, int use_table,
                        PyObject *none_hit, PyObject *empty, LineCols *c) {
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
        return -1;
    }
    c->text = text;
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
    c->ends = e;
    Py_ssize_t s = e;
    if (tn > 1 && PyUnicode_FindChar(text, ' ', 0, tn, 1) >= 0) {
        s += count_boundaries(kind, data, tn);
    }
    c->nsent = s;
    c->nc = tn;
    /* words of the lower-cased line: counts, trigger words, first and last */
    LineWords lw = {0, 0, NULL, NULL, NULL};
    int rc = use_table && PyUnicode_IS_ASCII(low) ? ascii_words(low, &lw) : any_words(low, stopwords, triggers, &lw);
    if (rc < 0) {
        line_words_clear(&lw);
        line_cols_clear(c);
        return -1;
    }
    c->nw = lw.count;
    c->nstop = lw.stops;
    if (lw.first == NULL) {
        Py_INCREF(empty);
        lw.first = empty;
        Py_INCREF(empty);
        lw.last = empty;
    }
    c->first = lw.first;
    c->last = lw.last;
    if (lw.found != NULL) {
        c->hits = PyFrozenSet_New(lw.found);
        Py_CLEAR(lw.found);
        if (c->hits == NULL) {
            line_cols_clear(c);
            return -1;
        }
    } else {
        c->hits = triggers != Py_None ? none_hit : Py_None;
        Py_INCREF(c->hits);
    }
    return 0;
}

/* Checks the word lists; 1 when the table serves them (a mutable stop-word set could change between
 * calls: its words are looked up every time), 0 when not, -1 with an exception set. */
static int select_words(PyObject *stopwords, PyObject *triggers) {
    if (triggers != Py_None && !PyFrozenSet_Check(triggers)) {
        PyErr_SetString(PyExc_TypeError, "triggers must be a frozenset or None");
        return -1;
    }
    if (stopwords != Py_None && !PyAnySet_Check(stopwords)) {
        PyErr_SetString(PyExc_TypeError, "stopwords must be a set, a frozenset or None");
        return -1;
    }
    if (stopwords == Py_None || PyFrozenSet_Check(stopwords)) {
        flag_select(stopwords, triggers);
        return flag_usable;
    }
    return 0;
}

static PyObject *columns(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *lines, *lowered, *stopwords, *triggers = Py_None;
    if (!PyArg_ParseTuple(args, "O!O!O|O", &PyList_Type, &lines, &PyList_Type, &lowered, &stopwords, &triggers)) {
        return NULL;
    }
    if (triggers != Py_None && !PyFrozenSet_Check(triggers)) {
        PyErr_SetString(PyExc_TypeError, "triggers must be a frozenset or None");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(lines);
    if (PyList_GET_SIZE(lowered) != n) {
        PyErr_SetString(PyExc_ValueError, "lines and lowered differ in length");
        return NULL;
    }
    int use_table = select_words(stopwords, triggers);
    if (use_table < 0) {
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
        LineCols c = {NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0};
        if (line_columns(raw, low, stopwords, triggers, use_table, none_hit, empty, &c) < 0) {
            goto done;
        }
        PyObject *ncv = PyLong_FromSsize_t(c.nc), *wnv = PyLong_FromSsize_t(c.nw);
        PyObject *stv = PyLong_FromSsize_t(c.nstop), *sv = PyLong_FromSsize_t(c.nsent);
        if (!ncv || !wnv || !stv || !sv) {
            Py_XDECREF(ncv);
            Py_XDECREF(wnv);
            Py_XDECREF(stv);
            Py_XDECREF(sv);
            line_cols_clear(&c);
            goto done;
        }
        PyObject *eb = c.ends ? Py_True : Py_False;
        Py_INCREF(eb);
        /* the lists take the references */
        PyList_SET_ITEM(texts, li, c.text);
        PyList_SET_ITEM(firsts, li, c.first);
        PyList_SET_ITEM(lasts, li, c.last);
        PyList_SET_ITEM(hits, li, c.hits);
        PyList_SET_ITEM(nc, li, ncv);
        PyList_SET_ITEM(nw, li, wnv);
        PyList_SET_ITEM(nstop, li, stv);
        PyList_SET_ITEM(nsent, li, sv);
        PyList_SET_ITEM(ends, li, eb);
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

/* --- features(): the LineFeatures objects themselves ----------------------------------------- */

/* The slots of LineFeatures, in the order of its fields. */
#define N_SLOTS 15
static const char *slot_names[N_SLOTS] = {
    "index", "raw", "text", "_words", "n_chars", "n_words", "n_stop", "stop_density",
    "ends_sentence", "n_sentences", "_caps", "_date", "_hits", "_first", "_last",
};
enum { S_INDEX, S_RAW, S_TEXT, S_WORDS, S_NC, S_NW, S_NSTOP, S_DENS, S_ENDS, S_NSENT, S_CAPS, S_DATE, S_HITS, S_FIRST, S_LAST };
static PyTypeObject *slot_class = NULL; /* held: the class slot_offset is for */
static Py_ssize_t slot_offset[N_SLOTS];

/* Reads where each slot of `cls` lives in its instances (its member descriptors); 0 or -1. */
static int select_class(PyObject *cls) {
    if ((PyTypeObject *)cls == slot_class) {
        return 0;
    }
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "cls must be a class");
        return -1;
    }
    Py_ssize_t offsets[N_SLOTS];
    for (int k = 0; k < N_SLOTS; k++) {
        PyObject *d = PyObject_GetAttrString(cls, slot_names[k]);
        if (d == NULL) {
            PyErr_Clear();
        }
        int ok = d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type);
        PyMemberDef *m = ok ? ((PyMemberDescrObject *)d)->d_member : NULL;
        ok = ok && m->type == T_OBJECT_EX && !(m->flags & READONLY) &&
             PyType_IsSubtype((PyTypeObject *)cls, ((PyDescrObject *)d)->d_type);
        if (ok) {
            offsets[k] = m->offset;
        }
        Py_XDECREF(d);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "cls has no writable slot %s", slot_names[k]);
            return -1;
        }
    }
    memcpy(slot_offset, offsets, sizeof offsets);
    Py_INCREF(cls);
    Py_XSETREF(slot_class, (PyTypeObject *)cls);
    return 0;
}

/* The lower case of a line as str.lower() gives it: an ASCII line without capitals is its own. */
static PyObject *lower_line(PyObject *raw) {
    if (!PyUnicode_IS_ASCII(raw)) {
        return PyObject_CallMethod(raw, "lower", NULL);
    }
    const Py_UCS1 *d = PyUnicode_1BYTE_DATA(raw);
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw), k = 0;
    while (k < n && !(d[k] >= 'A' && d[k] <= 'Z')) {
        k++;
    }
    if (k == n) {
        Py_INCREF(raw);
        return raw;
    }
    PyObject *low = PyUnicode_New(n, 127);
    if (low == NULL) {
        return NULL;
    }
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(low);
    memcpy(o, d, (size_t)k);
    for (; k < n; k++) {
        o[k] = (d[k] >= 'A' && d[k] <= 'Z') ? (Py_UCS1)(d[k] + ('a' - 'A')) : d[k];
    }
    return low;
}

/* Unspaced scripts in a (stripped) text: characters of CJK_RE, and ideographic full stops. */
static void unspaced(PyObject *text, Py_ssize_t *cjk, Py_ssize_t *stops) {
    *cjk = *stops = 0;
    int kind = PyUnicode_KIND(text);
    if (kind == PyUnicode_1BYTE_KIND) {
        return; /* both are past U+00FF */
    }
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if ((c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
            (c >= 0xF900 && c <= 0xFAFF)) {
            (*cjk)++;
        } else if (c == 0x3002) {
            (*stops)++;
        }
    }
}

static PyObject *features(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cls, *lines, *stopwords, *triggers = Py_None;
    if (!PyArg_ParseTuple(args, "OO!O|O", &cls, &PyList_Type, &lines, &stopwords, &triggers)) {
        return NULL;
    }
    if (select_class(cls) < 0) {
        return NULL;
    }
    int use_table = select_words(stopwords, triggers);
    if (use_table < 0) {
        return NULL;
    }
    PyTypeObject *type = slot_class;
    Py_ssize_t n = PyList_GET_SIZE(lines);
    PyObject *out = PyList_New(n), *none_hit = PyFrozenSet_New(NULL), *empty = PyUnicode_New(0, 0);
    PyObject *no_caps = PyFloat_FromDouble(-1.0), *no_date = PyLong_FromLong(-2);
    PyObject *result = NULL;
    if (!out || !none_hit || !empty || !no_caps || !no_date) {
        goto done;
    }
    for (Py_ssize_t li = 0; li < n; li++) {
        PyObject *raw = PyList_GET_ITEM(lines, li);
        if (!PyUnicode_CheckExact(raw)) {
            result = Py_None; /* a str subclass may lower-case its own way: the Python code decides */
            Py_INCREF(result);
            goto done;
        }
        PyObject *low = lower_line(raw);
        if (low == NULL) {
            goto done;
        }
        LineCols c = {NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0};
        int rc = line_columns(raw, low, stopwords, triggers, use_table, none_hit, empty, &c);
        Py_DECREF(low);
        if (rc < 0) {
            goto done;
        }
        /* unspaced scripts: about two characters a word, and a character weighs two */
        Py_ssize_t cjk, stops;
        unspaced(c.text, &cjk, &stops);
        c.nsent += stops;
        c.nw += cjk / 2;
        c.nc += cjk;
        double dens;
        if (stopwords != Py_None) {
            dens = c.nw ? (double)c.nstop / (double)c.nw : 0.0;
        } else {
            dens = (c.nsent && c.nw >= 6) ? 0.5 : 0.0;
        }
        PyObject *values[N_SLOTS] = {
            PyLong_FromSsize_t(li), raw, c.text, Py_None, PyLong_FromSsize_t(c.nc), PyLong_FromSsize_t(c.nw),
            PyLong_FromSsize_t(c.nstop), PyFloat_FromDouble(dens), c.ends ? Py_True : Py_False,
            PyLong_FromSsize_t(c.nsent), no_caps, no_date, c.hits, c.first, c.last,
        };
        /* borrowed ones get their reference here; the ones made above (c's and the numbers) have theirs */
        Py_INCREF(raw);
        Py_INCREF(Py_None);
        Py_INCREF(values[S_ENDS]);
        Py_INCREF(no_caps);
        Py_INCREF(no_date);
        PyObject *obj = NULL;
        int made = values[S_INDEX] && values[S_NC] && values[S_NW] && values[S_NSTOP] && values[S_DENS] &&
                   values[S_NSENT];
        if (made) {
            obj = type->tp_alloc(type, 0);
        }
        if (obj == NULL) {
            for (int k = 0; k < N_SLOTS; k++) {
                Py_XDECREF(values[k]);
            }
            goto done;
        }
        for (int k = 0; k < N_SLOTS; k++) {
            *(PyObject **)((char *)obj + slot_offset[k]) = values[k]; /* the object takes the reference */
        }
        PyList_SET_ITEM(out, li, obj);
    }
    result = out;
    out = NULL;
done:
    Py_XDECREF(out);
    Py_XDECREF(none_hit);
    Py_XDECREF(empty);
    Py_XDECREF(no_caps);
    Py_XDECREF(no_date);
    return result;
}

/* --- candidates(): the lines each per-line rule may claim ----------------------------------- */

/* bits of `word_bits` (a trigger word: the rules it serves) and of `first_bits` (a first word) */
enum { T_LEGAL = 1, T_PROMO = 2, T_CAPTION = 4, T_COMMENT = 8, T_UI = 16, T_AGO = 32 };
enum { F_LINK = 1, F_BYLINE = 2 };
/* the lists candidates() gives, in this order */
enum {
    C_LEGAL, C_PROMO, C_CAPTION, C_COMMENT, C_UI, C_AGO, C_FIRST_LINK, C_TAG_END, C_COPYRIGHT,
    C_DIGIT_FIRST, C_ALT_TEXT, C_DATED, C_FIRST_BYLINE, C_BULLET, C_KEYWORD, N_CAND
};

/* The bits `map` (a dict of str -> int) gives `key`, 0 when it has none; -1 on error. */
static long bits_of(PyObject *map, PyObject *key) {
    PyObject *v = PyDict_GetItemWithError(map, key);
    if (v == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return PyLong_AsLong(v);
}

static inline PyObject *slot(PyObject *obj, int k) { return *(PyObject **)((char *)obj + slot_offset[k]); }

static PyObject *candidates(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cls, *lines, *word_bits, *first_bits;
    Py_ssize_t pmw, kmi;
    if (!PyArg_ParseTuple(args, "OO!nnO!O!", &cls, &PyList_Type, &lines, &pmw, &kmi, &PyDict_Type, &word_bits,
                          &PyDict_Type, &first_bits)) {
        return NULL;
    }
    if (select_class(cls) < 0) {
        return NULL;
    }
    PyObject *out[N_CAND];
    for (int k = 0; k < N_CAND; k++) {
        out[k] = PyList_New(0);
    }
    PyObject *result = NULL;
    for (int k = 0; k < N_CAND; k++) {
        if (out[k] == NULL) {
            goto done;
        }
    }
    for (Py_ssize_t li = 0; li < PyList_GET_SIZE(lines); li++) {
        PyObject *f = PyList_GET_ITEM(lines, li);
        if (Py_TYPE(f) != slot_class) {
            result = Py_None; /* not made by the feature pass: the Python code decides */
            goto done;
        }
        PyObject *text = slot(f, S_TEXT), *nwo = slot(f, S_NW), *ends = slot(f, S_ENDS);
        PyObject *dens = slot(f, S_DENS), *hits = slot(f, S_HITS), *first = slot(f, S_FIRST);
        if (text == NULL || !PyUnicode_CheckExact(text) || PyUnicode_GET_LENGTH(text) == 0 || nwo == NULL ||
            !PyLong_CheckExact(nwo) || (ends != Py_True && ends != Py_False) || dens == NULL ||
            !PyFloat_CheckExact(dens) || hits == NULL || !PyFrozenSet_CheckExact(hits) || first == NULL ||
            !PyUnicode_CheckExact(first)) {
            result = Py_None;
            goto done;
        }
        int overflow;
        long long nw = PyLong_AsLongLongAndOverflow(nwo, &overflow);
        if (overflow) {
            result = Py_None;
            goto done;
        }
        long tb = 0;
        if (PySet_GET_SIZE(hits) > 0) {
            PyObject *it = PyObject_GetIter(hits), *w;
            if (it == NULL) {
                goto done;
            }
            while ((w = PyIter_Next(it)) != NULL) {
                long b = bits_of(word_bits, w);
                Py_DECREF(w);
                if (b < 0) {
                    Py_DECREF(it);
                    goto done;
                }
                tb |= b;
            }
            Py_DECREF(it);
            if (PyErr_Occurred()) {
                goto done;
            }
        }
        long fb = bits_of(first_bits, first);
        if (fb < 0) {
            goto done;
        }
        int kind = PyUnicode_KIND(text);
        const void *data = PyUnicode_DATA(text);
        Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        Py_UCS4 c0 = PyUnicode_READ(kind, data, 0), cl = PyUnicode_READ(kind, data, n - 1);
        int copyright = 0, digit = 0;
        for (Py_ssize_t i = 0; i < n && !(copyright && digit); i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            copyright |= c == 0xA9;
            digit |= c < 128 ? (c >= '0' && c <= '9') : Py_UNICODE_ISDECIMAL(c);
        }
        int tag_end = cl == ']' || (cl == '|' && n >= 2 && PyUnicode_READ(kind, data, n - 2) == ']');
        int bullet = c0 == '-' || c0 == 0x2013 || c0 == 0x2014 || c0 == 0x2022 || c0 == 0x00B7 || c0 == '|';
        int take[N_CAND] = {
            [C_LEGAL] = (tb & T_LEGAL) != 0,
            [C_PROMO] = (tb & T_PROMO) != 0,
            [C_CAPTION] = (tb & T_CAPTION) != 0,
            [C_COMMENT] = (tb & T_COMMENT) != 0,
            [C_UI] = (tb & T_UI) != 0,
            [C_AGO] = (tb & T_AGO) != 0,
            [C_FIRST_LINK] = (fb & F_LINK) != 0,
            [C_TAG_END] = tag_end,
            [C_COPYRIGHT] = copyright,
            [C_DIGIT_FIRST] = Py_UNICODE_ISDIGIT(c0),
            [C_ALT_TEXT] = nw <= 3 && ends == Py_False && c0 >= 'a' && c0 <= 'z',
            [C_DATED] = nw <= pmw && digit,
            [C_FIRST_BYLINE] = (fb & F_BYLINE) != 0,
            [C_BULLET] = bullet,
            [C_KEYWORD] = nw >= kmi && PyFloat_AS_DOUBLE(dens) <= 0.2,
        };
        for (int k = 0; k < N_CAND; k++) {
            if (take[k] && PyList_Append(out[k], f) < 0) {
                goto done;
            }
        }
    }
    result = PyTuple_New(N_CAND);
    if (result != NULL) {
        for (int k = 0; k < N_CAND; k++) {
            PyTuple_SET_ITEM(result, k, out[k]);
            out[k] = NULL;
        }
    }
done:
    for (int k = 0; k < N_CAND; k++) {
        Py_XDECREF(out[k]);
    }
    if (result == Py_None) {
        Py_INCREF(result);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS,
     "columns(lines, lowered, stopwords, triggers=None) -> (texts, firsts, lasts, nc, nw, nstop, ends, nsent, hits):\n"
     "per-line feature columns of a page (see lines.columns_python; stopwords and triggers may be None)."},
    {"features", features, METH_VARARGS,
     "features(cls, lines, stopwords, triggers=None) -> [cls, ...]: the LineFeatures of every line, the lines\n"
     "lower-cased here (see lines.features_python; stopwords and triggers may be None); None when a line is\n"
     "not a str itself."},
    {"candidates", candidates, METH_VARARGS,
     "candidates(cls, lines, pattern_max_words, keyword_min_items, word_bits, first_bits) -> tuple of lists, or\n"
     "None for a line the feature pass did not make (see rules.rule_candidates_python)."},
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
