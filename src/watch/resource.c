/* resource.c - what --resource means. */
#include "watch/resource.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *names[3];
    const char *plural;
    int cluster;
} argo[] = {
    {{"workflows", "workflow", "wf"}, "workflows", 0},
    {{"cronworkflows", "cronworkflow", "cwf"}, "cronworkflows", 0},
    {{"workflowtemplates", "workflowtemplate", "wftmpl"}, "workflowtemplates", 0},
    {{"clusterworkflowtemplates", "clusterworkflowtemplate", "cwftmpl"}, "clusterworkflowtemplates", 1},
};

static int valid_segment(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return 0;
    }
    return 1;
}

ww_rc ww_resource_parse(const char *s, ww_resource *r, char *err, size_t errsz) {
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < sizeof argo / sizeof argo[0]; i++)
        for (int j = 0; j < 3; j++)
            if (strcmp(s, argo[i].names[j]) == 0) {
                snprintf(r->group, sizeof r->group, "argoproj.io");
                snprintf(r->version, sizeof r->version, "v1alpha1");
                snprintf(r->resource, sizeof r->resource, "%s", argo[i].plural);
                r->cluster_scoped = argo[i].cluster;
                return WW_OK;
            }
    const char *a = strchr(s, '/');
    const char *b = a ? strchr(a + 1, '/') : NULL;
    if (!a || (b && strchr(b + 1, '/'))) goto bad;
    if (b) {
        if (!valid_segment(s, (size_t)(a - s)) || !valid_segment(a + 1, (size_t)(b - a - 1)) ||
            !valid_segment(b + 1, strlen(b + 1)) || (size_t)(a - s) >= sizeof r->group ||
            (size_t)(b - a - 1) >= sizeof r->version || strlen(b + 1) >= sizeof r->resource)
            goto bad;
        snprintf(r->group, sizeof r->group, "%.*s", (int)(a - s), s);
        snprintf(r->version, sizeof r->version, "%.*s", (int)(b - a - 1), a + 1);
        snprintf(r->resource, sizeof r->resource, "%s", b + 1);
    } else {
        if (!valid_segment(s, (size_t)(a - s)) || !valid_segment(a + 1, strlen(a + 1)) ||
            (size_t)(a - s) >= sizeof r->version || strlen(a + 1) >= sizeof r->resource)
            goto bad;
        snprintf(r->version, sizeof r->version, "%.*s", (int)(a - s), s);
        snprintf(r->resource, sizeof r->resource, "%s", a + 1);
    }
    return WW_OK;
bad:
    snprintf(err, errsz,
             "--resource: \"%s\" is not workflows, cronworkflows, workflowtemplates, clusterworkflowtemplates, "
             "GROUP/VERSION/RESOURCE or VERSION/RESOURCE",
             s);
    return WW_EINVAL;
}
