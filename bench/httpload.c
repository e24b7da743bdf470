/*
 * httpload: a minimal closed-loop HTTP/1.1 keep-alive load generator, for the requests wrk 4.1
 * cannot measure. wrk's response parser does not know which request a response answers, so a
 * `HEAD` response with `Content-Length: N` (and, correctly, no body) makes it wait for N body
 * bytes forever: 0 requests. This tool knows the method, so it skips the body of HEAD responses.
 *
 *   cc -O2 -pthread -o httpload bench/httpload.c
 *   httpload -t 2 -c 200 -d 10 -m HEAD -H 'Accept: application/json' http://127.0.0.1:5000/v2/
 *
 * Like wrk: T threads, each with its own epoll loop and C/T connections; each connection sends
 * one request, reads the whole response and sends the next (no pipelining). Latency is measured
 * from writing the request to reading the end of its response. Only 127.0.0.1 / IPv4 literals,
 * `Content-Length` framing (a chunked response counts as an error) and plain http.
 *
 * Prints one line:
 *   requests=N seconds=S rps=R p50_ms=X p99_ms=Y non2xx=N errors=N bytes=N
 * Exits 1 on bad arguments, 2 when not a single request completed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536
/* Latency histogram: 1 µs buckets below 100 ms, 100 µs buckets from 100 ms to 10 s, then one
 * overflow bucket (reported as 10 s). */
#define HIST_FINE 100000
#define HIST_BUCKETS (HIST_FINE + 99000 + 1)

typedef struct {
    int fd;
    int connected;
    size_t sent;           /* bytes of the request written */
    size_t have;           /* bytes in buf */
    int64_t body_left;     /* -1 = still reading the header section */
    int status;
    int keep_alive;
    uint64_t start_ns;
    char buf[BUF_SIZE];
} conn_t;

typedef struct {
    int nconns;
    pthread_t tid;
    uint64_t requests, non2xx, errors, bytes;
    uint32_t *hist;        /* HIST_BUCKETS buckets */
} worker_t;

static struct sockaddr_in g_addr;
static char *g_request;
static size_t g_request_len;
static int g_head;
static volatile int g_stop;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int conn_open(conn_t *c, int ep) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->connected = 0;
    c->sent = 0;
    c->have = 0;
    c->body_left = -1;
    c->start_ns = now_ns();
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_close(conn_t *c, int ep) {
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

/* Case-insensitive search for a header line "\r\nName:" inside [p, end). */
static const char *find_header(const char *p, const char *end, const char *name) {
    size_t n = strlen(name);
    for (; p + n + 3 <= end; p++) {
        if (p[0] == '\r' && p[1] == '\n' && strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            return v;
        }
    }
    return NULL;
}

/* Parses the header section in c->buf (ending at hdr_end, just past "\r\n\r\n"). */
static int parse_head(conn_t *c, size_t hdr_end) {
    const char *b = c->buf, *end = c->buf + hdr_end;
    if (hdr_end < 12 || strncmp(b, "HTTP/1.", 7) != 0) return -1;
    c->status = atoi(b + 9);
    c->keep_alive = b[7] == '1';
    const char *conn = find_header(b, end, "Connection");
    if (conn && strncasecmp(conn, "close", 5) == 0) c->keep_alive = 0;
    if (find_header(b, end, "Transfer-Encoding")) return -1; /* chunked: unsupported */
    const char *cl = find_header(b, end, "Content-Length");
    int64_t len = cl ? strtoll(cl, NULL, 10) : 0;
    if (g_head || c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200)) len = 0;
    c->body_left = len;
    return 0;
}

static void record(worker_t *w, conn_t *c) {
    uint64_t us = (now_ns() - c->start_ns) / 1000;
    uint64_t i = us < HIST_FINE ? us : HIST_FINE + (us - HIST_FINE) / 100;
    w->hist[i < HIST_BUCKETS - 1 ? i : HIST_BUCKETS - 1]++;
    w->requests++;
    if (c->status < 200 || c->status > 399) w->non2xx++;
}

