/*
 * Just enough JSON for the control socket (khyvectl(8), PROTOCOL): a strict
 * parser of one document into a small tree, and an emitter that builds one
 * line. Both sides of the socket use it, so it has no dependency on the VM.
 * Limits keep hostile input cheap: nesting depth, and the caller bounds the
 * text (the server reads at most one line of CONTROL_LINE_MAX bytes).
 */
#ifndef KHYVE_JSON_H
#define KHYVE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
	enum json_type type;
	bool boolean;
	double number;
	char *string;               /* JSON_STRING, decoded UTF-8, NUL-terminated */
	char *key;                  /* the member's name when inside an object */
	struct json_value *items;   /* JSON_ARRAY elements / JSON_OBJECT members */
	size_t count;
};

#define JSON_MAX_DEPTH 32

/*
 * Parse text[0..len) as exactly one JSON value (surrounding blanks allowed).
 * Returns NULL on malformed input and points *err at a short static message.
 */
struct json_value *json_parse(const char *text, size_t len, const char **err);
void json_free(struct json_value *v);
/* The member named key of an object (the last one if repeated), else NULL. */
const struct json_value *json_get(const struct json_value *obj, const char *key);
const char *json_get_string(const struct json_value *obj, const char *key);
/* An integral number member in [min, max]: 0, else -1 (missing or not such a number). */
int json_get_int(const struct json_value *obj, const char *key, int64_t min, int64_t max,
		 int64_t *out);

/*
 * The emitter: a growing buffer with one "needs a comma" bit per nesting
 * level. Pass key = NULL for array elements and the top-level value. After
 * an allocation failure every call is a no-op and json_out_finish() fails.
 */
struct json_out {
	char *buf;
	size_t len, cap;
	int depth;
	bool failed;
	bool need_comma[JSON_MAX_DEPTH];
};

void json_out_init(struct json_out *o);
void json_begin_object(struct json_out *o, const char *key);
void json_end_object(struct json_out *o);
void json_begin_array(struct json_out *o, const char *key);
void json_end_array(struct json_out *o);
void json_string(struct json_out *o, const char *key, const char *value);
void json_u64(struct json_out *o, const char *key, uint64_t value);
void json_i64(struct json_out *o, const char *key, int64_t value);
void json_bool(struct json_out *o, const char *key, bool value);
/* A 64-bit register as a "0x..." string: JSON numbers lose precision above 2^53. */
void json_hex(struct json_out *o, const char *key, uint64_t value);
/* The text with a final newline (caller frees), or NULL if memory ran out. */
char *json_out_finish(struct json_out *o, size_t *len);
void json_out_free(struct json_out *o);

#endif
