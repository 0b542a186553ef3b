/* The lexicon's per-page work in one pass: the C twin of
 * ingest_plugins/boilerplate/lexicon.py::fingerprint_python and
 * lines.py::normalise (for lists of lines).
 *
 * A line is normalised here as lines.py's ``normalise`` does it: lower case
 * (``str.lower``), a decimal digit as "0", any character that is not a word
 * character (``str.isalnum``) a separator, runs of separators one space, none
 * at the ends; ASCII lines by a table, others through the same
 * Py_UNICODE_ISDECIMAL / Py_UNICODE_ISALNUM the regular expression engine uses. Checksums are CRC-32
 * (the polynomial of zlib.crc32), of the line's UTF-8 bytes ("surrogatepass"
 * for a lone surrogate), as in the Python code. Results are identical.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* CRC-32 tables for eight bytes a step ("slicing by 8"); crc_table[0] is the classic one. */
static uint32_t crc_table[8][256];

static void
crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            crc_table[t][n] = (crc_table[t - 1][n] >> 8) ^ crc_table[0][crc_table[t - 1][n] & 0xFF];
}

/* zlib.crc32(data, start) */
static uint32_t
crc32_update(uint32_t start, const unsigned char *data, Py_ssize_t len)
{
    uint32_t c = start ^ 0xFFFFFFFFu;
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                           (uint32_t)data[3] << 24);
        uint32_t hi = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
                      (uint32_t)data[7] << 24;
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
            crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        data += 8;
        len -= 8;
    }
    while (len-- > 0)
        c = crc_table[0][(c ^ *data++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* An ASCII character's part of a key: a lower-case letter, "0" for a digit, 0 for a separator. */
static char ascii_key[128];

static void
ascii_init(void)
{
    for (int c = 0; c < 128; c++) {
        if (c >= '0' && c <= '9')
            ascii_key[c] = '0';
        else if (c >= 'a' && c <= 'z')
            ascii_key[c] = (char)c;
        else if (c >= 'A' && c <= 'Z')
            ascii_key[c] = (char)(c - 'A' + 'a');
        else
            ascii_key[c] = 0;
    }
}

/* Appends ``keep`` to ``out`` (after one space when a separator is pending and the key has
 * begun); a zero ``keep`` is a separator. */
#define PUT(keep)                                        \
    do {                                                 \
        Py_UCS4 put_ = (keep);                           \
        if (!put_) {                                     \
            gap = 1;                                     \
            break;                                       \
        }                                                \
        if (gap && len)                                  \
            out[len++] = ' ';                            \
        gap = 0;                                         \
        out[len++] = put_;                               \
    } while (0)

/* Appends the normalised form of the lower-cased character ``c`` to ``out``. */
#define EMIT(c)                                                                             \
    do {                                                                                    \
        Py_UCS4 ch_ = (c);                                                                  \
        PUT(Py_UNICODE_ISDECIMAL(ch_) ? (Py_UCS4)'0' : (Py_UNICODE_ISALNUM(ch_) ? ch_ : 0)); \
    } while (0)

/* normalise() of a line with non-ASCII characters: str.lower(), then what the regular
 * expressions of lines.py do: a decimal digit (\d) becomes "0", a run of characters that are
 * not word characters (\w: str.isalnum()) or are "_" becomes one space, none at the ends.
 * Lower case comes from Py_UNICODE_TOLOWER, which is str.lower() one character at a time
 * but for two characters: U+0130 (lower-cases to two) and the capital sigma (its lower
 * case depends on the letters around it); a line with either is lower-cased by str.lower(). */
static PyObject *
normalise_unicode(PyObject *line)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    int kind = PyUnicode_KIND(line);
    const void *data = PyUnicode_DATA(line);
    PyObject *lowered = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == 0x130 || c == 0x3A3) {
            lowered = PyObject_CallMethod(line, "lower", NULL);
            if (lowered == NULL)
                return NULL;
            n = PyUnicode_GET_LENGTH(lowered);
            kind = PyUnicode_KIND(lowered);
            data = PyUnicode_DATA(lowered);
            break;
        }
    }
    Py_UCS4 *out = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(n + 1));
    if (out == NULL) {
        Py_XDECREF(lowered);
        return PyErr_NoMemory();
    }
    Py_ssize_t len = 0;
    int gap = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 128) /* most characters of a non-ASCII line: no Unicode table needed */
            PUT((Py_UCS4)(unsigned char)ascii_key[c]);
        else
            EMIT(lowered == NULL ? Py_UNICODE_TOLOWER(c) : c);
    }
    PyObject *key = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, len);
    PyMem_Free(out);
    Py_XDECREF(lowered);
    return key;
}

/* The normalised key of ``line`` (a new reference), or NULL with an exception set. */
static PyObject *
normalise_one(PyObject *line, PyObject *fallback, char **buf, Py_ssize_t *cap)
{
    (void)fallback; /* the rules are all here; kept for callers that pass the Python twin */
    if (!PyUnicode_IS_ASCII(line))
        return normalise_unicode(line);
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    const unsigned char *s = PyUnicode_1BYTE_DATA(line);
    if (n + 1 > *cap) {
        char *grown = PyMem_Realloc(*buf, (size_t)(n + 1));
        if (grown == NULL)
            return PyErr_NoMemory();
        *buf = grown;
        *cap = n + 1;
    }
    char *out = *buf;
    Py_ssize_t len = 0;
    int gap = 0; /* a separator is pending */
    for (Py_ssize_t i = 0; i < n; i++)
        PUT(ascii_key[s[i]]);
    return PyUnicode_FromStringAndSize(out, len);
}

