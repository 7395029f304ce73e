/*
 * A small strict JSON parser (RFC 8259) and a line emitter; see json.h.
 * Strict on syntax so a malformed request gets an error reply instead of a
 * guess; recursion is bounded by JSON_MAX_DEPTH.
 */
#include "core/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"

/* ---- parser ------------------------------------------------------------- */

struct parser {
	const char *p, *end;
	const char *err;
	int depth;
};

static bool parse_value(struct parser *ps, struct json_value *out);

static bool fail(struct parser *ps, const char *msg)
{
	if (ps->err == NULL)
		ps->err = msg;
	return false;
}

static void skip_blanks(struct parser *ps)
{
	while (ps->p < ps->end && strchr(" \t\r\n", *ps->p) != NULL && *ps->p != '\0')
		ps->p++;
}

static bool eat(struct parser *ps, char c)
{
	skip_blanks(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return true;
	}
	return false;
}

static void free_contents(struct json_value *v)
{
	for (size_t i = 0; i < v->count; i++)
		free_contents(&v->items[i]);
	free(v->items);
	free(v->string);
	free(v->key);
	memset(v, 0, sizeof(*v));
}

/* A growing byte buffer for decoded strings. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static bool sbuf_put(struct sbuf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		char *s = realloc(b->s, cap);

		if (s == NULL)
			return false;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return true;
}

static bool sbuf_put_utf8(struct sbuf *b, uint32_t cp)
{
	if (cp < 0x80)
		return sbuf_put(b, (char)cp);
	if (cp < 0x800)
		return sbuf_put(b, (char)(0xc0 | cp >> 6)) && sbuf_put(b, (char)(0x80 | (cp & 0x3f)));
	if (cp < 0x10000)
		return sbuf_put(b, (char)(0xe0 | cp >> 12)) &&
		       sbuf_put(b, (char)(0x80 | ((cp >> 6) & 0x3f))) &&
		       sbuf_put(b, (char)(0x80 | (cp & 0x3f)));
	return sbuf_put(b, (char)(0xf0 | cp >> 18)) && sbuf_put(b, (char)(0x80 | ((cp >> 12) & 0x3f))) &&
	       sbuf_put(b, (char)(0x80 | ((cp >> 6) & 0x3f))) && sbuf_put(b, (char)(0x80 | (cp & 0x3f)));
}

static bool parse_hex4(struct parser *ps, uint32_t *out)
{
	*out = 0;
	if (ps->end - ps->p < 4)
		return fail(ps, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return fail(ps, "bad \\u escape");
		*out = *out << 4 | d;
	}
	return true;
}

/* \uXXXX, with UTF-16 surrogate pairs combined; NUL is refused (C strings). */
static bool parse_unicode_escape(struct parser *ps, struct sbuf *b)
{
	uint32_t cp, low;

	if (!parse_hex4(ps, &cp))
		return false;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(ps, "lone low surrogate in \\u escape");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
			return fail(ps, "lone high surrogate in \\u escape");
		ps->p += 2;
		if (!parse_hex4(ps, &low))
			return false;
		if (low < 0xdc00 || low > 0xdfff)
			return fail(ps, "bad surrogate pair in \\u escape");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
	}
	if (cp == 0)
		return fail(ps, "\\u0000 is not supported");
	return sbuf_put_utf8(b, cp) || fail(ps, "out of memory");
}

static bool parse_escape(struct parser *ps, struct sbuf *b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;

	if (ps->p >= ps->end)
		return fail(ps, "unterminated string");
	if (*ps->p == 'u') {
		ps->p++;
		return parse_unicode_escape(ps, b);
	}
	hit = *ps->p != '\0' ? strchr(from, *ps->p) : NULL;
	if (hit == NULL)
		return fail(ps, "bad escape in string");
	ps->p++;
	return sbuf_put(b, to[hit - from]) || fail(ps, "out of memory");
}

static bool parse_string(struct parser *ps, char **out)
{
	struct sbuf b = { 0 };

	if (!eat(ps, '"'))
		return fail(ps, "expected a string");
	for (;;) {
		unsigned char c;

		if (ps->p >= ps->end) {
			free(b.s);
			return fail(ps, "unterminated string");
		}
		c = (unsigned char)*ps->p++;
		if (c == '"')
			break;
		if (c < 0x20) {
			free(b.s);
			return fail(ps, "control character in string");
		}
		if (!(c == '\\' ? parse_escape(ps, &b) : sbuf_put(&b, (char)c) || fail(ps, "out of memory"))) {
			free(b.s);
			return false;
		}
	}
	*out = b.s != NULL ? b.s : strdup(""); /* "" is an empty string, not NULL */
	return *out != NULL || fail(ps, "out of memory");
}

