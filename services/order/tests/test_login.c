/*
 * test_login.c — the rules in front of POST /v1/auth/token (login.h): the
 * per-client rate limit lets rate_max attempts through at once, then one
 * every window / rate_max, and says how long to wait; a guard counts
 * failures in the lock's window, locks at the limit, counts nothing while
 * locked and starts afresh after; IPv6 clients are counted by their /64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "services/order/login.h"

#define MINUTE 60000

static void test_rate_limit(void **state)
{
    (void)state;
    int64_t tat = 0, retry = 0, now = 1700000000000;
    /* five at once, the sixth waits for one interval (12 s) */
    for (int i = 0; i < 5; i++)
        assert_true(login_rate_admit(tat, now, 5, MINUTE, &tat, &retry));
    assert_true(tat == now + MINUTE);
    int64_t kept = tat;
    assert_false(login_rate_admit(tat, now, 5, MINUTE, &tat, &retry));
    assert_true(tat == kept); /* a refusal changes nothing */
    assert_true(retry == 12000);
    assert_false(login_rate_admit(tat, now + 11999, 5, MINUTE, &tat, &retry));
    assert_true(retry == 1);
    assert_true(login_rate_admit(tat, now + 12000, 5, MINUTE, &tat, &retry));
    assert_false(login_rate_admit(tat, now + 12000, 5, MINUTE, &tat, &retry));
    /* idle for a window: the whole burst again */
    now += 2 * MINUTE;
    for (int i = 0; i < 5; i++)
        assert_true(login_rate_admit(tat, now, 5, MINUTE, &tat, &retry));
    assert_false(login_rate_admit(tat, now, 5, MINUTE, &tat, &retry));
    /* a steady client at the allowed pace is never refused */
    tat = 0;
    for (int64_t t = now; t < now + 10 * MINUTE; t += 12000)
        assert_true(login_rate_admit(tat, t, 5, MINUTE, &tat, &retry));
    /* more attempts than milliseconds in the window still move time on */
    tat = 0;
    assert_true(login_rate_admit(tat, now, 100, 10, &tat, &retry));
    assert_true(tat == now + 1);
}

static void test_guard_counts_and_locks(void **state)
{
    (void)state;
    const int64_t lock = 15 * MINUTE;
    int64_t now = 1700000000000;
    login_guard_t guard = {0};
    assert_false(login_guard_locked(&guard, now));
    login_guard_fail(&guard, now, 3, lock);
    login_guard_fail(&guard, now + 1000, 3, lock);
    assert_int_equal(guard.failures, 2);
    assert_false(login_guard_locked(&guard, now + 1000));
    assert_true(login_guard_expires_ms(&guard, lock) == now + lock);
    login_guard_fail(&guard, now + 2000, 3, lock);
    assert_true(login_guard_locked(&guard, now + 2000));
    assert_true(guard.locked_until_ms == now + 2000 + lock);
    assert_true(login_guard_expires_ms(&guard, lock) == now + 2000 + lock);
    /* attempts a lock refused count nowhere: the lock is not stretched */
    login_guard_t before = guard;
    login_guard_fail(&guard, now + 3000, 3, lock);
    assert_memory_equal(&guard, &before, sizeof guard);
    /* after the lock a fresh count */
    now = guard.locked_until_ms;
    assert_false(login_guard_locked(&guard, now));
    login_guard_fail(&guard, now, 3, lock);
    assert_int_equal(guard.failures, 1);
    assert_false(login_guard_locked(&guard, now));

    /* failures older than the window are forgotten */
    login_guard_t slow = {0};
    login_guard_fail(&slow, now, 3, lock);
    login_guard_fail(&slow, now + 1, 3, lock);
    login_guard_fail(&slow, now + lock, 3, lock);
    assert_int_equal(slow.failures, 1);
    assert_false(login_guard_locked(&slow, now + lock));
}

static void test_client_keys(void **state)
{
    (void)state;
    char key[64];
    assert_int_equal(login_client_key("198.51.100.7", key, sizeof key), 0);
    assert_string_equal(key, "198.51.100.7");
    assert_int_equal(login_client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", key, sizeof key), 0);
    assert_string_equal(key, "2001:db8:1:2::/64");
    char other[64];
    assert_int_equal(login_client_key("2001:db8:1:2::1", other, sizeof other), 0);
    assert_string_equal(key, other);
    assert_int_equal(login_client_key("2001:db8:1:3::1", other, sizeof other), 0);
    assert_string_not_equal(key, other);
    assert_int_equal(login_client_key("::1", key, sizeof key), 0);
    assert_string_equal(key, "::/64");
    assert_int_equal(login_client_key("not an address", key, sizeof key), -1);
    assert_int_equal(login_client_key(NULL, key, sizeof key), -1);
    assert_int_equal(login_client_key("198.51.100.7", key, 8), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_guard_counts_and_locks),
        cmocka_unit_test(test_client_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
