/* interrupt.c: the signal flag (see interrupt.h). The handler writes one sig_atomic_t, or ends
 * the process when a signal had already arrived; every other action happens on the threads that
 * check the flag. */
#include "drrepo/interrupt.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/error.h"

static volatile sig_atomic_t caught;

static const int handled[] = {SIGINT, SIGTERM, SIGHUP};

static void on_signal(int sig)
{
    if (caught) {
        /* the second signal: the user does not want to wait for the clean stop */
        _exit(128 + sig);
    }
    caught = sig;
}

void dr_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < DR_ARRAY_LEN(handled); i++) {
        sigaddset(&sa.sa_mask, handled[i]);
    }
    /* SA_RESTART: the system calls in flight finish, the flag is checked after them (reads that
     * can block for long, such as a source's pipe, poll with a timeout and check it) */
    sa.sa_flags = SA_RESTART;
    caught = 0;
    for (size_t i = 0; i < DR_ARRAY_LEN(handled); i++) {
        struct sigaction old;
        /* nohup's ignored SIGHUP stays ignored: the run is meant to outlive its terminal */
        if (handled[i] == SIGHUP && sigaction(SIGHUP, NULL, &old) == 0 &&
            old.sa_handler == SIG_IGN) {
            continue;
        }
        sigaction(handled[i], &sa, NULL);
    }
}

void dr_interrupt_uninstall(void)
{
    for (size_t i = 0; i < DR_ARRAY_LEN(handled); i++) {
        signal(handled[i], SIG_DFL);
    }
    caught = 0;
}

int dr_interrupted(void)
{
    return caught;
}

const char *dr_interrupt_name(int sig)
{
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
    }
}

int dr_interrupt_check(void)
{
    int sig = caught;
    if (!sig) {
        return 0;
    }
    return dr_errorf(DR_EINTR, "stopped by %s", dr_interrupt_name(sig));
}
