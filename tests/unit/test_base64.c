/* test_base64.c - strict base64 decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

/* A reference encoder (RFC 4648, with padding) for round trips. */
static char *encode(const unsigned char *in, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1), *p = o;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *p++ = A[v >> 18];
        *p++ = A[(v >> 12) & 63];
        *p++ = A[(v >> 6) & 63];
        *p++ = A[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        *p++ = A[v >> 18];
        *p++ = A[(v >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        *p++ = A[v >> 18];
        *p++ = A[(v >> 12) & 63];
        *p++ = A[(v >> 6) & 63];
        *p++ = '=';
    }
    *p = '\0';
    return o;
}

static void expect(const char *in, const char *want, size_t wantn) {
    unsigned char *out = (unsigned char *)"sentinel";
    size_t n = 12345;
    ww_rc rc = ww_base64_decode(in, strlen(in), &out, &n);
    if (rc != WW_OK) fail_msg("decode \"%s\": rc %d", in, (int)rc);
    assert_non_null(out);
    assert_int_equal(n, wantn);
    if (wantn) assert_memory_equal(out, want, wantn);
    assert_int_equal(out[n], 0); /* the extra NUL */
    free(out);
}

static void reject(const char *in, size_t n) {
    unsigned char *out = (unsigned char *)"sentinel";
    size_t on = 12345;
    ww_rc rc = ww_base64_decode(in, n, &out, &on);
    if (rc != WW_EINVAL) fail_msg("decode \"%.*s\": rc %d, want EINVAL", (int)n, in, (int)rc);
    assert_null(out);
    assert_int_equal(on, 0);
}

static void test_vectors(void **state) {
    (void)state;
    /* RFC 4648 section 10 */
    expect("", "", 0);
    expect("Zg==", "f", 1);
    expect("Zm8=", "fo", 2);
    expect("Zm9v", "foo", 3);
    expect("Zm9vYg==", "foob", 4);
    expect("Zm9vYmE=", "fooba", 5);
    expect("Zm9vYmFy", "foobar", 6);
    expect("AA==", "\0", 1);
    expect("AAAA", "\0\0\0", 3);
    expect("/+8=", "\xff\xef", 2);
    expect("++++", "\xfb\xef\xbe", 3);
    expect("////", "\xff\xff\xff", 3);
}

static void test_round_trip(void **state) {
    (void)state;
    const char *texts[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *e = encode((const unsigned char *)texts[i], strlen(texts[i]));
        expect(e, texts[i], strlen(texts[i]));
        free(e);
    }
    /* all 256 byte values, and lengths 0..99 from a fixed-seed generator */
    unsigned char all[256];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    char *e = encode(all, sizeof all);
    expect(e, (const char *)all, sizeof all);
    free(e);
    uint32_t x = 12345;
    unsigned char buf[100];
    for (size_t n = 0; n < sizeof buf; n++) {
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (unsigned char)(x >> 16);
        }
        e = encode(buf, n);
        expect(e, (const char *)buf, n);
        free(e);
    }
}

static void test_whitespace(void **state) {
    (void)state;
    expect("Zm9v\nYmFy\n", "foobar", 6);
    expect("Zm9v\r\nYmFy\r\n", "foobar", 6);
    expect(" Z m 9 v Y g = = ", "foob", 4);
    expect("\tZm9vYmE=\n", "fooba", 5);
    expect("Zg=\n=", "f", 1);
    expect("\n\n  \t", "", 0);
    /* 76-column wrapping as PEM and kubeconfig tools produce */
    unsigned char data[200];
    for (int i = 0; i < 200; i++) data[i] = (unsigned char)(i * 7 + 3);
    char *e = encode(data, sizeof data);
    size_t en = strlen(e);
    char *w = malloc(en + en / 76 + 2), *p = w;
    for (size_t i = 0; i < en; i++) {
        *p++ = e[i];
        if (i % 76 == 75) *p++ = '\n';
    }
    *p++ = '\n';
    *p = '\0';
    expect(w, (const char *)data, sizeof data);
    free(w);
    free(e);
}

static void test_encode(void **state) {
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = ww_base64_encode((const unsigned char *)plain[i], strlen(plain[i]));
        assert_non_null(e);
        assert_string_equal(e, coded[i]);
        unsigned char *d;
        size_t dn;
        assert_int_equal(ww_base64_decode(e, strlen(e), &d, &dn), WW_OK);
        assert_int_equal(dn, strlen(plain[i]));
        assert_memory_equal(d, plain[i], dn);
        free(d);
        free(e);
    }
}

static void test_invalid(void **state) {
    (void)state;
    static const char *bad[] = {
        "Zm9v!",     "Zm9-",  "Zm9_",                  /* outside the alphabet (incl. base64url) */
        "Zm9vY",     "Zg",    "Zg=",    "Zm8",    "Z", /* missing padding / bad length */
        "Z===",      "====",  "==",     "=",      "Zm9vYmFy=", "Zm9vYmFy====", /* bad padding */
        "Zg==Zg==",  "Zg=a",  "=Zg=",   "Z=g=",   "Zm9v=Zm9",                  /* data after padding */
        "Zm9v.YmFy", "Zm9v,", "Zm9v\v", "Zm9v\f", "Zm9v-YmFy", "Zm\xc3\xa9v",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) reject(bad[i], strlen(bad[i]));
    /* an embedded NUL is not whitespace */
    reject("Zm\0vYmFy", 8);
    /* the length bounds the input, not a NUL */
    unsigned char *out;
    size_t n;
    assert_int_equal(ww_base64_decode("Zm9vYmFy", 4, &out, &n), WW_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "foo", 3);
    free(out);
    reject("Zm9vYmFy", 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors), cmocka_unit_test(test_round_trip), cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_invalid), cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