static size_t span_digits(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && p[n] >= '0' && p[n] <= '9')
		n++;
	return n;
}

/* The JSON number grammar, checked before strtod (which accepts much more). */
static bool parse_number(struct parser *ps, struct json_value *out)
{
	const char *start = ps->p, *p = ps->p;
	char tmp[64];
	size_t n;

	if (p < ps->end && *p == '-')
		p++;
	n = span_digits(p, ps->end);
	if (n == 0 || (n > 1 && *p == '0'))
		return fail(ps, "bad number");
	p += n;
	if (p < ps->end && *p == '.') {
		n = span_digits(++p, ps->end);
		if (n == 0)
			return fail(ps, "bad number");
		p += n;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < ps->end && (*p == '+' || *p == '-'))
			p++;
		n = span_digits(p, ps->end);
		if (n == 0)
			return fail(ps, "bad number");
		p += n;
	}
	if ((size_t)(p - start) >= sizeof(tmp))
		return fail(ps, "number too long");
	memcpy(tmp, start, (size_t)(p - start));
	tmp[p - start] = '\0';
	out->type = JSON_NUMBER;
	out->number = strtod(tmp, NULL);
	ps->p = p;
	return true;
}

static bool parse_literal(struct parser *ps, struct json_value *out)
{
	static const struct {
		const char *word;
		enum json_type type;
		bool value;
	} words[] = { { "true", JSON_BOOL, true }, { "false", JSON_BOOL, false }, { "null", JSON_NULL, false } };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t len = strlen(words[i].word);

		if ((size_t)(ps->end - ps->p) >= len && memcmp(ps->p, words[i].word, len) == 0) {
			ps->p += len;
			out->type = words[i].type;
			out->boolean = words[i].value;
			return true;
		}
	}
	return fail(ps, "unexpected character");
}

static struct json_value *new_item(struct parser *ps, struct json_value *parent)
{
	if ((parent->count & (parent->count - 1)) == 0) { /* 0, 1, 2, 4...: grow by doubling */
		size_t cap = parent->count ? parent->count * 2 : 1;
		struct json_value *items = realloc(parent->items, cap * sizeof(*items));

		if (items == NULL) {
			fail(ps, "out of memory");
			return NULL;
		}
		parent->items = items;
	}
	memset(&parent->items[parent->count], 0, sizeof(parent->items[0]));
	return &parent->items[parent->count++];
}

/* Elements or members up to the closing bracket; the opening one is eaten. */
static bool parse_container(struct parser *ps, struct json_value *out, bool object)
{
	char close = object ? '}' : ']';

	out->type = object ? JSON_OBJECT : JSON_ARRAY;
	if (++ps->depth > JSON_MAX_DEPTH)
		return fail(ps, "nested too deeply");
	if (eat(ps, close)) {
		ps->depth--;
		return true;
	}
	do {
		struct json_value *item = new_item(ps, out);

		if (item == NULL)
			return false;
		if (object && !(parse_string(ps, &item->key) && (eat(ps, ':') || fail(ps, "expected ':'"))))
			return false;
		if (!parse_value(ps, item))
			return false;
	} while (eat(ps, ','));
	if (!eat(ps, close))
		return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
	ps->depth--;
	return true;
}

static bool parse_value(struct parser *ps, struct json_value *out)
{
	skip_blanks(ps);
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end of input");
	switch (*ps->p) {
	case '{':
		ps->p++;
		return parse_container(ps, out, true);
	case '[':
		ps->p++;
		return parse_container(ps, out, false);
	case '"':
		out->type = JSON_STRING;
		return parse_string(ps, &out->string);
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps, out);
		return parse_literal(ps, out);
	}
}

struct json_value *json_parse(const char *text, size_t len, const char **err)
{
	struct parser ps = { .p = text, .end = text + len };
	struct json_value *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		*err = "out of memory";
		return NULL;
	}
	if (parse_value(&ps, v)) {
		skip_blanks(&ps);
		if (ps.p == ps.end)
			return v;
		fail(&ps, "trailing characters after the JSON value");
	}
	*err = ps.err;
	json_free(v);
	return NULL;
}

void json_free(struct json_value *v)
{
	if (v == NULL)
		return;
	free_contents(v);
	free(v);
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
	const struct json_value *found = NULL;

	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->count; i++)
		if (strcmp(obj->items[i].key, key) == 0)
			found = &obj->items[i];
	return found;
}