/* Whether ``line`` is empty or all whitespace (str.isspace() of a non-empty line). */
static int
blank(PyObject *line)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    int kind = PyUnicode_KIND(line);
    const void *data = PyUnicode_DATA(line);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            return 0;
    return 1;
}

static Py_ssize_t
spaces(PyObject *key)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(key), count = 0;
    int kind = PyUnicode_KIND(key);
    if (kind == PyUnicode_1BYTE_KIND) { /* most keys: a loop the compiler vectorises */
        const Py_UCS1 *p = PyUnicode_1BYTE_DATA(key);
        for (Py_ssize_t i = 0; i < n; i++)
            count += p[i] == ' ';
        return count;
    }
    const void *data = PyUnicode_DATA(key);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(kind, data, i) == ' ')
            count++;
    return count;
}

/* crc32 of the line's UTF-8 bytes, or (uint32_t)-1 on error... errors are rare: report by flag */
static int
line_sum(PyObject *line, uint32_t *sum)
{
    if (PyUnicode_IS_ASCII(line)) {
        *sum = crc32_update(0, PyUnicode_1BYTE_DATA(line), PyUnicode_GET_LENGTH(line));
        return 0;
    }
    PyObject *bytes = PyUnicode_AsEncodedString(line, "utf-8", "surrogatepass");
    if (bytes == NULL)
        return -1;
    *sum = crc32_update(0, (const unsigned char *)PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
    return 0;
}

static int
put(PyObject *dict, PyObject *key, uint32_t value)
{
    PyObject *v = PyLong_FromUnsignedLong(value);
    if (v == NULL)
        return -1;
    int rc = PyDict_SetItem(dict, key, v);
    Py_DECREF(v);
    return rc;
}

/* The fingerprint of ``text`` as two dicts, key -> context, in the order of fingerprint_python's:
 * ``*short_out`` (lines of fewer than ``max_words`` spaces) and ``*long_out``. 0, or -1 with an
 * exception set. */
static int
fingerprint_dicts(PyObject *text, Py_ssize_t max_words, Py_ssize_t context_min_words, PyObject **short_out,
                  PyObject **long_out)
{
    int result = -1;
    PyObject *lines = NULL, *keys = NULL, *shorts = NULL, *longs = NULL, *joined = NULL;
    uint32_t *sums = NULL, *before = NULL;
    Py_ssize_t *words = NULL; /* the spaces in each key: its words less one */
    char *buf = NULL;
    Py_ssize_t cap = 0;

    PyObject *newline = PyUnicode_FromString("\n");
    if (newline == NULL)
        return -1;
    lines = PyUnicode_Split(text, newline, -1);
    Py_DECREF(newline);
    if (lines == NULL)
        goto done;
    Py_ssize_t nlines = PyList_GET_SIZE(lines);
    keys = PyList_New(0);
    sums = PyMem_Malloc(sizeof(uint32_t) * (size_t)(nlines + 1));
    before = PyMem_Malloc(sizeof(uint32_t) * (size_t)(nlines + 1));
    words = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(nlines + 1));
    if (keys == NULL || sums == NULL || before == NULL || words == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < nlines; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (PyUnicode_GET_LENGTH(line) == 0 || blank(line))
            continue;
        PyObject *key = normalise_one(line, NULL, &buf, &cap);
        if (key == NULL)
            goto done;
        if (!PyUnicode_Check(key)) {
            Py_DECREF(key);
            PyErr_SetString(PyExc_TypeError, "normalise must return str");
            goto done;
        }
        if (PyUnicode_GET_LENGTH(key) == 0) {
            Py_DECREF(key);
            continue;
        }
        int rc = PyList_Append(keys, key);
        uint32_t sum = 0;
        Py_ssize_t nsp = spaces(key);
        if (rc == 0 && nsp >= context_min_words - 1) {
            rc = line_sum(line, &sum);
            if (sum == 0)
                sum = 1;
        }
        Py_DECREF(key);
        if (rc < 0)
            goto done;
        words[n] = nsp;
        sums[n++] = sum;
    }
    /* the checksum of the page's own lines, for a line with no text around it: made when a
     * line needs it (few pages have one) */
    uint32_t alone = 0;
    int have_alone = 0;

    uint32_t last = 0, last2 = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char b[4] = {last2 & 0xFF, (last2 >> 8) & 0xFF, (last2 >> 16) & 0xFF, last2 >> 24};
        before[i] = crc32_update(last, b, 4);
        if (sums[i]) {
            last2 = last;
            last = sums[i];
        }
    }
    unsigned char empty4[4] = {0, 0, 0, 0};
    uint32_t nothing_above = crc32_update(0, empty4, 4);
    shorts = PyDict_New();
    longs = PyDict_New();
    if (shorts == NULL || longs == NULL)
        goto done;
    uint32_t after = 0, after2 = 0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        uint32_t context;
        if (after || before[i] != nothing_above) {
            unsigned char b[8] = {after & 0xFF,        (after >> 8) & 0xFF,  (after >> 16) & 0xFF,
                                  after >> 24,         after2 & 0xFF,        (after2 >> 8) & 0xFF,
                                  (after2 >> 16) & 0xFF, after2 >> 24};
            context = crc32_update(before[i], b, 8);
        }
        else {
            if (!have_alone) {
                PyObject *sep = PyUnicode_FromString("\n");
                if (sep == NULL)
                    goto done;
                joined = PyUnicode_Join(sep, keys);
                Py_DECREF(sep);
                if (joined == NULL || line_sum(joined, &alone) < 0)
                    goto done;
                have_alone = 1;
            }
            context = alone;
        }
        if (put(words[i] >= max_words ? longs : shorts, key, context) < 0)
            goto done;
        if (sums[i]) {
            after2 = after;
            after = sums[i];
        }
    }
    *short_out = shorts;
    *long_out = longs;
    shorts = longs = NULL;
    result = 0;
