package derivedkey

import (
	"encoding/hex"
	"testing"
)

// The signing key AWS's SigV4 documentation derives as its example.
func TestDeriveMatchesAWSExample(t *testing.T) {
	k := Derive(Scheme{Prefix: "AWS4", Region: "us-east-1", Service: "iam", Terminator: "aws4_request"},
		"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", []byte("20120215"))
	if got, want := hex.EncodeToString(k), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"; got != want {
		t.Fatalf("signing key %s, want %s", got, want)
	}
}

func TestCacheDerivesOncePerDayAndCredentials(t *testing.T) {
	c := New(Scheme{Prefix: "GOOG4", Region: "auto", Service: "storage", Terminator: "goog4_request"})
	a := c.Key("id", "secret", []byte("20261207"))
	for _, tc := range []struct {
		name       string
		id, secret string
		day        string
		same       bool
	}{
		{"the same credentials on the same day reuse the key", "id", "secret", "20261207", true},
		{"another day derives a new key", "id", "secret", "20261208", false},
		{"another secret derives a new key", "id", "secret2", "20261207", false},
		{"another access id derives a new key", "id2", "secret", "20261207", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.Reset()
			c.last.Store(a)
			if got := c.Key(tc.id, tc.secret, []byte(tc.day)); (got == a) != tc.same {
				t.Fatalf("reused %v, want %v", got == a, tc.same)
			}
		})
	}
	if hex.EncodeToString(a.Sign(nil, []byte("x"))) == hex.EncodeToString(c.Key("id", "secret", []byte("20261208")).Sign(nil, []byte("x"))) {
		t.Fatal("keys of two days sign alike")
	}
}
