/* A shared library the extension needs, built outside the wheel (like a system or vendor library). */
#include <stdio.h>

const char *greet_message(void) { return "hello from libgreet"; }