done:
    Py_XDECREF(lines);
    Py_XDECREF(keys);
    Py_XDECREF(shorts);
    Py_XDECREF(longs);
    Py_XDECREF(joined);
    PyMem_Free(sums);
    PyMem_Free(before);
    PyMem_Free(words);
    PyMem_Free(buf);
    return result;
}

/* fingerprint(text, max_words, context_min_words, normalise) ->
 *     (short keys, their contexts, long keys, their contexts) */
static PyObject *
fingerprint(PyObject *self, PyObject *args)
{
    PyObject *text, *fallback, *shorts, *longs;
    Py_ssize_t max_words, context_min_words;
    if (!PyArg_ParseTuple(args, "UnnO:fingerprint", &text, &max_words, &context_min_words, &fallback))
        return NULL;
    if (fingerprint_dicts(text, max_words, context_min_words, &shorts, &longs) < 0)
        return NULL;
    PyObject *result = NULL;
    PyObject *sk = PyDict_Keys(shorts), *sv = PyDict_Values(shorts);
    PyObject *lk = PyDict_Keys(longs), *lv = PyDict_Values(longs);
    if (sk && sv && lk && lv)
        result = PyTuple_Pack(4, sk, sv, lk, lv);
    Py_XDECREF(sk);
    Py_XDECREF(sv);
    Py_XDECREF(lk);
    Py_XDECREF(lv);
    Py_DECREF(shorts);
    Py_DECREF(longs);
    return result;
}

/* crc32 of a key's UTF-8 bytes ("surrogatepass", as lexicon.partition_of encodes it). */
static int
key_sum(PyObject *key, uint32_t *sum)
{
    if (PyUnicode_IS_ASCII(key)) {
        *sum = crc32_update(0, PyUnicode_1BYTE_DATA(key), PyUnicode_GET_LENGTH(key));
        return 0;
    }
    return line_sum(key, sum);
}

/* The columns of a partition's piece (lexicon.LexiconPiece, as lists): the documents' sites,
 * their short lines, those lines' contexts, where each document's short lines end, the same
 * three for long lines. */
enum { COL_SITES, COL_SHORT, COL_SHORT_CTX, COL_SHORT_ENDS, COL_LONG, COL_LONG_CTX, COL_LONG_ENDS, COLUMNS };

/* The lines of ``dict`` (key -> context) into the columns of their partitions (``slot``:
 * COL_SHORT or COL_LONG), each partition given a line marked in ``touched``. */
static int
file_into(PyObject *dict, int slot, PyObject *pieces, Py_ssize_t partitions, unsigned char *touched)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        uint32_t sum;
        if (key_sum(key, &sum) < 0)
            return -1;
        Py_ssize_t p = (Py_ssize_t)(sum % (uint32_t)partitions);
        PyObject *columns = PyList_GET_ITEM(pieces, p);
        touched[p] = 1;
        if (PyList_Append(PyList_GET_ITEM(columns, slot), key) < 0 ||
            PyList_Append(PyList_GET_ITEM(columns, slot + 1), value) < 0)
            return -1;
    }
    return 0;
}

/* Appends ``len(columns[of])`` to ``columns[ends]``: where a document's lines end. */
static int
close_lines(PyObject *columns, int of, int ends)
{
    PyObject *end = PyLong_FromSsize_t(PyList_GET_SIZE(PyList_GET_ITEM(columns, of)));
    if (end == NULL)
        return -1;
    int rc = PyList_Append(PyList_GET_ITEM(columns, ends), end);
    Py_DECREF(end);
    return rc;
}

/* fingerprint_file(text, max_words, context_min_words, site, pieces) -> None: files the
 * document's lines into ``pieces[p]`` (a list of COLUMNS lists a partition: see the enum above)
 * for each partition ``p`` it has lines in, with its site and where its lines end: what the
 * Python twin files by partition (lexicon._filed, then lexicon._pieces), in one call a
 * document. */
