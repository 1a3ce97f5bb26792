/* The C-variadic entry points of the OFX parameter and message suites. Stable Rust cannot define
 * a variadic function, so these read their arguments with va_arg and forward them to plain Rust
 * functions (host-harness/src/params.rs, src/suites.rs). They hold no state of their own. */
#include <stdarg.h>
#include <stdio.h>

typedef int OfxStatus;
#define kOfxStatErrBadHandle 9
#define kOfxStatErrUnsupported 5

/* Value kinds, as returned by harness_param_shape (must match params.rs ValueKind). */
#define HARNESS_KIND_INT 0
#define HARNESS_KIND_DOUBLE 1
#define HARNESS_KIND_STRING 2
#define HARNESS_KIND_NONE 3
#define HARNESS_MAX_DIMS 4

/* Returns the number of values the parameter carries (0..4) and stores its kind, or -1 for a
 * handle that is not a parameter. */
extern int harness_param_shape(void *param, int *kind);
extern OfxStatus harness_param_get(void *param, int at_time, double time, void **outs, int n);
extern OfxStatus harness_param_set(void *param, int at_time, double time, const int *ints,
                                   const double *doubles, const char *const *strings, int n);
extern OfxStatus harness_param_derivative(void *param, double time, double *outs, int n);
extern OfxStatus harness_param_integral(void *param, double t1, double t2, double *outs, int n);
extern OfxStatus harness_message(void *handle, const char *type, const char *id, const char *text,
                                 int persistent);

static OfxStatus get_value(void *param, int at_time, double time, va_list ap) {
    int kind = 0;
    int n = harness_param_shape(param, &kind);
    void *outs[HARNESS_MAX_DIMS] = {0, 0, 0, 0};
    int i;
    if (n < 0) return kOfxStatErrBadHandle;
    for (i = 0; i < n && i < HARNESS_MAX_DIMS; ++i) outs[i] = va_arg(ap, void *);
    return harness_param_get(param, at_time, time, outs, n);
}

static OfxStatus set_value(void *param, int at_time, double time, va_list ap) {
    int kind = 0;
    int n = harness_param_shape(param, &kind);
    int ints[HARNESS_MAX_DIMS] = {0, 0, 0, 0};
    double doubles[HARNESS_MAX_DIMS] = {0, 0, 0, 0};
    const char *strings[HARNESS_MAX_DIMS] = {0, 0, 0, 0};
    int i;
    if (n < 0) return kOfxStatErrBadHandle;
    for (i = 0; i < n && i < HARNESS_MAX_DIMS; ++i) {
        /* Default argument promotion: int-like values arrive as int, floats as double. */
        switch (kind) {
        case HARNESS_KIND_INT: ints[i] = va_arg(ap, int); break;
        case HARNESS_KIND_DOUBLE: doubles[i] = va_arg(ap, double); break;
        case HARNESS_KIND_STRING: strings[i] = va_arg(ap, const char *); break;
        default: return kOfxStatErrUnsupported;
        }
    }
    return harness_param_set(param, at_time, time, ints, doubles, strings, n);
}

OfxStatus harness_paramGetValue(void *param, ...) {
    va_list ap;
    OfxStatus st;
    va_start(ap, param);
    st = get_value(param, 0, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus harness_paramGetValueAtTime(void *param, double time, ...) {
    va_list ap;
    OfxStatus st;
    va_start(ap, time);
    st = get_value(param, 1, time, ap);
    va_end(ap);
    return st;
}

OfxStatus harness_paramSetValue(void *param, ...) {
    va_list ap;
    OfxStatus st;
    va_start(ap, param);
    st = set_value(param, 0, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus harness_paramSetValueAtTime(void *param, double time, ...) {
    va_list ap;
    OfxStatus st;
    va_start(ap, time);
    st = set_value(param, 1, time, ap);
    va_end(ap);
    return st;
}

static OfxStatus double_outs(void *param, va_list ap, double **outs, int *n) {
    int kind = 0;
    int i;
    *n = harness_param_shape(param, &kind);
    if (*n < 0) return kOfxStatErrBadHandle;
    if (kind != HARNESS_KIND_DOUBLE) return kOfxStatErrUnsupported;
    for (i = 0; i < *n && i < HARNESS_MAX_DIMS; ++i) outs[i] = va_arg(ap, double *);
    return 0;
}

OfxStatus harness_paramGetDerivative(void *param, double time, ...) {
    va_list ap;
    double *outs[HARNESS_MAX_DIMS] = {0, 0, 0, 0};
    double vals[HARNESS_MAX_DIMS] = {0, 0, 0, 0};
    int n = 0, i;
    OfxStatus st;
    va_start(ap, time);
    st = double_outs(param, ap, outs, &n);
    va_end(ap);
    if (st != 0) return st;
    st = harness_param_derivative(param, time, vals, n);
    for (i = 0; i < n; ++i) if (outs[i]) *outs[i] = vals[i];
    return st;
}

OfxStatus harness_paramGetIntegral(void *param, double t1, double t2, ...) {
    va_list ap;
    double *outs[HARNESS_MAX_DIMS] = {0, 0, 0, 0};
    double vals[HARNESS_MAX_DIMS] = {0, 0, 0, 0};
    int n = 0, i;
    OfxStatus st;
    va_start(ap, t2);
    st = double_outs(param, ap, outs, &n);
    va_end(ap);
    if (st != 0) return st;
    st = harness_param_integral(param, t1, t2, vals, n);
    for (i = 0; i < n; ++i) if (outs[i]) *outs[i] = vals[i];
    return st;
}

static OfxStatus format_message(void *handle, const char *type, const char *id, const char *format,
                                va_list ap, int persistent) {
    char text[4096];
    if (format) {
        vsnprintf(text, sizeof text, format, ap);
    } else {
        text[0] = 0;
    }
    return harness_message(handle, type, id, text, persistent);
}

OfxStatus harness_message_v(void *handle, const char *type, const char *id, const char *format, ...) {
    va_list ap;
    OfxStatus st;
    va_start(ap, format);
    st = format_message(handle, type, id, format, ap, 0);
    va_end(ap);
    return st;
}

OfxStatus harness_set_persistent_message(void *handle, const char *type, const char *id,
                                         const char *format, ...) {
    va_list ap;
    OfxStatus st;
    va_start(ap, format);
    st = format_message(handle, type, id, format, ap, 1);
    va_end(ap);
    return st;
}
