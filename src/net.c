/* src/net.c - placeholder until implemented */
#include "keel/net.h"
typedef int keel_net_placeholder;