const char *json_get_string(const struct json_value *obj, const char *key)
{
	const struct json_value *v = json_get(obj, key);

	return v != NULL && v->type == JSON_STRING ? v->string : NULL;
}

int json_get_int(const struct json_value *obj, const char *key, int64_t min, int64_t max,
		 int64_t *out)
{
	const struct json_value *v = json_get(obj, key);

	if (v == NULL || v->type != JSON_NUMBER || !(v->number >= (double)min) ||
	    !(v->number <= (double)max) || (double)(int64_t)v->number != v->number)
		return -1;
	*out = (int64_t)v->number;
	return 0;
}

/* ---- emitter ------------------------------------------------------------ */

void json_out_init(struct json_out *o)
{
	memset(o, 0, sizeof(*o));
}

static void out_bytes(struct json_out *o, const char *s, size_t n)
{
	char *buf;

	if (o->failed)
		return;
	/* Room for the final "\n\0" too. */
	buf = grow_buffer(o->buf, &o->cap, o->len + n + 2, 256);
	if (buf == NULL) {
		o->failed = true;
		return;
	}
	o->buf = buf;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void out_printf(struct json_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out_printf(struct json_out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(tmp))
		out_bytes(o, tmp, (size_t)n);
}

/* The letter of a control character's two-character escape (\n...), else NUL. */
static char short_escape(unsigned char c)
{
	switch (c) {
	case '\n': return 'n';
	case '\r': return 'r';
	case '\t': return 't';
	case '\b': return 'b';
	case '\f': return 'f';
	default: return '\0';
	}
}

static void out_quoted(struct json_out *o, const char *s)
{
	out_bytes(o, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char letter = short_escape(c);

		if (c == '"' || c == '\\') {
			out_bytes(o, "\\", 1);
			out_bytes(o, s, 1);
		} else if (letter != '\0') {
			out_bytes(o, "\\", 1);
			out_bytes(o, &letter, 1);
		} else if (c < 0x20) {
			out_printf(o, "\\u%04x", c);
		} else {
			out_bytes(o, s, 1);
		}
	}
	out_bytes(o, "\"", 1);
}

/* The comma before a value at this level and its "key": prefix. */
static void out_prefix(struct json_out *o, const char *key)
{
	if (o->depth > 0) {
		if (o->need_comma[o->depth - 1])
			out_bytes(o, ",", 1);
		o->need_comma[o->depth - 1] = true;
	}
	if (key != NULL) {
		out_quoted(o, key);
		out_bytes(o, ":", 1);
	}
}

static void out_open(struct json_out *o, const char *key, const char *bracket)
{
	out_prefix(o, key);
	out_bytes(o, bracket, 1);
	if (o->depth >= JSON_MAX_DEPTH) {
		o->failed = true;
		return;
	}
	o->need_comma[o->depth++] = false;
}

static void out_close(struct json_out *o, const char *bracket)
{
	if (o->depth > 0)
		o->depth--;
	out_bytes(o, bracket, 1);
}

void json_begin_object(struct json_out *o, const char *key)
{
	out_open(o, key, "{");
}

void json_end_object(struct json_out *o)
{
	out_close(o, "}");
}

void json_begin_array(struct json_out *o, const char *key)
{
	out_open(o, key, "[");
}

void json_end_array(struct json_out *o)
{
	out_close(o, "]");
}

void json_string(struct json_out *o, const char *key, const char *value)
{
	out_prefix(o, key);
	out_quoted(o, value);
}

void json_u64(struct json_out *o, const char *key, uint64_t value)
{
	out_prefix(o, key);
	out_printf(o, "%" PRIu64, value);
}

void json_i64(struct json_out *o, const char *key, int64_t value)
{
	out_prefix(o, key);
	out_printf(o, "%" PRId64, value);
}

void json_bool(struct json_out *o, const char *key, bool value)
{
	out_prefix(o, key);
	out_bytes(o, value ? "true" : "false", value ? 4 : 5);
}

void json_hex(struct json_out *o, const char *key, uint64_t value)
{
	out_prefix(o, key);
	out_printf(o, "\"0x%016" PRIx64 "\"", value);
}

char *json_out_finish(struct json_out *o, size_t *len)
{
	char *buf;

	out_bytes(o, "\n", 1);
	if (o->failed || o->depth != 0) {
		json_out_free(o);
		return NULL;
	}
	o->buf[o->len] = '\0';
	buf = o->buf;
	if (len != NULL)
		*len = o->len;
	o->buf = NULL;
	return buf;
}

void json_out_free(struct json_out *o)
{
	free(o->buf);
	json_out_init(o);
}