static PyObject *
fingerprint_file(PyObject *self, PyObject *args)
{
    PyObject *text, *site, *pieces, *shorts, *longs;
    Py_ssize_t max_words, context_min_words;
    if (!PyArg_ParseTuple(args, "UnnOO!:fingerprint_file", &text, &max_words, &context_min_words, &site,
                          &PyList_Type, &pieces))
        return NULL;
    Py_ssize_t partitions = PyList_GET_SIZE(pieces);
    if (partitions < 1 || partitions > 0xFFFFFFFF) {
        PyErr_SetString(PyExc_ValueError, "pieces must hold a list of columns for each partition");
        return NULL;
    }
    for (Py_ssize_t p = 0; p < partitions; p++) {
        PyObject *columns = PyList_GET_ITEM(pieces, p);
        int ok = PyList_Check(columns) && PyList_GET_SIZE(columns) == COLUMNS;
        for (Py_ssize_t c = 0; ok && c < COLUMNS; c++)
            ok = PyList_Check(PyList_GET_ITEM(columns, c));
        if (!ok) {
            PyErr_SetString(PyExc_TypeError, "pieces must hold a list of columns for each partition");
            return NULL;
        }
    }
    if (fingerprint_dicts(text, max_words, context_min_words, &shorts, &longs) < 0)
        return NULL;
    unsigned char *touched = PyMem_Calloc((size_t)partitions, 1);
    int failed = touched == NULL;
    if (failed)
        PyErr_NoMemory();
    else
        failed = file_into(shorts, COL_SHORT, pieces, partitions, touched) < 0 ||
                 file_into(longs, COL_LONG, pieces, partitions, touched) < 0;
    Py_DECREF(shorts);
    Py_DECREF(longs);
    for (Py_ssize_t p = 0; !failed && p < partitions; p++) {
        if (!touched[p])
            continue;
        PyObject *columns = PyList_GET_ITEM(pieces, p);
        failed = PyList_Append(PyList_GET_ITEM(columns, COL_SITES), site) < 0 ||
                 close_lines(columns, COL_SHORT, COL_SHORT_ENDS) < 0 ||
                 close_lines(columns, COL_LONG, COL_LONG_ENDS) < 0;
    }
    PyMem_Free(touched);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* normalise_many(lines, normalise) -> [normalise(line) for line in lines] */
static PyObject *
normalise_many(PyObject *self, PyObject *args)
{
    PyObject *lines, *fallback;
    if (!PyArg_ParseTuple(args, "O!O:normalise_many", &PyList_Type, &lines, &fallback))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(lines);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    char *buf = NULL;
    Py_ssize_t cap = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyUnicode_Check(line)) {
            PyErr_SetString(PyExc_TypeError, "lines must be str");
            goto fail;
        }
        PyObject *key = normalise_one(line, fallback, &buf, &cap);
        if (key == NULL)
            goto fail;
        PyList_SET_ITEM(out, i, key);
    }
    PyMem_Free(buf);
    return out;
fail:
    PyMem_Free(buf);
    Py_DECREF(out);
    return NULL;
}

/* dict[key] = n + 1, where ``n`` is the int ``dict`` holds for ``key``; ``*count`` gets n. */
static int
increment(PyObject *dict, PyObject *key, PyObject *n, long *count)
{
    *count = PyLong_AsLong(n);
    if (*count == -1 && PyErr_Occurred())
        return -1;
    PyObject *next = PyLong_FromLong(*count + 1);
    if (next == NULL)
        return -1;
    int rc = PyDict_SetItem(dict, key, next);
    Py_DECREF(next);
    return rc;
}

/* contexts[where] gets ``context`` among its distinct contexts (at most ``kept`` of them). */
static int
again(PyObject *contexts, PyObject *place, PyObject *key, PyObject *context, Py_ssize_t kept)
{
    PyObject *where = PyTuple_Pack(2, place, key);
    if (where == NULL)
        return -1;
    PyObject *seen = PyDict_GetItemWithError(contexts, where); /* borrowed */
    int rc = 0;
    if (seen == NULL && PyErr_Occurred())
        rc = -1;
    else {
        Py_ssize_t n = seen == NULL ? 0 : PyTuple_GET_SIZE(seen);
        int found = 0;
        for (Py_ssize_t i = 0; i < n && !found; i++) {
            int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(seen, i), context, Py_EQ);
            if (eq < 0) {
                rc = -1;
                break;
            }
            found = eq;
        }
        if (rc == 0 && n < kept && !found) {
            PyObject *grown = PyTuple_New(n + 1);
            if (grown == NULL)
                rc = -1;
            else {
                for (Py_ssize_t i = 0; i < n; i++) {
                    PyObject *item = PyTuple_GET_ITEM(seen, i);
                    Py_INCREF(item);
                    PyTuple_SET_ITEM(grown, i, item);
                }
                Py_INCREF(context);
                PyTuple_SET_ITEM(grown, n, context);
                rc = PyDict_SetItem(contexts, where, grown);
                Py_DECREF(grown);
            }
        }
    }
    Py_DECREF(where);
    return rc;
}

/* table[key][place] += 1 (a new inner dict, or a new place, starts at 1); *singles follows
 * the places at which a line was seen once. The inner dict: a line's counts per place. */
