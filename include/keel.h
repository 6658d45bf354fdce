/*
 * keel.h - everything in keel. See the per-layer headers for contracts.
 */
#ifndef KEEL_H
#define KEEL_H

#include "keel/result.h"
#include "keel/slice.h"
#include "keel/addr.h"
#include "keel/net.h"
#include "keel/loop.h"
#include "keel/codec.h"
#include "keel/reader.h"
#include "keel/json.h"

#endif /* KEEL_H */
