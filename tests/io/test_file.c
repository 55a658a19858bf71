/* tests/io/test_file.c - opening user files that are not what they seem
 * (a FIFO without a writer, a character device, a directory, an endless
 * or oversized file) must fail at once with a message, never block or
 * read without end; the checkpoint directory's lock refuses a second
 * holder and names the first; stale temporaries of dead writers go, those
 * of live processes and other files stay. No test here can hang silently:
 * a FIFO open that blocked would stop the program, and the test runner's
 * time limit would fail it. */
#define _DEFAULT_SOURCE /* mkfifo, fork */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/config.h"
#include "io/file.h"
#include "tests/cu.h"

static void has(const char *msg, const char *want)
{
    if (!strstr(msg, want)) {
        printf("\n    message \"%s\" lacks \"%s\"\n", msg, want);
        CU_FAIL("message lacks the expected text");
    }
}

static void test_not_regular(void)
{
    const char *fifo = cu_tmp_path("fifo");
    unlink(fifo);
    CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
    nn_error err;
    int fd = 123;
    CU_ASSERT_EQUAL(io_open_regular(fifo, "config", NN_EXIT_USAGE, &fd, NULL,
                                    &err), NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(fd, -1);
    has(err.msg, fifo);
    has(err.msg, "config is not a regular file (a FIFO)");
    CU_ASSERT_EQUAL(io_open_regular("/dev/zero", "checkpoint", NN_EXIT_DATA,
                                    &fd, NULL, &err), NN_EXIT_DATA);
    has(err.msg, "/dev/zero: checkpoint is not a regular file (a character "
                 "device)");
    CU_ASSERT_EQUAL(io_open_regular(cu_tmpdir(), "data file", NN_EXIT_DATA,
                                    &fd, NULL, &err), NN_EXIT_DATA);
    has(err.msg, "(a directory)");
    CU_ASSERT_EQUAL(io_open_regular(cu_tmp_path("none"), "data file",
                                    NN_EXIT_DATA, &fd, NULL, &err),
                    NN_EXIT_DATA);
    has(err.msg, strerror(ENOENT));
    /* the config reader: FIFO, /dev/zero, /dev/urandom all refused */
    char *text = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(io_read_file(fifo, &text, &len, &err), NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(io_read_file("/dev/zero", &text, &len, &err),
                    NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(io_read_file("/dev/urandom", &text, &len, &err),
                    NN_EXIT_USAGE);
    CU_ASSERT_PTR_NULL(text);
    /* a regular file opens, blocking again, with its size */
    const char *p = cu_tmp_path("plain");
    cu_write_bytes(p, "hello", 5, 0);
    uint64_t size = 0;
    CU_ASSERT_EQUAL_FATAL(io_open_regular(p, "file", NN_EXIT_DATA, &fd, &size,
                                          &err), 0);
    CU_ASSERT_EQUAL(size, 5);
    CU_ASSERT_EQUAL(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    unlink(fifo);
}

static void test_size_cap(void)
{
    const char *p = cu_tmp_path("big");
    static char buf[5000];
    memset(buf, 'a', sizeof buf);
    cu_write_bytes(p, buf, sizeof buf, 0);
    char *text = NULL;
    size_t len = 0;
    nn_error err;
    CU_ASSERT_EQUAL(io_read_regular(p, "config", 4999, NN_EXIT_USAGE, &text,
                                    &len, &err), NN_EXIT_USAGE);
    has(err.msg, "config larger than 4999 bytes");
    CU_ASSERT_PTR_NULL(text);
    CU_ASSERT_EQUAL_FATAL(io_read_regular(p, "config", 5000, NN_EXIT_USAGE,
                                          &text, &len, &err), 0);
    CU_ASSERT_EQUAL(len, 5000);
    CU_ASSERT_EQUAL(text[len], '\0');
    free(text);
}

static void test_dir_lock(void)
{
    const char *dir = cu_tmp_path("ck/sub");
    nn_error err;
    int a = -1, b = -1;
    CU_ASSERT_EQUAL_FATAL(io_dir_lock(dir, &a, &err), 0);
    CU_ASSERT(a >= 0);
    /* a second holder (another open file description: as another job) */
    CU_ASSERT_EQUAL(io_dir_lock(dir, &b, &err), NN_EXIT_USAGE);
    CU_ASSERT_EQUAL(b, -1);
    char want[64];
    snprintf(want, sizeof want, "pid %ld", (long)getpid());
    has(err.msg, "in use by another job (host ");
    has(err.msg, want);
    has(err.msg, dir);
    /* from another process too */
    pid_t child = fork();
    if (child == 0) {
        int c = -1;
        nn_error e;
        _exit(io_dir_lock(dir, &c, &e) == NN_EXIT_USAGE ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    io_dir_unlock(a);
    CU_ASSERT_EQUAL(io_dir_lock(dir, &b, &err), 0);
    io_dir_unlock(b);
}

static void test_stale_temps(void)
{
    const char *dir = cu_tmp_path("stale");
    mkdir(dir, 0777);
    pid_t dead = fork(); /* a pid that has certainly ended */
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char names[6][96];
    snprintf(names[0], 96, "%s/step-00000010.ckpt.tmp.%ld", dir, (long)dead);
    snprintf(names[1], 96, "%s/.last.ckpt.%ld", dir, (long)dead);
    snprintf(names[2], 96, "%s/step-00000010.ckpt.tmp.%ld", dir,
             (long)getppid()); /* alive */
    snprintf(names[3], 96, "%s/step-00000010.ckpt", dir);
    snprintf(names[4], 96, "%s/notes.tmp.x%ld", dir, (long)dead);
    snprintf(names[5], 96, "%s/data.%ld", dir, (long)dead);
    for (int i = 0; i < 6; i++) cu_write_bytes(names[i], "x", 1, 0);
    size_t removed = 99;
    nn_error err;
    CU_ASSERT_EQUAL(io_remove_stale_temps(dir, &removed, &err), 0);
    CU_ASSERT_EQUAL(removed, 2);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(access(names[i], F_OK) == 0, i >= 2);
    CU_ASSERT_EQUAL(io_remove_stale_temps(cu_tmp_path("absent"), &removed,
                                          &err), 0);
    CU_ASSERT_EQUAL(removed, 0);
}

static void test_resume_dir(void)
{
    nn_error err;
    char link[256], step[256];
    const char *dir = cu_tmp_path("resume");
    CU_ASSERT_EQUAL(io_check_resume_dir(dir, "last.ckpt", &err), 0); /* none */
    mkdir(dir, 0777);
    CU_ASSERT_EQUAL(io_check_resume_dir(dir, "last.ckpt", &err), 0); /* empty */
    snprintf(step, sizeof step, "%s/best.ckpt", dir);
    cu_write_bytes(step, "x", 1, 0); /* not a step checkpoint */
    CU_ASSERT_EQUAL(io_check_resume_dir(dir, "last.ckpt", &err), 0);
    snprintf(step, sizeof step, "%s/step-00000004.ckpt", dir);
    cu_write_bytes(step, "x", 1, 0);
    CU_ASSERT_EQUAL(io_check_resume_dir(dir, "last.ckpt", &err), NN_EXIT_DATA);
    has(err.msg, "last.ckpt: missing, but ");
    has(err.msg, "step-00000004.ckpt is there");
    snprintf(link, sizeof link, "%s/last.ckpt", dir);
    CU_ASSERT_FATAL(symlink("step-00000009.ckpt", link) == 0);
    CU_ASSERT_EQUAL(io_check_resume_dir(dir, "last.ckpt", &err), NN_EXIT_DATA);
    has(err.msg, "a dangling symlink");
    unlink(link);
    CU_ASSERT_FATAL(symlink("last.ckpt", link) == 0);
    CU_ASSERT_EQUAL(io_check_resume_dir(dir, "last.ckpt", &err), NN_EXIT_DATA);
    has(err.msg, "a symlink loop");
    unlink(link);
    CU_ASSERT_FATAL(symlink("step-00000004.ckpt", link) == 0);
    CU_ASSERT_EQUAL(io_check_resume_dir(dir, "last.ckpt", &err), 0);
}

static const cu_test file_tests[] = {
    {"FIFO, device, directory: refused without blocking", test_not_regular},
    {"size cap", test_size_cap},
    {"directory lock: one holder, named", test_dir_lock},
    {"stale temporaries of dead writers", test_stale_temps},
    {"--resume auto: what last.ckpt is", test_resume_dir},
    {NULL, NULL},
};

static const cu_suite suites[] = {
    {"file", file_tests},
    {NULL, NULL},
};

int main(void)
{
    return cu_main("io_test_file", suites);
}
