package core

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of S3 that objstore enforces on every API.
const (
	MaxKeyLen      = 1024    // bytes of UTF-8
	MaxUserMetaLen = 2 << 10 // sum of user-metadata key and value bytes
)

// ValidateKey reports whether key is a valid object key: 1–1024 bytes of
// valid UTF-8. The key never becomes a path, so any such string is safe.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrKeyTooLong, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	return nil
}

// ValidateBucket reports whether name follows S3's bucket naming rules
// (3–63 characters of lowercase letters, digits, dots and hyphens,
// starting and ending with a letter or digit).
func ValidateBucket(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("%w: %q must be 3 to 63 characters", ErrInvalidBucket, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q may hold only a-z, 0-9, '.' and '-'", ErrInvalidBucket, name)
		}
	}
	if strings.ContainsAny(name[:1], ".-") || strings.ContainsAny(name[len(name)-1:], ".-") {
		return fmt.Errorf("%w: %q must start and end with a letter or digit", ErrInvalidBucket, name)
	}
	return nil
}

// ValidateUserMeta checks user metadata as S3 would accept it over its
// REST API: keys are non-empty HTTP tokens, values printable ASCII, and all
// keys and values together at most MaxUserMetaLen bytes. S3 treats keys
// case-insensitively; NormalizeUserMeta lowercases them.
func ValidateUserMeta(m map[string]string) error {
	return ValidateUserMetaReserving(m, 0)
}

// ValidateUserMetaReserving is ValidateUserMeta with reserved bytes of the
// limit already taken (by metadata objstore stores beside the user's).
func ValidateUserMetaReserving(m map[string]string, reserved int) error {
	n := reserved
	for k, v := range m {
		if k == "" {
			return fmt.Errorf("%w: empty metadata key", ErrInvalidArgument)
		}
		for i := 0; i < len(k); i++ {
			if !isTokenChar(k[i]) {
				return fmt.Errorf("%w: metadata key %q: only letters, digits and !#$%%&'*+-.^_`|~ are allowed", ErrInvalidArgument, k)
			}
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return fmt.Errorf("%w: metadata value of %q: only printable ASCII is allowed", ErrInvalidArgument, k)
			}
		}
		n += len(k) + len(v)
	}
	if n > MaxUserMetaLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMetaTooLarge, n, MaxUserMetaLen)
	}
	return nil
}

// NormalizeUserMeta returns m with lowercase keys, as S3 keeps them, so
// that every node and the backend agree on them. Keys that differ only in
// case are an error.
func NormalizeUserMeta(m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return m, nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		lk := strings.ToLower(k)
		if _, dup := out[lk]; dup {
			return nil, fmt.Errorf("%w: metadata keys %q differ only in case", ErrInvalidArgument, k)
		}
		out[lk] = v
	}
	return out, nil
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
