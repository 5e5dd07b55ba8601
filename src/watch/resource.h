/* resource.h - parses --resource into group, version, plural and scope. */
#ifndef WW_RESOURCE_H
#define WW_RESOURCE_H

#include <stddef.h>
#include "core/rc.h"

typedef struct {
    char group[128];
    char version[64];
    char resource[128];
    int cluster_scoped; /* known to be cluster-scoped (namespace not allowed) */
} ww_resource;

/* Accepts an Argo plural (workflows, wf, cronworkflows, ...), GROUP/VERSION/
 * RESOURCE, or VERSION/RESOURCE for the core group. */
ww_rc ww_resource_parse(const char *s, ww_resource *r, char *err, size_t errsz);

#endif