static int
count_at(PyObject *table, PyObject *key, PyObject *place, PyObject *contexts, PyObject *context,
         Py_ssize_t kept, Py_ssize_t *singles, PyObject *one)
{
    PyObject *per = PyDict_GetItemWithError(table, key);
    if (per == NULL) {
        if (PyErr_Occurred())
            return -1;
        per = PyDict_New();
        if (per == NULL)
            return -1;
        int rc = PyDict_SetItem(per, place, one);
        if (rc == 0)
            rc = PyDict_SetItem(table, key, per);
        Py_DECREF(per);
        *singles += 1;
        return rc;
    }
    PyObject *n = PyDict_GetItemWithError(per, place);
    if (n == NULL) {
        if (PyErr_Occurred())
            return -1;
        *singles += 1;
        return PyDict_SetItem(per, place, one);
    }
    long count;
    int rc = increment(per, place, n, &count);
    if (count == 1)
        *singles -= 1;
    return rc < 0 ? -1 : again(contexts, place, key, context, kept);
}

/* The tables count_exact and count_exact_docs count into. */
typedef struct {
    PyObject *counts, *outlets, *longs, *contexts, *unknown, *corpus;
    Py_ssize_t kept;
} Tables;

/* One document's lines, shorts[lo:hi] and long_keys[long_lo:long_hi] with their contexts, counted
 * exactly (lexicon.py's Lexicon._add_exact); *singles follows the lines seen once. */
static int
exact_lines(Tables *t, PyObject *shorts, PyObject *short_ctx, Py_ssize_t lo, Py_ssize_t hi, PyObject *long_keys,
            PyObject *long_ctx, Py_ssize_t long_lo, Py_ssize_t long_hi, PyObject *site, Py_ssize_t *singles,
            PyObject *one)
{
    int has_site = site != Py_None;
    for (Py_ssize_t i = lo; i < hi; i++) {
        PyObject *key = PyList_GET_ITEM(shorts, i), *context = PyList_GET_ITEM(short_ctx, i);
        PyObject *n = PyDict_GetItemWithError(t->counts, key);
        if (n == NULL) {
            if (PyErr_Occurred() || PyDict_SetItem(t->counts, key, one) < 0)
                return -1;
            *singles += 1;
        }
        else {
            long count;
            if (increment(t->counts, key, n, &count) < 0)
                return -1;
            if (count == 1)
                *singles -= 1;
            if (again(t->contexts, t->corpus, key, context, t->kept) < 0)
                return -1;
        }
        if (has_site && count_at(t->outlets, key, site, t->contexts, context, t->kept, singles, one) < 0)
            return -1;
    }
    PyObject *place = has_site ? site : t->unknown;
    for (Py_ssize_t i = long_lo; i < long_hi; i++) {
        if (count_at(t->longs, PyList_GET_ITEM(long_keys, i), place, t->contexts, PyList_GET_ITEM(long_ctx, i),
                     t->kept, singles, one) < 0)
            return -1;
    }
    return 0;
}

/* count_exact(counts, outlets, longs, contexts, short, short_contexts, long, long_contexts,
 *             site, unknown_site, corpus, kept) -> change in the lines seen once:
 * the C twin of lexicon.py's Lexicon._add_exact. */
static PyObject *
count_exact(PyObject *self, PyObject *args)
{
    Tables t;
    PyObject *shorts, *short_ctx, *long_keys, *long_ctx, *site;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!O!OUUn:count_exact", &PyDict_Type, &t.counts, &PyDict_Type,
                          &t.outlets, &PyDict_Type, &t.longs, &PyDict_Type, &t.contexts, &PyList_Type, &shorts,
                          &PyList_Type, &short_ctx, &PyList_Type, &long_keys, &PyList_Type, &long_ctx, &site,
                          &t.unknown, &t.corpus, &t.kept))
        return NULL;
    if (PyList_GET_SIZE(shorts) != PyList_GET_SIZE(short_ctx) ||
        PyList_GET_SIZE(long_keys) != PyList_GET_SIZE(long_ctx)) {
        PyErr_SetString(PyExc_ValueError, "keys and contexts differ in length");
        return NULL;
    }
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL)
        return NULL;
    Py_ssize_t singles = 0;
    int rc = exact_lines(&t, shorts, short_ctx, 0, PyList_GET_SIZE(shorts), long_keys, long_ctx, 0,
                         PyList_GET_SIZE(long_keys), site, &singles, one);
    Py_DECREF(one);
    return rc < 0 ? NULL : PyLong_FromSsize_t(singles);
}

/* A piece's columns (lexicon.LexiconPiece) as count_exact_docs and count_filtered_docs read them. */
typedef struct {
    PyObject *sites, *shorts, *short_ctx, *short_ends, *long_keys, *long_ctx, *long_ends;
} Piece;

/* Checks that the columns agree: a site and two ends a document, a context a line. */
static int
piece_ok(Piece *p)
{
    Py_ssize_t docs = PyList_GET_SIZE(p->sites);
    if (PyList_GET_SIZE(p->short_ends) != docs || PyList_GET_SIZE(p->long_ends) != docs ||
        PyList_GET_SIZE(p->shorts) != PyList_GET_SIZE(p->short_ctx) ||
        PyList_GET_SIZE(p->long_keys) != PyList_GET_SIZE(p->long_ctx)) {
        PyErr_SetString(PyExc_ValueError, "the piece's columns differ in length");
        return 0;
    }
    return 1;
}

