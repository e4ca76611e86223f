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
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidKey, len(key), MaxKeyLen)
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

// ValidateUserMeta checks the size limit on user metadata, counted as S3
// does: the bytes of every key and value.
func ValidateUserMeta(m map[string]string) error {
	n := 0
	for k, v := range m {
		if k == "" {
			return fmt.Errorf("%w: empty metadata key", ErrInvalidArgument)
		}
		n += len(k) + len(v)
	}
	if n > MaxUserMetaLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMetaTooLarge, n, MaxUserMetaLen)
	}
	return nil
}
