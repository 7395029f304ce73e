/*
 * Unit-test helpers: capture what code under test prints on stdout/stderr
 * (user-facing error messages are part of the behaviour we test).
 */
#ifndef KHYVE_TEST_CAPTURE_H
#define KHYVE_TEST_CAPTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline char *read_stream(FILE *fp)
{
	size_t cap = 256, len = 0, n;
	char *buf = malloc(cap);

	rewind(fp);
	while ((n = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
		len += n;
		if (cap - len - 1 == 0)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	return buf;
}

/* Redirect a file descriptor (1 or 2) into a temporary file. */
struct capture {
	int fd, saved;
	FILE *tmp;
};

static inline void capture_start(struct capture *c, int fd)
{
	fflush(fd == 1 ? stdout : stderr);
	c->fd = fd;
	c->tmp = tmpfile();
	assert_non_null(c->tmp);
	c->saved = dup(fd);
	dup2(fileno(c->tmp), fd);
}

static inline char *capture_end(struct capture *c)
{
	char *text;

	fflush(c->fd == 1 ? stdout : stderr);
	dup2(c->saved, c->fd);
	close(c->saved);
	text = read_stream(c->tmp);
	fclose(c->tmp);
	return text;
}

static inline int count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

#endif
