/* src/addr.c - placeholder until implemented */
#include "keel/addr.h"
typedef int keel_addr_placeholder;
