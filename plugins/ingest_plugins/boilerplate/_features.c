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
 * The page-level adjustments for unspaced scripts stay in Python: only pages
 * that have them pay for them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int is_word_char(Py_UCS4 c) {
    if (c < 128) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    return Py_UNICODE_ISALNUM(c);
}

static int is_ender(Py_UCS4 c) {
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

static int is_closer(Py_UCS4 c) {
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

/* Appends the \w+ tokens of `line` to a new list; NULL on error. */
static PyObject *words_of(PyObject *line) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    int kind = PyUnicode_KIND(line);
    const void *data = PyUnicode_DATA(line);
    PyObject *words = PyList_New(0);
    if (words == NULL) {
        return NULL;
    }
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
        if (w == NULL || PyList_Append(words, w) < 0) {
            Py_XDECREF(w);
            Py_DECREF(words);
            return NULL;
        }
        Py_DECREF(w);
    }
    return words;
}

/* Counts the positions where `first` is followed by a space. */
static Py_ssize_t count_pair(int kind, const void *data, Py_ssize_t n, Py_UCS4 first) {
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        if (PyUnicode_READ(kind, data, i) == first && PyUnicode_READ(kind, data, i + 1) == ' ') {
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
    Py_ssize_t n = PyList_GET_SIZE(lines);
    if (PyList_GET_SIZE(lowered) != n) {
        PyErr_SetString(PyExc_ValueError, "lines and lowered differ in length");
        return NULL;
    }
    int count_stops = stopwords != Py_None;
    if (count_stops && !PyAnySet_Check(stopwords)) {
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
            s += count_pair(kind, data, tn, '.') + count_pair(kind, data, tn, '?') + count_pair(kind, data, tn, '!');
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
        /* words of the lower-cased line, and stop words among them */
        PyObject *ws = words_of(low);
        if (ws == NULL) {
            goto done;
        }
        PyList_SET_ITEM(words, li, ws);
        Py_ssize_t wn = PyList_GET_SIZE(ws), stops = 0;
        if (count_stops) {
            for (Py_ssize_t k = 0; k < wn; k++) {
                int hit = PySet_Contains(stopwords, PyList_GET_ITEM(ws, k));
                if (hit < 0) {
                    goto done;
                }
                stops += hit;
            }
        }
        PyObject *wnv = PyLong_FromSsize_t(wn), *stv = PyLong_FromSsize_t(stops);
        if (wnv == NULL || stv == NULL) {
            Py_XDECREF(wnv);
            Py_XDECREF(stv);
            goto done;
        }
        PyList_SET_ITEM(nw, li, wnv);
        PyList_SET_ITEM(nstop, li, stv);
        /* trigger words of the line */
        PyObject *found = NULL;
        if (find_hits) {
            for (Py_ssize_t k = 0; k < wn; k++) {
                PyObject *w = PyList_GET_ITEM(ws, k);
                int hit = PySet_Contains(triggers, w);
                if (hit < 0 || (hit && found == NULL && (found = PySet_New(NULL)) == NULL) ||
                    (hit && PySet_Add(found, w) < 0)) {
                    Py_XDECREF(found);
                    goto done;
                }
            }
        }
        PyObject *hv = Py_None;
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

PyMODINIT_FUNC PyInit__features(void) { return PyModule_Create(&module); }
