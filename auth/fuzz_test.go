package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/auth/authtest"
	"github.com/presignd/presignd/store"
)

// FuzzCredential feeds arbitrary header values through credential parsing,
// API-key lookup and JWT verification (against static keys, so no network
// is involved). Nothing may panic, and nothing but the one real key and
// the one real token may authenticate.
func FuzzCredential(f *testing.F) {
	iss := authtest.New(f)
	set := iss.PublicSet(f)
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTConfig{StaticKeys: set, Issuer: iss.Issuer, Audience: iss.Audience})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { v.Close() })
	keys := &memKeys{}
	secret, k, err := auth.NewAPIKey(auth.NewKeyOptions{Tenant: "acme", Scopes: auth.AllScopes})
	if err != nil {
		f.Fatal(err)
	}
	keys.keys = map[string]*store.APIKey{string(k.Hash): k}
	a, err := auth.New(auth.Config{Keys: keys, JWT: v, KeyCacheTTL: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	token := iss.Sign(f, authtest.RSAKey, iss.Valid("acme"))
	for _, seed := range []string{
		"Bearer " + secret, "Bearer " + token, "Bearer " + token[:len(token)-3], "bearer x.y.z", "Basic abc",
		"Bearer eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJhY21lIn0.", "Bearer " + secret + " ", "",
		"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwiY3JpdCI6WyJ4Il19.e30.AAAA",
	} {
		f.Add(seed, "")
	}
	f.Add("", secret)
	f.Add("", token)
	f.Fuzz(func(t *testing.T, authorization, apiKey string) {
		var authz, xkey []string
		if authorization != "" {
			authz = []string{authorization}
		}
		if apiKey != "" {
			xkey = []string{apiKey}
		}
		c, err := auth.ParseCredential(authz, xkey)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("ParseCredential error %v is not ErrUnauthenticated", err)
			}
			return
		}
		p, err := a.Authenticate(context.Background(), c)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Authenticate error %v is not ErrUnauthenticated", err)
			}
			return
		}
		if c.Value != secret && c.Value != token {
			t.Fatalf("%q authenticated as %+v", c.Value, p)
		}
	})
}
