#ifndef WHARF_CQRENCODE_SHIM_H
#define WHARF_CQRENCODE_SHIM_H
#include <qrencode.h>
#endif
