/* A CPython extension module that calls into libgreet.so.1. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

const char *greet_message(void);

static PyObject *message(PyObject *self, PyObject *args) { return PyUnicode_FromString(greet_message()); }

static PyMethodDef methods[] = {{"message", message, METH_NOARGS, "The library's greeting."}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_greet", NULL, -1, methods};

PyMODINIT_FUNC PyInit__greet(void) { return PyModule_Create(&module); }
