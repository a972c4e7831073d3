/* esc: the one escaping of text shown to humans, and the one conversion of a C string to a JSON
 * string. Every terminal line, stderr line, journal MESSAGE and table cell goes through
 * esc_append; every JSON string value the programs produce goes through esc_json_set.
 *
 * Human text (esc_append): printable ASCII and valid UTF-8 stay as they are, except
 *   - a backslash becomes "\\" (so that every other escape is unambiguous: reversible);
 *   - C0 controls (0x00-0x1f), DEL and bytes that are not valid UTF-8 become "\xNN";
 *   - the C1 controls U+0080-U+009F, the bidirectional controls U+061C, U+200E, U+200F,
 *     U+202A-U+202E, U+2066-U+2069 and the separators U+2028, U+2029 become "\u{XXXX}"
 *     (lowercase hex, no leading zeros: "\u{9b}", "\u{202e}").
 * JSON (esc_json_set): a valid UTF-8 value is stored exactly. Any other value is stored as its
 * human text (above, valid UTF-8) under KEY, and exactly, base64 encoded (RFC 4648, with
 * padding), under KEY_raw_b64. Decoding rule: KEY_raw_b64 when present, else KEY. */
#ifndef PERMWATCH_ESC_H
#define PERMWATCH_ESC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Flags for esc_append_flags. ESC_KEEP_BACKSLASH: S is already escaped text (a message built
 * with esc_append): backslashes pass unchanged, everything else is escaped as usual. */
enum { ESC_KEEP_BACKSLASH = 1 };

/* Suffix of the sibling key that carries a value that is not valid UTF-8. */
#define ESC_RAW_SUFFIX "_raw_b64"

/* Append S (NULL: nothing) escaped as human text at offset *POS of BUF (capacity LEN; *POS
 * advances). An escape or a character is written whole or not at all; once something did not
 * fit, *POS is set to LEN - 1 and nothing more is written. BUF stays NUL-terminated. */
void esc_append(char *buf, size_t len, size_t *pos, const char *s);
void esc_append_flags(char *buf, size_t len, size_t *pos, const char *s, unsigned flags);

/* Bytes esc_append_flags writes for S (without the NUL); 0 for NULL. */
size_t esc_len(const char *s, unsigned flags);

/* Copy S into BUF (LEN >= 4 bytes), ending in "..." when it had to be cut. */
void esc_copy_cut(char *buf, size_t len, const char *s);

/* S escaped as human text in a new malloc'd string (the caller frees it); NULL on ENOMEM.
 * S NULL gives "". */
char *esc_dup(const char *s, unsigned flags);

/* Whether the N bytes at S are all valid UTF-8 (no overlong forms, surrogates or code
 * points above U+10FFFF). */
bool esc_utf8_valid(const char *s, size_t n);

/* Length of the valid UTF-8 sequence at S (1..4), or 0 when S does not start one (a NUL
 * terminator ends any sequence). */
size_t esc_utf8_seq_len(const unsigned char *s);

/* Set KEY of object O to the string S by the rule at the top of this file (KEY and, for a
 * value that is not valid UTF-8, KEY_raw_b64). S NULL: nothing is set. Returns 0, or -1
 * (ENOMEM, or KEY too long, EINVAL); O may then lack the key. */
int esc_json_set(json_t *o, const char *key, const char *s);

/* Base64 (RFC 4648, padded) of the N bytes at S in a new malloc'd string; NULL on ENOMEM. */
char *esc_b64_encode(const void *s, size_t n);

/* Decode base64 text S (padded) into a new malloc'd, NUL-terminated buffer, its length in
 * *N. Returns NULL on malformed input (EINVAL) or ENOMEM. */
char *esc_b64_decode(const char *s, size_t *n);

#endif