/* Where document ``k``'s lines end in ``lines`` (its end in ``ends``), checked against where they start. */
static int
lines_end(PyObject *ends, Py_ssize_t k, Py_ssize_t lo, PyObject *lines, Py_ssize_t *hi)
{
    *hi = PyLong_AsSsize_t(PyList_GET_ITEM(ends, k));
    if (*hi == -1 && PyErr_Occurred())
        return -1;
    if (*hi < lo || *hi > PyList_GET_SIZE(lines)) {
        PyErr_SetString(PyExc_ValueError, "the piece's line ends are out of order");
        return -1;
    }
    return 0;
}

/* Document ``k``'s ranges of short and long lines. */
static int
doc_ranges(Piece *p, Py_ssize_t k, Py_ssize_t *lo, Py_ssize_t *hi, Py_ssize_t *long_lo, Py_ssize_t *long_hi)
{
    *lo = 0;
    *long_lo = 0;
    if (k > 0) {
        *lo = PyLong_AsSsize_t(PyList_GET_ITEM(p->short_ends, k - 1));
        *long_lo = PyLong_AsSsize_t(PyList_GET_ITEM(p->long_ends, k - 1));
        if ((*lo == -1 || *long_lo == -1) && PyErr_Occurred())
            return -1;
    }
    return lines_end(p->short_ends, k, *lo, p->shorts, hi) < 0 ||
                   lines_end(p->long_ends, k, *long_lo, p->long_keys, long_hi) < 0
               ? -1
               : 0;
}

/* count_exact_docs(counts, outlets, longs, contexts, sites, short, short_contexts, short_ends, long,
 *                  long_contexts, long_ends, unknown_site, corpus, kept, start, room)
 *   -> (next document, change in the lines seen once):
 * count_exact of each document of a piece from ``start`` on, stopping after the first that
 * takes the change past ``room`` (the lexicon then moves to its filter). */
static PyObject *
count_exact_docs(PyObject *self, PyObject *args)
{
    Tables t;
    Piece p;
    Py_ssize_t start, room;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!O!O!O!O!UUnnn:count_exact_docs", &PyDict_Type, &t.counts,
                          &PyDict_Type, &t.outlets, &PyDict_Type, &t.longs, &PyDict_Type, &t.contexts,
                          &PyList_Type, &p.sites, &PyList_Type, &p.shorts, &PyList_Type, &p.short_ctx,
                          &PyList_Type, &p.short_ends, &PyList_Type, &p.long_keys, &PyList_Type, &p.long_ctx,
                          &PyList_Type, &p.long_ends, &t.unknown, &t.corpus, &t.kept, &start, &room))
        return NULL;
    if (!piece_ok(&p))
        return NULL;
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL)
        return NULL;
    Py_ssize_t singles = 0, docs = PyList_GET_SIZE(p.sites), k = start < 0 ? 0 : start;
    while (k < docs) {
        Py_ssize_t lo, hi, long_lo, long_hi;
        if (doc_ranges(&p, k, &lo, &hi, &long_lo, &long_hi) < 0 ||
            exact_lines(&t, p.shorts, p.short_ctx, lo, hi, p.long_keys, p.long_ctx, long_lo, long_hi,
                        PyList_GET_ITEM(p.sites, k), &singles, one) < 0) {
            Py_DECREF(one);
            return NULL;
        }
        k++;
        if (singles > room)
            break;
    }
    Py_DECREF(one);
    return Py_BuildValue("nn", k, singles);
}

/* The UTF-8 bytes of ``text`` ("surrogatepass", as lexicon.py encodes them): borrowed from the
 * string, or held in ``*holder`` (a new bytes object the caller releases). NULL on error. */
static const char *
utf8_of(PyObject *text, Py_ssize_t *len, PyObject **holder)
{
    *holder = NULL;
    const char *data = PyUnicode_AsUTF8AndSize(text, len);
    if (data != NULL)
        return data;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return NULL;
    PyErr_Clear(); /* a lone surrogate */
    *holder = PyUnicode_AsEncodedString(text, "utf-8", "surrogatepass");
    if (*holder == NULL)
        return NULL;
    *len = PyBytes_GET_SIZE(*holder);
    return PyBytes_AS_STRING(*holder);
}

/* The Bloom filter's add of (place, key) (lexicon._SeenOnce.add): the bytes "place NUL key",
 * h1 their CRC-32, h2 their CRC-32 continued from h1, made odd; three probes h1 + i*h2. Sets
 * ``*seen`` to whether every probed bit was set already. 0, or -1 with an exception set. */
static int
bloom_add(unsigned char *array, uint64_t bits, PyObject *place, PyObject *key, int *seen)
{
    PyObject *place_holder, *key_holder;
    Py_ssize_t place_len, key_len;
    const char *place_data = utf8_of(place, &place_len, &place_holder);
    if (place_data == NULL)
        return -1;
    const char *key_data = utf8_of(key, &key_len, &key_holder);
    if (key_data == NULL) {
        Py_XDECREF(place_holder);
        return -1;
    }
    const unsigned char nul = 0;
    uint32_t h1 = crc32_update(0, (const unsigned char *)place_data, place_len);
    h1 = crc32_update(h1, &nul, 1);
    h1 = crc32_update(h1, (const unsigned char *)key_data, key_len);
    uint32_t h2 = crc32_update(h1, (const unsigned char *)place_data, place_len);
    h2 = crc32_update(h2, &nul, 1);
    h2 = crc32_update(h2, (const unsigned char *)key_data, key_len) | 1u;
    Py_XDECREF(place_holder);
    Py_XDECREF(key_holder);
    int all = 1;
    for (uint64_t i = 0; i < 3; i++) {
        uint64_t pos = ((uint64_t)h1 + i * (uint64_t)h2) % bits;
        unsigned char bit = (unsigned char)(1u << (pos & 7));
        if (!(array[pos >> 3] & bit)) {
            all = 0;
            array[pos >> 3] |= bit;
        }
    }
    *seen = all;
    return 0;
}

