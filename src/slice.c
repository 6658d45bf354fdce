/* src/slice.c - placeholder until implemented */
#include "keel/slice.h"
typedef int keel_slice_placeholder;
