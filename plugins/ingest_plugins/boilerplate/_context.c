/* Native neighbourhood resolution for the boilerplate stage.
 *
 * `resolve(initial, min_run, transparent, max_distance, sentence, names)` is
 * `context.resolve_python` in C, step for step: short units take their class
 * from their neighbours, runs of near-good sentences become good, then the
 * remaining near-good units take their class from theirs. `names` is the
 * tuple (GOOD, NEARGOOD, SHORT, BAD) of class strings; the result holds those
 * objects (or the input's own objects where a class is left as it was).
 * `transparent` and `sentence` are lists as long as `initial`, or None.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

enum { GOOD = 0, NEARGOOD = 1, SHORT = 2, BAD = 3, OTHER = 4 };

/* Class code of `item`: identity first (the usual case), then equality. */
static int class_code(PyObject *item, PyObject *names) {
    for (int k = 0; k < 4; k++) {
        if (item == PyTuple_GET_ITEM(names, k)) {
            return k;
        }
    }
    for (int k = 0; k < 4; k++) {
        int eq = PyObject_RichCompareBool(item, PyTuple_GET_ITEM(names, k), Py_EQ);
        if (eq < 0) {
            return -1;
        }
        if (eq) {
            return k;
        }
    }
    return OTHER;
}

/* Truth values of an optional list (None: `missing` everywhere); -1 on error. */
static int flags_of(PyObject *list, Py_ssize_t n, int missing, char *out) {
    if (list == Py_None) {
        memset(out, missing, (size_t)n);
        return 0;
    }
    if (!PyList_Check(list) || PyList_GET_SIZE(list) != n) {
        PyErr_SetString(PyExc_ValueError, "transparent and sentence must be lists as long as initial, or None");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int t = PyObject_IsTrue(PyList_GET_ITEM(list, i));
        if (t < 0) {
            return -1;
        }
        out[i] = (char)t;
    }
    return 0;
}

/* Nearest class before (prev) and after (next) every unit that is not in the
 * `skip` mask (bit per class code), looking through transparent units; a
 * neighbour `far` or more skipped units away counts as bad, as do the edges. */
static void neighbours(const int *cls, Py_ssize_t n, int skip, const char *transparent, Py_ssize_t far, int *prev,
                       int *next) {
    int last = BAD;
    Py_ssize_t gap = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        prev[i] = gap < far ? last : BAD;
        if (transparent[i]) {
            continue;
        }
        if (!(skip & (1 << cls[i]))) {
            last = cls[i];
            gap = 0;
        } else {
            gap++;
        }
    }
    last = BAD;
    gap = 0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        next[i] = gap < far ? last : BAD;
        if (transparent[i]) {
            continue;
        }
        if (!(skip & (1 << cls[i]))) {
            last = cls[i];
            gap = 0;
        } else {
            gap++;
        }
    }
}

static PyObject *resolve(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *initial, *transparent_obj, *sentence_obj, *names;
    Py_ssize_t min_run, max_distance;
    if (!PyArg_ParseTuple(args, "O!nOnOO!", &PyList_Type, &initial, &min_run, &transparent_obj, &max_distance,
                          &sentence_obj, &PyTuple_Type, &names)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(names) != 4) {
        PyErr_SetString(PyExc_ValueError, "names must be (GOOD, NEARGOOD, SHORT, BAD)");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(initial);
    PyObject *result = NULL;
    size_t cells = (size_t)(n > 0 ? n : 1);
    int *init = PyMem_Malloc(cells * sizeof(int) * 7);
    char *flags = PyMem_Malloc(cells * 2);
    if (init == NULL || flags == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int *cls = init + cells, *p1 = cls + cells, *n1 = p1 + cells, *p2 = n1 + cells, *n2 = p2 + cells;
    int *run = n2 + cells; /* indices of the current near-good run */
    char *transparent = flags, *sentence = flags + cells;
    if (flags_of(transparent_obj, n, 0, transparent) < 0 || flags_of(sentence_obj, n, 1, sentence) < 0) {
        goto done;
    }
    int has_short = 0, has_near = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int c = class_code(PyList_GET_ITEM(initial, i), names);
        if (c < 0) {
            goto done;
        }
        init[i] = cls[i] = c;
        has_short |= c == SHORT;
    }
    Py_ssize_t far = max_distance > 0 ? max_distance : n + 1;
    if (has_short) {
        neighbours(init, n, (1 << SHORT) | (1 << NEARGOOD), transparent, far, p1, n1);
        neighbours(init, n, 1 << SHORT, transparent, far, p2, n2);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (init[i] != SHORT) {
                continue;
            }
            int a = p1[i], b = n1[i];
            if (a == GOOD && b == GOOD) {
                cls[i] = GOOD;
            } else if (a == BAD && b == BAD) {
                cls[i] = BAD;
            } else if ((a == BAD && p2[i] == NEARGOOD) || (b == BAD && n2[i] == NEARGOOD)) {
                cls[i] = GOOD;
            } else {
                cls[i] = BAD;
            }
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        has_near |= cls[i] == NEARGOOD;
    }
    if (has_near) {
        /* a run of near-good sentences is prose on its own; short units and thin
         * furniture inside it do not break it */
        Py_ssize_t run_len = 0;
        for (Py_ssize_t i = 0; i <= n; i++) {
            int c = i < n ? cls[i] : BAD;
            if (c == NEARGOOD && sentence[i]) {
                run[run_len++] = (int)i;
            } else if (i == n || !(init[i] == SHORT || transparent[i])) {
                if (run_len >= min_run) {
                    for (Py_ssize_t j = 0; j < run_len; j++) {
                        cls[run[j]] = GOOD;
                    }
                }
                run_len = 0;
            }
        }
        neighbours(cls, n, 1 << NEARGOOD, transparent, n + 1, p1, n1);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (cls[i] == NEARGOOD) {
                cls[i] = (p1[i] == BAD && n1[i] == BAD) ? BAD : GOOD;
            }
        }
    }
    result = PyList_New(n);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = cls[i] == init[i] ? PyList_GET_ITEM(initial, i) : PyTuple_GET_ITEM(names, cls[i]);
        Py_INCREF(item);
        PyList_SET_ITEM(result, i, item);
    }
done:
    PyMem_Free(init);
    PyMem_Free(flags);
    return result;
}

static PyMethodDef methods[] = {
    {"resolve", resolve, METH_VARARGS,
     "resolve(initial, min_run, transparent, max_distance, sentence, names) -> classes: context resolution\n"
     "of unit classes (see context.resolve_python; names is (GOOD, NEARGOOD, SHORT, BAD))."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_context", "Native neighbourhood resolution for the boilerplate stage.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__context(void) { return PyModule_Create(&module); }