/* contexts[(place, key)] = (context,) */
static int
first_context(PyObject *contexts, PyObject *place, PyObject *key, PyObject *context)
{
    PyObject *where = PyTuple_Pack(2, place, key);
    if (where == NULL)
        return -1;
    PyObject *one = PyTuple_Pack(1, context);
    int rc = one == NULL ? -1 : PyDict_SetItem(contexts, where, one);
    Py_XDECREF(one);
    Py_DECREF(where);
    return rc;
}

/* A line ``key`` at ``place`` once first sightings go to the filter: counted from its second
 * sighting on, as 2 (lexicon.py's Lexicon._add_filtered, its count_at). */
static int
count_at_filtered(PyObject *table, PyObject *key, PyObject *place, PyObject *contexts, PyObject *context,
                  Py_ssize_t kept, unsigned char *array, uint64_t bits, PyObject *two)
{
    PyObject *per = PyDict_GetItemWithError(table, key);
    if (per == NULL && PyErr_Occurred())
        return -1;
    PyObject *n = per == NULL ? NULL : PyDict_GetItemWithError(per, place);
    if (n == NULL && PyErr_Occurred())
        return -1;
    if (n != NULL) {
        long count;
        return increment(per, place, n, &count) < 0 ? -1 : again(contexts, place, key, context, kept);
    }
    int seen;
    if (bloom_add(array, bits, place, key, &seen) < 0)
        return -1;
    if (!seen)
        return 0;
    if (per == NULL) {
        per = PyDict_New();
        if (per == NULL)
            return -1;
        int rc = PyDict_SetItem(table, key, per);
        Py_DECREF(per); /* the table holds it */
        if (rc < 0)
            return -1;
    }
    if (PyDict_SetItem(per, place, two) < 0)
        return -1;
    return first_context(contexts, place, key, context);
}

/* One document's lines counted once first sightings go to the filter (lexicon.py's
 * Lexicon._add_filtered): the ranges as in exact_lines. */
static int
filtered_lines(Tables *t, PyObject *shorts, PyObject *short_ctx, Py_ssize_t lo, Py_ssize_t hi,
               PyObject *long_keys, PyObject *long_ctx, Py_ssize_t long_lo, Py_ssize_t long_hi, PyObject *site,
               unsigned char *array, uint64_t bits, PyObject *two)
{
    int has_site = site != Py_None;
    for (Py_ssize_t i = lo; i < hi; i++) {
        PyObject *key = PyList_GET_ITEM(shorts, i), *context = PyList_GET_ITEM(short_ctx, i);
        PyObject *n = PyDict_GetItemWithError(t->counts, key);
        if (n == NULL && PyErr_Occurred())
            return -1;
        if (n != NULL) {
            long count;
            if (increment(t->counts, key, n, &count) < 0 || again(t->contexts, t->corpus, key, context, t->kept) < 0)
                return -1;
        }
        else {
            int seen;
            if (bloom_add(array, bits, t->corpus, key, &seen) < 0)
                return -1;
            if (seen &&
                (PyDict_SetItem(t->counts, key, two) < 0 || first_context(t->contexts, t->corpus, key, context) < 0))
                return -1;
        }
        if (has_site && count_at_filtered(t->outlets, key, site, t->contexts, context, t->kept, array, bits, two) < 0)
            return -1;
    }
    PyObject *place = has_site ? site : t->unknown;
    for (Py_ssize_t i = long_lo; i < long_hi; i++) {
        if (count_at_filtered(t->longs, PyList_GET_ITEM(long_keys, i), place, t->contexts,
                              PyList_GET_ITEM(long_ctx, i), t->kept, array, bits, two) < 0)
            return -1;
    }
    return 0;
}

/* The filter's bytes, checked to hold ``bits`` bits; NULL with an exception set. */
static unsigned char *
filter_bytes(PyObject *bloom, unsigned long long bits)
{
    if (bits == 0 || (unsigned long long)PyByteArray_GET_SIZE(bloom) * 8 < bits) {
        PyErr_SetString(PyExc_ValueError, "the filter holds fewer bits than bits");
        return NULL;
    }
    return (unsigned char *)PyByteArray_AS_STRING(bloom);
}

/* count_filtered(counts, outlets, longs, contexts, short, short_contexts, long, long_contexts,
 *                site, unknown_site, corpus, kept, bloom, bits) -> None:
 * the C twin of lexicon.py's Lexicon._add_filtered (``bloom``: the filter's bytearray). */
