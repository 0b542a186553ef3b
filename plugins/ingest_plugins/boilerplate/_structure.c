/* Native article-span search for the boilerplate stage.
 *
 * `best_span(feats, classes, units, removed, good, dated_rules, line_pen,
 * word_pen, dated_factor, bridge, short)` is `structure.best_span_python` in
 * C, step for step and in the same floating-point operations: each unit gets
 * a value (its words when good, a negative cost otherwise; short gaps between
 * good units cost nothing), then Kadane's maximum-sum segment. Returns
 * (first, last) or None.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *str_n_words, *str_n_chars, *str_end_marker;

/* An int attribute of a LineFeatures object; -1 with an exception set on error. */
static int int_attr(PyObject *obj, PyObject *name, long *out) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) {
        return -1;
    }
    *out = PyLong_AsLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* What the line rules made of a unit's first line: 0 nothing or another rule,
 * 1 a byline/date/comment header (DATED_RULES), 2 a cut end marker; -1 on error. */
static int first_line_rule(PyObject *units, Py_ssize_t u, PyObject *removed, PyObject *dated_rules) {
    PyObject *lines_u = PyList_GET_ITEM(units, u);
    PyObject *first = PySequence_GetItem(lines_u, 0);
    if (first == NULL) {
        return -1;
    }
    PyObject *r = PyDict_GetItemWithError(removed, first); /* borrowed */
    Py_DECREF(first);
    if (r == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *name = PySequence_GetItem(r, 0);
    if (name == NULL) {
        return -1;
    }
    int dated = PySet_Contains(dated_rules, name);
    int kind = 0;
    if (dated < 0) {
        kind = -1;
    } else if (dated) {
        kind = 1;
    } else {
        int marker = PyObject_RichCompareBool(name, str_end_marker, Py_EQ);
        kind = marker < 0 ? -1 : (marker ? 2 : 0);
    }
    Py_DECREF(name);
    return kind;
}

static PyObject *best_span(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *feats, *classes, *units, *removed, *good, *dated_rules;
    double line_pen, word_pen, dated_factor;
    Py_ssize_t bridge;
    long short_len;
    if (!PyArg_ParseTuple(args, "O!O!O!O!OO!dddnl", &PyList_Type, &feats, &PyList_Type, &classes, &PyList_Type, &units,
                          &PyDict_Type, &removed, &good, &PyFrozenSet_Type, &dated_rules, &line_pen, &word_pen,
                          &dated_factor, &bridge, &short_len)) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(feats);
    Py_ssize_t m = n; /* units with a class and lines; the rest keep value 0 */
    if (PyList_GET_SIZE(classes) < m) {
        m = PyList_GET_SIZE(classes);
    }
    if (PyList_GET_SIZE(units) < m) {
        m = PyList_GET_SIZE(units);
    }
    double *values = PyMem_Calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (values == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    Py_ssize_t gap_start = -1;
    int gap_ok = 1, seen_good = 0;
    for (Py_ssize_t u = 0; u < m; u++) {
        PyObject *f = PyList_GET_ITEM(feats, u);
        PyObject *c = PyList_GET_ITEM(classes, u);
        int is_good = c == good ? 1 : PyObject_RichCompareBool(c, good, Py_EQ);
        long n_words;
        if (is_good < 0 || int_attr(f, str_n_words, &n_words) < 0) {
            goto done;
        }
        if (is_good) {
            values[u] = (double)n_words;
            if (seen_good && gap_start >= 0 && gap_ok && u - gap_start <= bridge) {
                for (Py_ssize_t g = gap_start; g < u; g++) {
                    values[g] = 0.0;
                }
            }
            seen_good = 1;
            gap_start = -1;
            continue;
        }
        double cost = -(line_pen + word_pen * (double)n_words);
        long n_chars;
        if (int_attr(f, str_n_chars, &n_chars) < 0) {
            goto done;
        }
        int ok = n_chars < short_len;
        int rule = first_line_rule(units, u, removed, dated_rules);
        if (rule < 0) {
            goto done;
        }
        if (rule == 1) {
            cost *= dated_factor;
            ok = 0;
        } else if (rule == 2) {
            ok = 0;
        }
        values[u] = cost;
        if (gap_start < 0) {
            gap_start = u;
            gap_ok = ok;
        } else if (!ok) {
            gap_ok = 0;
        }
    }
    double best = 0.0, cur = 0.0;
    Py_ssize_t start = 0, lo = -1, hi = -1;
    for (Py_ssize_t u = 0; u < n; u++) {
        if (cur <= 0) {
            cur = values[u];
            start = u;
        } else {
            cur += values[u];
        }
        if (cur > best) {
            best = cur;
            lo = start;
            hi = u;
        }
    }
    if (lo < 0) {
        result = Py_None;
        Py_INCREF(result);
    } else {
        result = Py_BuildValue("(nn)", lo, hi);
    }
done:
    PyMem_Free(values);
    return result;
}

static PyMethodDef methods[] = {
    {"best_span", best_span, METH_VARARGS,
     "best_span(feats, classes, units, removed, good, dated_rules, line_pen, word_pen, dated_factor, bridge, short)\n"
     "-> (first, last) | None: the article span (see structure.best_span_python)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_structure", "Native article-span search for the boilerplate stage.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__structure(void) {
    str_n_words = PyUnicode_InternFromString("n_words");
    str_n_chars = PyUnicode_InternFromString("n_chars");
    str_end_marker = PyUnicode_InternFromString("end_marker");
    if (str_n_words == NULL || str_n_chars == NULL || str_end_marker == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
