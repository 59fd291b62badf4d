/* interrupt.c: the signal flag (see interrupt.h). The handler writes one sig_atomic_t and
 * nothing else; every other action happens on the threads that check it. */
#include "drrepo/interrupt.h"

#include <signal.h>
#include <string.h>

#include "drrepo/error.h"

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
    caught = sig;
}

void dr_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: the system calls in flight finish, the flag is checked after them;
     * SA_RESETHAND: a second signal is not caught, and ends the process as it would have */
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    caught = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void dr_interrupt_uninstall(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    caught = 0;
}

int dr_interrupted(void)
{
    return caught;
}

int dr_interrupt_check(void)
{
    int sig = caught;
    if (!sig) {
        return 0;
    }
    return dr_errorf(DR_EINTR, "interrupted by %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
}