static PyObject *
count_filtered(PyObject *self, PyObject *args)
{
    Tables t;
    PyObject *shorts, *short_ctx, *long_keys, *long_ctx, *site, *bloom;
    unsigned long long bits;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!O!OUUnO!K:count_filtered", &PyDict_Type, &t.counts, &PyDict_Type,
                          &t.outlets, &PyDict_Type, &t.longs, &PyDict_Type, &t.contexts, &PyList_Type, &shorts,
                          &PyList_Type, &short_ctx, &PyList_Type, &long_keys, &PyList_Type, &long_ctx, &site,
                          &t.unknown, &t.corpus, &t.kept, &PyByteArray_Type, &bloom, &bits))
        return NULL;
    if (PyList_GET_SIZE(shorts) != PyList_GET_SIZE(short_ctx) ||
        PyList_GET_SIZE(long_keys) != PyList_GET_SIZE(long_ctx)) {
        PyErr_SetString(PyExc_ValueError, "keys and contexts differ in length");
        return NULL;
    }
    unsigned char *array = filter_bytes(bloom, bits);
    if (array == NULL)
        return NULL;
    PyObject *two = PyLong_FromLong(2);
    if (two == NULL)
        return NULL;
    int rc = filtered_lines(&t, shorts, short_ctx, 0, PyList_GET_SIZE(shorts), long_keys, long_ctx, 0,
                            PyList_GET_SIZE(long_keys), site, array, (uint64_t)bits, two);
    Py_DECREF(two);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* count_filtered_docs(counts, outlets, longs, contexts, sites, short, short_contexts, short_ends,
 *                     long, long_contexts, long_ends, unknown_site, corpus, kept, start, bloom, bits)
 *   -> None: count_filtered of each document of a piece from ``start`` on. */
static PyObject *
count_filtered_docs(PyObject *self, PyObject *args)
{
    Tables t;
    Piece p;
    Py_ssize_t start;
    PyObject *bloom;
    unsigned long long bits;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!O!O!O!O!UUnnO!K:count_filtered_docs", &PyDict_Type, &t.counts,
                          &PyDict_Type, &t.outlets, &PyDict_Type, &t.longs, &PyDict_Type, &t.contexts,
                          &PyList_Type, &p.sites, &PyList_Type, &p.shorts, &PyList_Type, &p.short_ctx,
                          &PyList_Type, &p.short_ends, &PyList_Type, &p.long_keys, &PyList_Type, &p.long_ctx,
                          &PyList_Type, &p.long_ends, &t.unknown, &t.corpus, &t.kept, &start, &PyByteArray_Type,
                          &bloom, &bits))
        return NULL;
    if (!piece_ok(&p))
        return NULL;
    unsigned char *array = filter_bytes(bloom, bits);
    if (array == NULL)
        return NULL;
    PyObject *two = PyLong_FromLong(2);
    if (two == NULL)
        return NULL;
    for (Py_ssize_t k = start < 0 ? 0 : start; k < PyList_GET_SIZE(p.sites); k++) {
        Py_ssize_t lo, hi, long_lo, long_hi;
        if (doc_ranges(&p, k, &lo, &hi, &long_lo, &long_hi) < 0 ||
            filtered_lines(&t, p.shorts, p.short_ctx, lo, hi, p.long_keys, p.long_ctx, long_lo, long_hi,
                           PyList_GET_ITEM(p.sites, k), array, (uint64_t)bits, two) < 0) {
            Py_DECREF(two);
            return NULL;
        }
    }
    Py_DECREF(two);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fingerprint", fingerprint, METH_VARARGS,
     "fingerprint(text, max_words, context_min_words, normalise) -> (short keys, contexts, long keys, "
     "contexts)"},
    {"fingerprint_file", fingerprint_file, METH_VARARGS,
     "fingerprint_file(text, max_words, context_min_words, site, pieces) -> None: the lines filed into "
     "the columns pieces[p] (sites, short keys, contexts, ends, long keys, contexts, ends) of each "
     "partition p with lines"},
    {"count_exact", count_exact, METH_VARARGS,
     "count_exact(counts, outlets, longs, contexts, short, short_contexts, long, long_contexts, site, "
     "unknown_site, corpus, kept) -> change in the lines seen once"},
    {"count_filtered", count_filtered, METH_VARARGS,
     "count_filtered(counts, outlets, longs, contexts, short, short_contexts, long, long_contexts, site, "
     "unknown_site, corpus, kept, bloom, bits) -> None"},
    {"count_exact_docs", count_exact_docs, METH_VARARGS,
     "count_exact_docs(counts, outlets, longs, contexts, sites, short, short_contexts, short_ends, long, "
     "long_contexts, long_ends, unknown_site, corpus, kept, start, room) -> (next document, change in the "
     "lines seen once)"},
    {"count_filtered_docs", count_filtered_docs, METH_VARARGS,
     "count_filtered_docs(counts, outlets, longs, contexts, sites, short, short_contexts, short_ends, long, "
     "long_contexts, long_ends, unknown_site, corpus, kept, start, bloom, bits) -> None"},
    {"normalise_many", normalise_many, METH_VARARGS,
     "normalise_many(lines, normalise) -> the normalised key of each line"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lexicon",
                                    "C twin of the lexicon's per-page work.", -1, methods};

PyMODINIT_FUNC
PyInit__lexicon(void)
{
    crc_init();
    ascii_init();
    return PyModule_Create(&module);
}
