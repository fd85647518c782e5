/* Redis's float arithmetic, computed with the C library Redis itself uses,
 * so kv's answers match redis-server's to the last digit: strtod/strtold
 * with Redis's checks (util.c getDoubleFromObject, getLongDoubleFromObject),
 * "%.17g" (networking.c addReplyDouble, Redis 7.0), and INCRBYFLOAT's long
 * double sum printed as ld2string(LD_STR_HUMAN) does. Rust has no long
 * double, so these few lines are C. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s is NUL-terminated, len its length (it may hold an earlier NUL). */
int kv_parse_double(const char *s, size_t len, double *out) {
    char *end;
    double v;
    if (len == 0 || isspace((unsigned char)s[0])) return 0;
    errno = 0;
    v = strtod(s, &end);
    if ((size_t)(end - s) != len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

static int parse_long_double(const char *s, size_t len, long double *out) {
    char *end;
    long double v;
    if (len == 0 || isspace((unsigned char)s[0])) return 0;
    errno = 0;
    v = strtold(s, &end);
    if ((size_t)(end - s) != len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* "%.17g"; returns the length written (buf holds at least 32 bytes). */
int kv_format_double(double v, char *buf, size_t size) {
    return snprintf(buf, size, "%.17g", v);
}

/* INCRBYFLOAT: cur (NULL: no value) + by, in long double. Returns 0 and
 * the text in buf, or 1: cur is not a float, 2: by is not a float, 3: the
 * sum is NaN or infinite. buf holds at least 5120 bytes
 * (MAX_LONG_DOUBLE_CHARS). */
int kv_incrbyfloat(const char *cur, size_t cur_len, const char *by, size_t by_len,
                   char *buf, size_t size, size_t *out_len) {
    long double value = 0, incr;
    size_t l;
    if (cur != NULL && !parse_long_double(cur, cur_len, &value)) return 1;
    if (!parse_long_double(by, by_len, &incr)) return 2;
    value += incr;
    if (isnan(value) || isinf(value)) return 3;
    l = (size_t)snprintf(buf, size, "%.17Lf", value);
    if (l + 1 > size) return 3;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    *out_len = l;
    return 0;
}

/* A ZRANGEBYSCORE bound as t_zset.c zslParseRange reads it: strtod up to
 * the string's end (its first NUL), anything but NaN. */
int kv_parse_range_bound(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end[0] != '\0' || isnan(v)) return 0;
    *out = v;
    return 1;
}
