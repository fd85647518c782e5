/* A minimal TCP echo server on epoll, single-threaded: the syscall floor
 * shardloop is measured against. Edge-triggered; reads until EAGAIN and
 * writes each chunk back at once, keeping only what the kernel refuses
 * (EPOLLOUT armed only while something is pending).
 *
 *   cc -O2 -o epoll-echo benches/peers/epoll_echo.c && ./epoll-echo [PORT]
 * (default port 7003, on 127.0.0.1).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD 65536
#define BUF 65536

struct pending { char *data; size_t len, cap; };
static struct pending pend[MAX_FD];
static char buf[BUF];

static void drop_conn(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(pend[fd].data);
    pend[fd] = (struct pending){0};
}

static void queue(int ep, int fd, const char *p, size_t n) {
    struct pending *q = &pend[fd];
    if (q->len == 0) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
    if (q->len + n > q->cap) {
        q->cap = (q->len + n) * 2;
        q->data = realloc(q->data, q->cap);
    }
    memcpy(q->data + q->len, p, n);
    q->len += n;
}

/* Returns -1 when the connection is to be dropped. */
static int flush(int ep, int fd) {
    struct pending *q = &pend[fd];
    while (q->len > 0) {
        ssize_t w = write(fd, q->data, q->len);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        memmove(q->data, q->data + w, q->len - w);
        q->len -= w;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    return 0;
}

static int on_readable(int ep, int fd) {
    for (;;) {
        ssize_t n = read(fd, buf, BUF);
        if (n == 0) return -1;
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        size_t off = 0;
        if (pend[fd].len == 0) {
            ssize_t w = write(fd, buf, n);
            if (w < 0 && errno != EAGAIN) return -1;
            off = w < 0 ? 0 : (size_t)w;
        }
        if (off < (size_t)n) queue(ep, fd, buf + off, n - off);
        if (n < BUF) return 0; /* short read: drained (edge-triggered) */
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7003;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1024) < 0) {
        perror("epoll-echo: listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("epoll-echo on 127.0.0.1:%d\n", port);
    fflush(stdout);
    struct epoll_event evs[1024];
    for (;;) {
        int n = epoll_wait(ep, evs, 1024, -1);
        if (n < 0 && errno != EINTR) return 1;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= MAX_FD) { close(c); continue; }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLET, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            int bad = 0;
            if (evs[i].events & EPOLLOUT) bad = flush(ep, fd) < 0;
            if (!bad && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) bad = on_readable(ep, fd) < 0;
            if (bad) drop_conn(ep, fd);
        }
    }
}
