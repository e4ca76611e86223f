package core

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateKey(t *testing.T) {
	cases := []struct {
		name, key string
		ok        bool
	}{
		{"simple", "a", true},
		{"slashes and dots", "../a//b/./c", true},
		{"unicode", "ключ/日本", true},
		{"max length", strings.Repeat("k", MaxKeyLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("k", MaxKeyLen+1), false},
		{"invalid utf-8", "a\xffb", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateKey(c.key)
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalidKey)) {
				t.Fatalf("ValidateKey: %v", err)
			}
		})
	}
}

func TestValidateBucket(t *testing.T) {
	for _, b := range []string{"objstore", "my.bucket-1", "abc"} {
		if err := ValidateBucket(b); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
	for _, b := range []string{"ab", "Upper", "-start", "end.", "under_score", strings.Repeat("a", 64)} {
		if err := ValidateBucket(b); !errors.Is(err, ErrInvalidBucket) {
			t.Errorf("%q accepted: %v", b, err)
		}
	}
}

func TestUserMeta(t *testing.T) {
	cases := []struct {
		name string
		m    map[string]string
		want error
	}{
		{"ok", map[string]string{"owner": "ann", "x-y_z": "1 2"}, nil},
		{"empty key", map[string]string{"": "v"}, ErrInvalidArgument},
		{"space in key", map[string]string{"a b": "v"}, ErrInvalidArgument},
		{"non-ascii key", map[string]string{"ключ": "v"}, ErrInvalidArgument},
		{"newline in value", map[string]string{"k": "a\r\nb"}, ErrInvalidArgument},
		{"non-ascii value", map[string]string{"k": "é"}, ErrInvalidArgument},
		{"at the limit", map[string]string{"k": strings.Repeat("v", MaxUserMetaLen-1)}, nil},
		{"over the limit", map[string]string{"k": strings.Repeat("v", MaxUserMetaLen)}, ErrMetaTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := ValidateUserMeta(c.m); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if err := ValidateUserMetaReserving(map[string]string{"k": "v"}, MaxUserMetaLen-1); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("reserved bytes not counted: %v", err)
	}
	m, err := NormalizeUserMeta(map[string]string{"Owner": "Ann"})
	if err != nil || m["owner"] != "Ann" || len(m) != 1 {
		t.Fatalf("normalize: %v %v", m, err)
	}
	if _, err := NormalizeUserMeta(map[string]string{"A": "1", "a": "2"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("case duplicates: %v", err)
	}
}

func TestParseLevel(t *testing.T) {
	for s, want := range map[string]Level{"0": LevelLocal, "1": LevelBackend, "2": LevelAll} {
		if l, err := ParseLevel(s); err != nil || l != want {
			t.Errorf("%q: %v %v", s, l, err)
		}
	}
	for _, s := range []string{"", "3", "-1", "one"} {
		if _, err := ParseLevel(s); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q accepted", s)
		}
	}
}