/* Writes as much of the request as the socket takes. 0 = ok (maybe partial), -1 = error. */
static int conn_write(conn_t *c) {
    while (c->sent < g_request_len) {
        ssize_t n = send(c->fd, g_request + c->sent, g_request_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        c->sent += (size_t)n;
    }
    return 0;
}

/* Reads and consumes responses. 0 = ok, 1 = reconnect needed (clean close), -1 = error. */
static int conn_read(worker_t *w, conn_t *c) {
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->have, BUF_SIZE - c->have, 0);
        if (n == 0) return (c->sent == 0 && c->have == 0) ? 1 : -1;
        if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        w->bytes += (uint64_t)n;
        c->have += (size_t)n;
        for (;;) {
            if (c->body_left < 0) {
                char *e = memmem(c->buf, c->have, "\r\n\r\n", 4);
                if (!e) {
                    if (c->have == BUF_SIZE) return -1; /* header section too large */
                    break;
                }
                size_t hdr_end = (size_t)(e - c->buf) + 4;
                if (parse_head(c, hdr_end) != 0) return -1;
                memmove(c->buf, c->buf + hdr_end, c->have - hdr_end);
                c->have -= hdr_end;
            }
            size_t take = c->have < (uint64_t)c->body_left ? c->have : (size_t)c->body_left;
            c->body_left -= (int64_t)take;
            memmove(c->buf, c->buf + take, c->have - take);
            c->have -= take;
            if (c->body_left > 0) break;
            /* Response complete. */
            record(w, c);
            c->body_left = -1;
            if (c->have != 0) return -1; /* unsolicited bytes */
            if (!c->keep_alive) return 1;
            if (g_stop) return 0;
            c->sent = 0;
            c->start_ns = now_ns();
            if (conn_write(c) != 0) return -1;
            break;
        }
    }
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    conn_t *conns = calloc((size_t)w->nconns, sizeof *conns);
    struct epoll_event *evs = calloc((size_t)w->nconns, sizeof *evs);
    if (ep < 0 || !conns || !evs) { perror("httpload: setup"); exit(1); }
    for (int i = 0; i < w->nconns; i++) {
        conns[i].fd = -1;
        if (conn_open(&conns[i], ep) != 0) w->errors++;
    }
    while (!g_stop) {
        int n = epoll_wait(ep, evs, w->nconns, 100);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            int rc = 0;
            if (!c->connected && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) rc = -1;
                else {
                    c->connected = 1;
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    c->start_ns = now_ns();
                    rc = conn_write(c);
                }
            }
            if (rc == 0 && c->connected && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                rc = conn_read(w, c);
            if (rc == 0 && c->connected && c->sent < g_request_len) rc = conn_write(c);
            if (rc != 0) {
                if (rc < 0) w->errors++;
                conn_close(c, ep);
                if (!g_stop && conn_open(c, ep) != 0) w->errors++;
            }
        }
    }
    for (int i = 0; i < w->nconns; i++) conn_close(&conns[i], ep);
    close(ep);
    free(conns);
    free(evs);
    return NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: httpload [-t THREADS] [-c CONNS] [-d SECONDS] [-m METHOD] [-H 'Name: value']... "
                    "http://IPV4:PORT/PATH\n");
    exit(1);
}

int main(int argc, char **argv) {
    int threads = 1, conns = 10;
    double seconds = 10;
    const char *method = "GET";
    char headers[8192] = "";
    int opt;
    while ((opt = getopt(argc, argv, "t:c:d:m:H:")) != -1) {
        switch (opt) {
        case 't': threads = atoi(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'm': method = optarg; break;
        case 'H':
            if (strlen(headers) + strlen(optarg) + 3 >= sizeof headers) usage();
            strcat(headers, optarg);
            strcat(headers, "\r\n");
            break;
        default: usage();
        }
    }
    if (optind != argc - 1 || threads < 1 || conns < threads || seconds <= 0) usage();
    const char *url = argv[optind];
    if (strncmp(url, "http://", 7) != 0) usage();
    const char *hostport = url + 7;
    const char *path = strchr(hostport, '/');
    size_t hl = path ? (size_t)(path - hostport) : strlen(hostport);
    if (!path) path = "/";
    char host[256];
    if (hl == 0 || hl >= sizeof host) usage();
    memcpy(host, hostport, hl);
    host[hl] = 0;
    char *colon = strrchr(host, ':');
    if (!colon) usage();
    *colon = 0;
    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1) usage();
    *colon = ':';
    g_head = strcasecmp(method, "HEAD") == 0;
    g_request_len = (size_t)asprintf(&g_request, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method, path, host, headers);
    signal(SIGPIPE, SIG_IGN);

    worker_t *ws = calloc((size_t)threads, sizeof *ws);
    uint64_t t0 = now_ns();
    for (int i = 0; i < threads; i++) {
        ws[i].nconns = conns / threads + (i < conns % threads);
        ws[i].hist = calloc(HIST_BUCKETS, sizeof(uint32_t));
        if (!ws[i].hist) { perror("httpload: calloc"); return 1; }
        pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
    }
    struct timespec ts = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    g_stop = 1;
    double elapsed = (double)(now_ns() - t0) / 1e9;
    uint64_t req = 0, non2xx = 0, errors = 0, bytes = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].tid, NULL);
        req += ws[i].requests;
        non2xx += ws[i].non2xx;
        errors += ws[i].errors;
        bytes += ws[i].bytes;
    }
    double p50 = 0, p99 = 0;
    if (req) {
        uint64_t seen = 0, want50 = (req + 1) / 2, want99 = (req * 99 + 99) / 100;
        int got50 = 0;
        for (uint64_t b = 0; b < HIST_BUCKETS; b++) {
            uint64_t n = 0;
            for (int i = 0; i < threads; i++) n += ws[i].hist[b];
            seen += n;
            double ms = (double)(b < HIST_FINE ? b : HIST_FINE + (b - HIST_FINE) * 100) / 1000;
            if (!got50 && seen >= want50) { p50 = ms; got50 = 1; }
            if (seen >= want99) { p99 = ms; break; }
        }
    }
    printf("requests=%llu seconds=%.3f rps=%.2f p50_ms=%.3f p99_ms=%.3f non2xx=%llu errors=%llu bytes=%llu\n",
           (unsigned long long)req, elapsed, (double)req / elapsed, p50, p99, (unsigned long long)non2xx,
           (unsigned long long)errors, (unsigned long long)bytes);
    return req ? 0 : 2;
}
