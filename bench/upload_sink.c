/*
 * upload_sink: the ceiling for uploads on this machine. An HTTP/1.1 server on 127.0.0.1 that reads
 * each request's Content-Length body into a 1 MiB buffer, throws it away and answers
 * `201 Created`: what curl and loopback TCP can carry when the server does no work at all (no
 * hashing, no file writes).
 *
 *   cc -O2 -o upload_sink bench/upload_sink.c
 *   upload_sink PORT            serves until killed, one connection at a time, keep-alive
 *
 * Requests need a Content-Length (or none, meaning no body); chunked bodies are refused with 411.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (1 << 20)

static char buf[BUF_SIZE];

static void serve(int fd) {
    size_t have = 0;
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == BUF_SIZE) return;
            ssize_t n = recv(fd, buf + have, BUF_SIZE - have, 0);
            if (n <= 0) return;
            have += (size_t)n;
        }
        size_t head = (size_t)(end - buf) + 4;
        long long body = 0;
        for (char *p = buf; p < end; p++) {
            if (p[0] == '\n' && strncasecmp(p + 1, "Content-Length:", 15) == 0) body = atoll(p + 16);
            if (p[0] == '\n' && strncasecmp(p + 1, "Transfer-Encoding:", 18) == 0) {
                static const char r411[] = "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                send(fd, r411, sizeof r411 - 1, MSG_NOSIGNAL);
                return;
            }
        }
        size_t extra = have - head;
        if ((long long)extra > body) return; /* pipelining: not needed here */
        body -= (long long)extra;
        while (body > 0) {
            ssize_t n = recv(fd, buf, body < BUF_SIZE ? (size_t)body : BUF_SIZE, 0);
            if (n <= 0) return;
            body -= n;
        }
        have = 0;
        static const char r201[] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        if (send(fd, r201, sizeof r201 - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof r201 - 1)) return;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: upload_sink PORT\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0) {
        perror("upload_sink");
        return 1;
    }
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        serve(c);
        close(c);
    }
}
